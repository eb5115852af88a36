// The strided N-operand loop behind every elementwise kernel. Operand 0 is the output; inputs have
// already been broadcast to its shape (stride 0 on broadcast dims), so one walk serves
// contiguous, transposed, sliced and broadcast operands alike without copies.
//
// The walk first drops size-1 dims and merges dims that are contiguous with each other in every
// operand (so a contiguous tensor becomes one long row), then hands the innermost row to `inner`
// as (pointers, length, byte strides). Large walks are split over threads by flat element index.
#pragma once
#include <array>
#include <cstdint>
#include <vector>
#include "core/tensor.h"
#include "cpu/parallel.h"

namespace flambeau::cpu {

// A vector of int64 with its first 8 elements inline: the walk's dims and the multi-index live
// here, so a walk over a tensor of up to 8 dims touches no heap (it runs on every elementwise
// call, where a few malloc/free pairs were a measurable part of a small tensor's time).
class DimVec {
 public:
  DimVec() = default;
  explicit DimVec(size_t n) { grow_to(n); }
  DimVec(const DimVec&) = delete;
  DimVec& operator=(const DimVec&) = delete;
  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  int64_t& operator[](size_t i) { return data()[i]; }
  const int64_t& operator[](size_t i) const { return data()[i]; }
  int64_t& back() { return data()[n_ - 1]; }
  const int64_t& back() const { return data()[n_ - 1]; }
  void push_back(int64_t v) {
    if (n_ == kInline && heap_.empty()) heap_.assign(inline_, inline_ + kInline);
    if (n_ >= kInline) heap_.push_back(v);
    else inline_[n_] = v;
    ++n_;
  }
  void grow_to(size_t n) {  // new elements are 0
    while (n_ < n) push_back(0);
  }

 private:
  static constexpr size_t kInline = 8;
  int64_t* data() { return n_ > kInline ? heap_.data() : inline_; }
  const int64_t* data() const { return n_ > kInline ? heap_.data() : inline_; }
  int64_t inline_[kInline] = {};
  std::vector<int64_t> heap_;
  size_t n_ = 0;
};

template <int N>
struct StridedWalk {
  DimVec sizes;                    // innermost last
  std::array<DimVec, N> strides;   // bytes
  int64_t numel = 1;

  StridedWalk(const StridedWalk&) = delete;
  StridedWalk& operator=(const StridedWalk&) = delete;

  explicit StridedWalk(const std::array<const Tensor*, N>& ts) {
    const Tensor& out = *ts[0];
    int64_t nd = out.dim();
    numel = out.numel();
    for (int64_t d = 0; d < nd; ++d) {
      if (out.sizes[d] == 1) continue;
      int64_t sz = out.sizes[d];
      std::array<int64_t, N> st;
      for (int k = 0; k < N; ++k) st[k] = ts[k]->strides[d] * (int64_t)ts[k]->element_size();
      if (!sizes.empty()) {
        bool merge = true;
        for (int k = 0; k < N; ++k)
          if (strides[k].back() != st[k] * sz) merge = false;
        if (merge) {
          sizes.back() *= sz;
          for (int k = 0; k < N; ++k) strides[k].back() = st[k];
          continue;
        }
      }
      sizes.push_back(sz);
      for (int k = 0; k < N; ++k) strides[k].push_back(st[k]);
    }
  }

  // The walk of elements [begin, end) with the dims, strides and multi-index copied into local
  // arrays of kMax entries: read through the DimVecs, every store the inner loop made (through
  // char*, and the module builds with -fno-strict-aliasing) forced them to be reloaded, ~20 cycles a
  // row, most of the time of copies with 128-byte rows (x.view(B, T, H, D).transpose(1, 2).contiguous()).
  static constexpr int64_t kMaxDims = 64;
  template <int64_t kMax, class Inner>
  void walk(const std::array<char*, N>& base, Inner& inner, const std::array<int64_t, N>& inner_st, int64_t row,
            int64_t nd, int64_t begin, int64_t end) const {
    int64_t sz[kMax], idx[kMax], st[N][kMax];
    for (int64_t d = 0; d < nd; ++d) {
      sz[d] = sizes[d];
      for (int k = 0; k < N; ++k) st[k][d] = strides[k][d];
    }
    std::array<char*, N> p = base;
    int64_t rem = begin;
    for (int64_t d = nd - 1; d >= 0; --d) {
      idx[d] = rem % sz[d];
      rem /= sz[d];
      for (int k = 0; k < N; ++k) p[k] += idx[d] * st[k][d];
    }
    int64_t left = end - begin;
    while (left > 0) {
      const int64_t n = std::min(row - idx[nd - 1], left);
      inner(p, n, inner_st);
      left -= n;
      if (left == 0) break;
      // The row is done: rewind to its start, then carry into the outer dims.
      for (int k = 0; k < N; ++k) p[k] -= idx[nd - 1] * inner_st[k];
      idx[nd - 1] = 0;
      for (int64_t d = nd - 2; d >= 0; --d) {
        idx[d]++;
        for (int k = 0; k < N; ++k) p[k] += st[k][d];
        if (idx[d] < sz[d]) break;
        for (int k = 0; k < N; ++k) p[k] -= sz[d] * st[k][d];
        idx[d] = 0;
      }
    }
  }

