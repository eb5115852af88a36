// The pointwise part of one LSTM or GRU time step, forward and backward, fused: what follows the two
// matrix products (xp = x W_ih^T + b_ih, hp = h W_hh^T + b_hh) of nn.LSTM / nn.GRU.
//
//   LSTM  gates = xp + hp = [i | f | g | o] (H each):  c' = s(f) c + s(i) t(g),  h' = s(o) t(c')
//   GRU   r = s(xr + hr), z = s(xz + hz), n = t(xn + r hn):  h' = (1 - z) n + z h
//
// (s = sigmoid, t = tanh.) Unfused, a step was ~10 autograd ops on [N, H] slices (strided chunks of
// the gates), each with its own pass, allocation and graph node; backward as many again. Here one pass
// per step each way, rows in parallel. The sigmoids and tanhs run in the activation leaves (cpu/simd,
// the vectorised functions F.sigmoid / F.tanh use), so the products and sums below are the composite
// path's own operations in the same order (no contraction: this file is built for baseline x86-64).
//
// Saved for backward: acts = the activated gates ([s(i), s(f), t(g), s(o)] or [r, z, n]), the cell
// state c' (LSTM; t(c') is recomputed) and, for the GRU, hp (its n part). Backward returns the gates'
// gradient (LSTM: the same for xp and hp) and the previous state's.
#include <cmath>
#include <type_traits>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/parallel.h"
#include "cpu/simd/act_simd.h"

namespace flambeau::cpu {

namespace {

// out[k] = sigmoid or tanh of x[k], k < n (out may alias x): the vector leaf, or libm's scalar
// functions without AVX2.
template <class T>
struct Act1 {
  simd::ActFwdF32Fn f32 = simd::act_fwd_f32_for_cpu();
  simd::ActFwdF64Fn f64 = simd::act_fwd_f64_for_cpu();
  void run(int op, T* out, const T* x, int64_t n) const {
    static const double p[4] = {0, 0, 0, 0};
    if constexpr (std::is_same_v<T, float>) {
      if (f32 && f32(op, p, out, x, n)) return;
    } else {
      if (f64 && f64(op, p, out, x, n)) return;
    }
    for (int64_t k = 0; k < n; ++k)
      out[k] = op == simd::kTanh ? std::tanh(x[k]) : T(1) / (T(1) + std::exp(-x[k]));
  }
  void sigmoid(T* out, const T* x, int64_t n) const { run(simd::kSigmoid, out, x, n); }
  void tanh(T* out, const T* x, int64_t n) const { run(simd::kTanh, out, x, n); }
};

int64_t rows_grain(int64_t per_row) { return std::max<int64_t>(1, kGrain / 8 / std::max<int64_t>(1, per_row)); }

}  // namespace

// Rows [r0, r1) of lstm_cell, a function of plain pointers and values: in a lambda capturing H by reference
// every store to a gate reloaded H (the pointers may alias it), which kept these loops scalar (16% of an eval
// forward's time, the cell 20 us a step for [32, 512] gates; SSE2 vectors now, the same operations per element).
template <class T>
void lstm_cell_rows(const Act1<T>& act, T* A, T* Ho, T* Co, const T* X, const T* Hp, const T* Cp, int64_t H, int64_t r0,
                    int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    T* __restrict a = A + r * 4 * H;
    const T* __restrict x = X + r * 4 * H;
    const T* __restrict hh = Hp + r * 4 * H;
    for (int64_t k = 0; k < 4 * H; ++k) a[k] = x[k] + hh[k];
    act.sigmoid(a, a, 2 * H);             // i, f
    act.tanh(a + 2 * H, a + 2 * H, H);    // g
    act.sigmoid(a + 3 * H, a + 3 * H, H);  // o
    const T* __restrict cp = Cp + r * H;
    T* __restrict co = Co + r * H;
    T* __restrict ho = Ho + r * H;
    for (int64_t k = 0; k < H; ++k) co[k] = a[H + k] * cp[k] + a[k] * a[2 * H + k];
    act.tanh(ho, co, H);
    for (int64_t k = 0; k < H; ++k) ho[k] = a[3 * H + k] * ho[k];
  }
}

void lstm_cell(const Tensor& h, const Tensor& c, const Tensor& acts, const Tensor& xp, const Tensor& hp,
               const Tensor& c_prev) {
  const int64_t N = c_prev.sizes[0], H = c_prev.sizes[1];
  FLB_DISPATCH_FLOATING(xp.dtype, "lstm_cell", [&] {
    using T = scalar_t;
    const Act1<T> act;
    const T* X = xp.data<T>();
    const T* Hp = hp.data<T>();
    const T* Cp = c_prev.data<T>();
    T* A = acts.data<T>();
    T* Ho = h.data<T>();
    T* Co = c.data<T>();
    parallel_for(N, rows_grain(4 * H), [&](int64_t r0, int64_t r1) {
      lstm_cell_rows<T>(act, A, Ho, Co, X, Hp, Cp, H, r0, r1);
    });
  });
}

