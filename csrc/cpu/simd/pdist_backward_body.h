// F.pdist's backward for p = 1, 2, inf, written over the vector traits `VT` of
// csrc/cpu/simd/pdist_avx2.cpp (included there after them, inside its anonymous namespace).
//
// PyTorch's arithmetic (ATen's Dist<T>::run_backward_parallel_pdist, AVX2 build, which its AVX-512 CPUs
// run too), so its bits (tests/test_pdist_simd.py):
//   - everything in the input's type T, vectorised over the columns m;
//   - for a column block, the pairs (i, j), i < j, in the condensed order; the pair's term t (a W-lane
//     vector) is added to row i's accumulator and subtracted from row j's stored gradient, so that
//     gx[i] = (0 - t(0, i) - t(1, i) - ... - t(i - 1, i)) + t(i, i + 1) + ... + t(i, N - 1), in that order;
//   - t(i, j) = g * sign(d) (p = 1), (g * d) / D (p = 2; 0 where D = 0), g * sign(d) where |d| = D
//     (p = inf), d = x[i] - x[j], g and D the pair's gradient and distance; sign(NaN) = 0.
// The portable path (cpu/distance.cpp) sums the same terms in float64, pair by pair per row: on
// [128, 256] float32 p = 2 that took 1.3 ms against PyTorch's 0.6 (one thread).
// Here a block is 4 registers wide (a row's accumulator stays in registers, the pair's g and D are
// read once for 4 W columns); rows of a block stay in L1 ([N, 4 W] values).
//
// No include guard: every includer needs its own copy.

template <class T, int NormK>
struct PdistBackward {
  using V = VT<T>;
  using R = typename V::R;
  static constexpr int W = V::W;

  static inline R sign(R d) {  // 1, -1 or 0 (also for NaN), exactly
    const R one = V::set1(T(1)), zero = V::set1(T(0));
    return V::sub(V::band(V::gt(d, zero), one), V::band(V::gt(zero, d), one));
  }
  static inline R term(R d, R g, T D, R Dv) {
    if constexpr (NormK == pdist_simd::kOne) return V::mul(g, sign(d));
    else if constexpr (NormK == pdist_simd::kTwo) return D == T(0) ? V::set1(T(0)) : V::div(V::mul(g, d), Dv);
    else return V::band(V::eq(V::abs(d), Dv), V::mul(g, sign(d)));
  }

  // Columns [c, c + U W) (full registers), or with U = 1 and n < W the first n lanes of one register.
  template <int U>
  static void block(T* gx, const T* x, const T* g, const T* D, int64_t N, int64_t M, int64_t c, int n) {
    auto ld = [n](const T* p) { return U == 1 && n < W ? V::loadn(p, n) : V::load(p); };
    auto st = [n](T* p, R v) { U == 1 && n < W ? V::storen(p, v, n) : V::store(p, v); };
    int64_t k = 0;
    for (int64_t i = 0; i < N; ++i) {
      R xi[U], ri[U];
      for (int u = 0; u < U; ++u) {
        xi[u] = ld(x + i * M + c + u * W);
        ri[u] = ld(gx + i * M + c + u * W);
      }
      for (int64_t j = i + 1; j < N; ++j, ++k) {
        const R gv = V::set1(g[k]), Dv = V::set1(D[k]);
        const T* xj = x + j * M + c;
        T* rj = gx + j * M + c;
        for (int u = 0; u < U; ++u) {
          const R t = term(V::sub(xi[u], ld(xj + u * W)), gv, D[k], Dv);
          ri[u] = V::add(ri[u], t);
          st(rj + u * W, V::sub(ld(rj + u * W), t));
        }
      }
      for (int u = 0; u < U; ++u) st(gx + i * M + c + u * W, ri[u]);
    }
  }

  // Columns [c0, c1) of gx (zeroed there by the caller).
  static void run(T* gx, const T* x, const T* g, const T* D, int64_t N, int64_t M, int64_t c0, int64_t c1) {
    int64_t c = c0;
    for (; c + 4 * W <= c1; c += 4 * W) block<4>(gx, x, g, D, N, M, c, W);
    for (; c + W <= c1; c += W) block<1>(gx, x, g, D, N, M, c, W);
    if (c < c1) block<1>(gx, x, g, D, N, M, c, (int)(c1 - c));
  }
};

template <class T>
void pdist_backward_cols(T* gx, const T* x, const T* g, const T* D, int64_t N, int64_t M, int norm, int64_t c0,
                         int64_t c1) {
  switch (norm) {
    case pdist_simd::kOne: return PdistBackward<T, pdist_simd::kOne>::run(gx, x, g, D, N, M, c0, c1);
    case pdist_simd::kTwo: return PdistBackward<T, pdist_simd::kTwo>::run(gx, x, g, D, N, M, c0, c1);
    default: return PdistBackward<T, pdist_simd::kInf>::run(gx, x, g, D, N, M, c0, c1);
  }
}