  // inner(std::array<char*, N>& ptrs, int64_t n, const std::array<int64_t, N>& strides)
  template <class Inner>
  void run(const std::array<char*, N>& base, Inner&& inner, int64_t grain = kGrain) const {
    if (numel == 0) return;
    int64_t nd = (int64_t)sizes.size();
    if (nd == 0) {
      std::array<char*, N> p = base;
      std::array<int64_t, N> z{};
      inner(p, 1, z);
      return;
    }
    FLB_CHECK(nd <= kMaxDims, RuntimeError, "elementwise loop: ", nd, " dims after merging (at most ", kMaxDims, ")");
    std::array<int64_t, N> inner_st;
    for (int k = 0; k < N; ++k) inner_st[k] = strides[k][nd - 1];
    int64_t row = sizes[nd - 1];
    parallel_for(numel, grain, [&](int64_t begin, int64_t end) {
      if (nd <= 8) walk<8>(base, inner, inner_st, row, nd, begin, end);  // the common ranks: a small frame
      else walk<kMaxDims>(base, inner, inner_st, row, nd, begin, end);
    });
  }
};

template <int N>
std::array<char*, N> base_ptrs(const std::array<const Tensor*, N>& ts) {
  std::array<char*, N> p;
  for (int k = 0; k < N; ++k) p[k] = static_cast<char*>(ts[k]->data_ptr());
  return p;
}

// out[i] = f(a[i]) with contiguous fast path.
template <class Tout, class Tin, class F>
void unary_loop(const Tensor& out, const Tensor& a, F f) {
  StridedWalk<2> w({&out, &a});
  w.run(base_ptrs<2>({&out, &a}), [&](std::array<char*, 2>& p, int64_t n, const std::array<int64_t, 2>& s) {
    Tout* o = reinterpret_cast<Tout*>(p[0]);
    const Tin* x = reinterpret_cast<const Tin*>(p[1]);
    if (s[0] == (int64_t)sizeof(Tout) && s[1] == (int64_t)sizeof(Tin)) {
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i]);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<Tout*>(p[0] + i * s[0]) = f(*reinterpret_cast<const Tin*>(p[1] + i * s[1]));
    }
  });
}

// out[i] = f(a[i], b[i]) with fast paths for contiguous and scalar-broadcast operands.
template <class Tout, class Tin, class F>
void binary_loop(const Tensor& out, const Tensor& a, const Tensor& b, F f) {
  StridedWalk<3> w({&out, &a, &b});
  w.run(base_ptrs<3>({&out, &a, &b}), [&](std::array<char*, 3>& p, int64_t n, const std::array<int64_t, 3>& s) {
    Tout* o = reinterpret_cast<Tout*>(p[0]);
    const Tin* x = reinterpret_cast<const Tin*>(p[1]);
    const Tin* y = reinterpret_cast<const Tin*>(p[2]);
    constexpr int64_t so = sizeof(Tout), si = sizeof(Tin);
    if (s[0] == so && s[1] == si && s[2] == si) {
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
    } else if (s[0] == so && s[1] == si && s[2] == 0) {
      const Tin yv = *y;
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], yv);
    } else if (s[0] == so && s[1] == 0 && s[2] == si) {
      const Tin xv = *x;
      for (int64_t i = 0; i < n; ++i) o[i] = f(xv, y[i]);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<Tout*>(p[0] + i * s[0]) = f(*reinterpret_cast<const Tin*>(p[1] + i * s[1]),
                                                       *reinterpret_cast<const Tin*>(p[2] + i * s[2]));
    }
  });
}

}  // namespace flambeau::cpu