// Rows [r0, r1) of lstm_cell_backward (plain arguments, as lstm_cell_rows); tc: H values of scratch.
template <class T>
void lstm_cell_backward_rows(const Act1<T>& act, T* DG, T* DCP, const T* DH, const T* DC, const T* A, const T* Cp,
                             const T* C, T* tc, int64_t H, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    const T* __restrict a = A + r * 4 * H;
    const T* __restrict cp = Cp + r * H;
    act.tanh(tc, C + r * H, H);
    T* __restrict dg = DG + r * 4 * H;
    T* __restrict dcp = DCP + r * H;
    const T* __restrict dh = DH ? DH + r * H : nullptr;
    const T* __restrict dc = DC ? DC + r * H : nullptr;
    for (int64_t k = 0; k < H; ++k) {
      const T i = a[k], f = a[H + k], g = a[2 * H + k], o = a[3 * H + k], t = tc[k];
      const T dhk = dh ? dh[k] : T(0);
      const T dct = (dc ? dc[k] : T(0)) + dhk * o * (T(1) - t * t);
      dg[k] = dct * g * (i * (T(1) - i));
      dg[H + k] = dct * cp[k] * (f * (T(1) - f));
      dg[2 * H + k] = dct * i * (T(1) - g * g);
      dg[3 * H + k] = dhk * t * (o * (T(1) - o));
      dcp[k] = dct * f;
    }
  }
}

void lstm_cell_backward(const Tensor& dgates, const Tensor& dc_prev, const Tensor* dh, const Tensor* dc,
                        const Tensor& acts, const Tensor& c_prev, const Tensor& c) {
  const int64_t N = c_prev.sizes[0], H = c_prev.sizes[1];
  FLB_DISPATCH_FLOATING(c.dtype, "lstm_cell_backward", [&] {
    using T = scalar_t;
    const Act1<T> act;
    const T* A = acts.data<T>();
    const T* Cp = c_prev.data<T>();
    const T* C = c.data<T>();
    const T* DH = dh ? dh->data<T>() : nullptr;
    const T* DC = dc ? dc->data<T>() : nullptr;
    T* DG = dgates.data<T>();
    T* DCP = dc_prev.data<T>();
    parallel_for(N, rows_grain(8 * H), [&](int64_t r0, int64_t r1) {
      std::vector<T> tc((size_t)H);
      lstm_cell_backward_rows<T>(act, DG, DCP, DH, DC, A, Cp, C, tc.data(), H, r0, r1);
    });
  });
}

void gru_cell(const Tensor& h, const Tensor& acts, const Tensor& xp, const Tensor& hp, const Tensor& h_prev) {
  const int64_t N = h_prev.sizes[0], H = h_prev.sizes[1];
  FLB_DISPATCH_FLOATING(xp.dtype, "gru_cell", [&] {
    using T = scalar_t;
    const Act1<T> act;
    const T* X = xp.data<T>();
    const T* Hp = hp.data<T>();
    const T* Hprev = h_prev.data<T>();
    T* A = acts.data<T>();
    T* Ho = h.data<T>();
    parallel_for(N, rows_grain(3 * H), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        T* a = A + r * 3 * H;
        const T* x = X + r * 3 * H;
        const T* hh = Hp + r * 3 * H;
        for (int64_t k = 0; k < 2 * H; ++k) a[k] = x[k] + hh[k];
        act.sigmoid(a, a, 2 * H);  // r, z
        for (int64_t k = 0; k < H; ++k) a[2 * H + k] = x[2 * H + k] + a[k] * hh[2 * H + k];
        act.tanh(a + 2 * H, a + 2 * H, H);  // n
        const T* hp_ = Hprev + r * H;
        T* ho = Ho + r * H;
        for (int64_t k = 0; k < H; ++k) ho[k] = (T(1) - a[H + k]) * a[2 * H + k] + a[H + k] * hp_[k];
      }
    });
  });
}

void gru_cell_backward(const Tensor& dxp, const Tensor& dhp, const Tensor& dh_prev, const Tensor& dh,
                       const Tensor& acts, const Tensor& hp, const Tensor& h_prev) {
  const int64_t N = h_prev.sizes[0], H = h_prev.sizes[1];
  FLB_DISPATCH_FLOATING(dh.dtype, "gru_cell_backward", [&] {
    using T = scalar_t;
    const T* A = acts.data<T>();
    const T* Hp = hp.data<T>();
    const T* Hprev = h_prev.data<T>();
    const T* DH = dh.data<T>();
    T* DX = dxp.data<T>();
    T* DHP = dhp.data<T>();
    T* DHprev = dh_prev.data<T>();
    parallel_for(N, rows_grain(6 * H), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* a = A + r * 3 * H;
        const T* hn = Hp + r * 3 * H + 2 * H;
        const T* hpv = Hprev + r * H;
        const T* d = DH + r * H;
        T* dx = DX + r * 3 * H;
        T* dhh = DHP + r * 3 * H;
        T* dhv = DHprev + r * H;
        for (int64_t k = 0; k < H; ++k) {
          const T rr = a[k], z = a[H + k], n = a[2 * H + k];
          const T dnp = d[k] * (T(1) - z) * (T(1) - n * n);
          const T drp = dnp * hn[k] * (rr * (T(1) - rr));
          const T dzp = d[k] * (hpv[k] - n) * (z * (T(1) - z));
          dx[k] = drp, dx[H + k] = dzp, dx[2 * H + k] = dnp;
          dhh[k] = drp, dhh[H + k] = dzp, dhh[2 * H + k] = dnp * rr;
          dhv[k] = d[k] * z;
        }
      }
    });
  });
}

}  // namespace flambeau::cpu
