// The grid_sample kernels' per-point loops (csrc/cpu/grid_sample.cpp explains what they compute and
// why), written once and compiled once per instruction set: inside csrc/cpu/grid_sample.cpp
// (portable: fma is a libm call there) and by csrc/cpu/simd/grid_sample_avx2.cpp (AVX2 + FMA:
// the fused multiply-adds inline, nearbyint one instruction).
//
// Same bits on every instruction set: every fused multiply-add is written out (fmadd), the AVX2
// leaf turns off GCC's a*b+c contraction (#pragma GCC optimize "fp-contract=off"), and the order of
// the input gradient's sums does not depend on the build.
//
// Included only inside an anonymous namespace, after <cstdint> and cpu/simd/grid_sample_simd.h (no
// include guard: every includer needs its own copy); it uses no std:: functions or templates (the
// builtins instead), so nothing here can be merged across instruction sets by the linker.

inline float fmadd(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
inline double fmadd(double a, double b, double c) { return __builtin_fma(a, b, c); }
inline float floor_(float v) { return __builtin_floorf(v); }
inline double floor_(double v) { return __builtin_floor(v); }
inline float trunc_(float v) { return __builtin_truncf(v); }
inline double trunc_(double v) { return __builtin_trunc(v); }
inline float fabs_(float v) { return __builtin_fabsf(v); }
inline double fabs_(double v) { return __builtin_fabs(v); }
inline float nearbyint_(float v) { return __builtin_nearbyintf(v); }
inline double nearbyint_(double v) { return __builtin_nearbyint(v); }
inline int64_t min_i64(int64_t a, int64_t b) { return a < b ? a : b; }

// (value, gradient factor)
template <class T>
struct VG {
  T v, g;
};

// NaN-propagating minimum (ATen's Vectorized `minimum`).
template <class T>
inline T min_nan(T a, T b) {
  if (a != a || b != b) return T(__builtin_nan(""));
  return a < b ? a : b;
}

// An integer-valued coordinate as an index; anything far outside (or NaN) becomes -8, which every
// bounds check rejects even after the +2 of the bicubic taps (PyTorch's int conversion gives
// INT_MIN there, with the same effect).
template <class T>
inline int64_t to_index(T v) {
  return (v > T(-8) && v < T(1e15)) ? (int64_t)v : int64_t(-8);
}

inline bool in_range(int64_t i, int64_t n) { return i >= 0 && i < n; }

// The coordinate map along one axis of `size` pixels: GridSamplerKernel.cpp's ComputeLocation.
template <class T, GridPadding P, bool AC>
struct Loc {
  T max_val, sf, low, twice_span;
  bool empty;  // reflection span of zero length: everything reflects to 0

  explicit Loc(int64_t size)
      : max_val(T(size - 1)),
        sf(AC ? T(size - 1) / 2 : T(size) / 2),
        low(AC ? T(0) : T(-0.5)),
        twice_span(AC ? T(size - 1) * 2 : T(size) * 2),
        empty(AC ? size <= 1 : size <= 0) {}

  T unnormalize(T in) const { return AC ? (in + T(1)) * sf : fmadd(in + T(1), sf, T(-0.5)); }

  // [0, max_val]; NaN goes to 0.
  T clip(T in) const {
    T r = in > T(0) ? in : T(0);
    return r < max_val ? r : max_val;
  }
  // Clipped value and gradient factor (1 strictly inside, 0 on or past either edge).
  VG<T> clip_get_grad(T in) const {
    if (in != in) return {in, T(1)};
    if (!(in > T(0))) return {T(0), T(0)};
    if (!(in < max_val)) return {max_val, T(0)};
    return {in, T(1)};
  }

  T reflect(T in) const {
    if (AC && empty) return T(0);
    const T abs_in = AC ? fabs_(in) : fabs_(in - low);
    const T flips = trunc_(abs_in / twice_span);
    const T extra = fmadd(-flips, twice_span, abs_in);
    const T r = min_nan(extra, twice_span - extra);
    return AC ? r : r + low;
  }
  VG<T> reflect_get_grad(T in) const {
    if (AC && empty) return {T(0), T(0)};
    const T in_minus_low = AC ? in : in - low;
    const bool neg = in_minus_low < T(0);
    const T abs_in = fabs_(in_minus_low);
    const T flips = trunc_(abs_in / twice_span);
    const T extra = fmadd(-flips, twice_span, abs_in);
    const T reflected = twice_span - extra;
    const bool more = extra > reflected;
    const T r = more ? reflected : extra;
    return {AC ? r : r + low, (more != neg) ? T(-1) : T(1)};
  }

  // Padding applied to an already unnormalized coordinate (bicubic taps).
  T compute_coordinates(T in) const {
    if constexpr (P == GridPadding::Border) return clip(in);
    if constexpr (P == GridPadding::Reflection) return clip(reflect(in));
    return in;
  }
  T apply(T in) const { return compute_coordinates(unnormalize(in)); }
  // (coordinate, d coordinate / d grid value)
  VG<T> apply_get_grad(T in) const {
    const T u = unnormalize(in);
    if constexpr (P == GridPadding::Zeros) {
      return {u, sf};
    } else if constexpr (P == GridPadding::Border) {
      auto [r, gc] = clip_get_grad(u);
      return {r, gc != T(0) ? sf : T(0)};
    } else {
      auto [r, gr] = reflect_get_grad(u);
      const T grad = gr * sf;
      auto [r2, gc] = clip_get_grad(r);
      return {r2, gc != T(0) ? grad : T(0)};
    }
  }
};

// PyTorch's kernel takes the points of a sample L at a time (its AVX2 vector: 8 floats or 4
// doubles) and adds into the input gradient per channel, per neighbour, per point of the group. The
// backward kernels keep that order, so the input gradient's sums are its bits too; the forward
// kernels take the same groups so that each channel's outputs are written L at a time.
template <class T>
constexpr int64_t kLanes = 32 / (int64_t)sizeof(T);

// ---- bilinear

template <class T>
struct Bilinear {
  T n, s, w, e;          // distances to the 4 sides
  T nw, ne, sw, se;      // weights of the 4 neighbours
  bool mnw, mne, msw, mse;
  int64_t onw;           // offset of the north-west neighbour in the plane (valid when its mask is)
  int64_t iy, ix;

  void init(T x, T y, int64_t H, int64_t W) {
    const T xw = floor_(x), yn = floor_(y);
    w = x - xw;
    e = T(1) - w;
    n = y - yn;
    s = T(1) - n;
    nw = s * e;
    ne = s * w;
    sw = n * e;
    se = n * w;
    ix = to_index(xw);
    iy = to_index(yn);
    const bool mw = in_range(ix, W), me = in_range(ix + 1, W), mn = in_range(iy, H), ms = in_range(iy + 1, H);
    mnw = mw && mn;
    mne = me && mn;
    msw = mw && ms;
    mse = me && ms;
    onw = (mn || ms) && (mw || me) ? iy * W + ix : 0;  // iy in [-1, H), ix in [-1, W): no overflow
  }
};

template <class T, GridPadding P, bool AC>
void bilinear_forward_rows(T* out, const T* in, const T* grid, const GridSampleGeometry& g, int64_t r0, int64_t r1) {
  constexpr int64_t L = kLanes<T>;
  const Loc<T, P, AC> lw(g.W), lh(g.H);
  const int64_t HW = g.H * g.W, OHW = g.OH * g.OW, W = g.W;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / g.OH, oh = r % g.OH;
    const T* gp = grid + r * g.OW * 2;
    const T* inp = in + n * g.C * HW;
    T* op = out + n * g.C * OHW + oh * g.OW;
    for (int64_t ow0 = 0; ow0 < g.OW; ow0 += L) {
      const int64_t len = min_i64(L, g.OW - ow0);
      Bilinear<T> b[L];
      for (int64_t l = 0; l < len; ++l)
        b[l].init(lw.apply(gp[2 * (ow0 + l)]), lh.apply(gp[2 * (ow0 + l) + 1]), g.H, g.W);
      const T* p = inp;
      for (int64_t c = 0; c < g.C; ++c, p += HW) {
        T* o = op + c * OHW + ow0;
        for (int64_t l = 0; l < len; ++l) {
          const Bilinear<T>& q = b[l];
          const T vnw = q.mnw ? p[q.onw] : T(0);
          const T vne = q.mne ? p[q.onw + 1] : T(0);
          const T vsw = q.msw ? p[q.onw + W] : T(0);
          const T vse = q.mse ? p[q.onw + W + 1] : T(0);
          o[l] = fmadd(vse, q.se, fmadd(vsw, q.sw, fmadd(vne, q.ne, vnw * q.nw)));
        }
      }
    }
  }
}

// Points [p0, p1) of sample n (p = oh * OW + ow); gin (input gradient of sample n) may be null.
template <class T, GridPadding P, bool AC>
void bilinear_backward_points(T* gin, T* ggrid, const T* gout, const T* in, const T* grid,
                              const GridSampleGeometry& g, int64_t n, int64_t p0, int64_t p1) {
  constexpr int64_t L = kLanes<T>;
  const Loc<T, P, AC> lw(g.W), lh(g.H);
  const int64_t HW = g.H * g.W, OHW = g.OH * g.OW, W = g.W;
  const T* inp = in + n * g.C * HW;
  const T* go_n = gout + n * g.C * OHW;
  const T* gp = grid + n * OHW * 2;
  T* gg = ggrid ? ggrid + n * OHW * 2 : nullptr;
  for (int64_t q0 = p0; q0 < p1; q0 += L) {
    const int64_t len = min_i64(L, p1 - q0);
    Bilinear<T> b[L];
    T gxm[L], gym[L], gx[L], gy[L];
    for (int64_t l = 0; l < len; ++l) {
      auto [x, mx] = lw.apply_get_grad(gp[2 * (q0 + l)]);
      auto [y, my] = lh.apply_get_grad(gp[2 * (q0 + l) + 1]);
      b[l].init(x, y, g.H, g.W);
      gxm[l] = mx;
      gym[l] = my;
      gx[l] = gy[l] = T(0);
    }
    const T* p = inp;
    for (int64_t c = 0; c < g.C; ++c, p += HW) {
      const T* go = go_n + c * OHW + q0;
      if (gin) {
        T* gi = gin + c * HW;
        for (int64_t l = 0; l < len; ++l)
          if (b[l].mnw) gi[b[l].onw] += go[l] * b[l].nw;
        for (int64_t l = 0; l < len; ++l)
          if (b[l].mne) gi[b[l].onw + 1] += go[l] * b[l].ne;
        for (int64_t l = 0; l < len; ++l)
          if (b[l].msw) gi[b[l].onw + W] += go[l] * b[l].sw;
        for (int64_t l = 0; l < len; ++l)
          if (b[l].mse) gi[b[l].onw + W + 1] += go[l] * b[l].se;
      }
      if (gg) {
        for (int64_t l = 0; l < len; ++l) {
          const Bilinear<T>& q = b[l];
          const T vnw = q.mnw ? p[q.onw] : T(0);
          const T vne = q.mne ? p[q.onw + 1] : T(0);
          const T vsw = q.msw ? p[q.onw + W] : T(0);
          const T vse = q.mse ? p[q.onw + W + 1] : T(0);
          gx[l] = fmadd(fmadd(vse - vsw, q.n, (vne - vnw) * q.s), go[l], gx[l]);
          gy[l] = fmadd(fmadd(vse - vne, q.w, (vsw - vnw) * q.e), go[l], gy[l]);
        }
      }
    }
    if (gg) {
      for (int64_t l = 0; l < len; ++l) {
        gg[2 * (q0 + l)] = gx[l] * gxm[l];
        gg[2 * (q0 + l) + 1] = gy[l] * gym[l];
      }
    }
  }
}

// ---- nearest

template <class T, GridPadding P, bool AC>
inline int64_t nearest_offset(const Loc<T, P, AC>& lw, const Loc<T, P, AC>& lh, const T* gp, int64_t H, int64_t W) {
  const int64_t ix = to_index(nearbyint_(lw.apply(gp[0])));
  const int64_t iy = to_index(nearbyint_(lh.apply(gp[1])));
  return (in_range(ix, W) && in_range(iy, H)) ? iy * W + ix : -1;
}

template <class T, GridPadding P, bool AC>
void nearest_forward_rows(T* out, const T* in, const T* grid, const GridSampleGeometry& g, int64_t r0, int64_t r1) {
  constexpr int64_t L = kLanes<T>;
  const Loc<T, P, AC> lw(g.W), lh(g.H);
  const int64_t HW = g.H * g.W, OHW = g.OH * g.OW;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / g.OH, oh = r % g.OH;
    const T* gp = grid + r * g.OW * 2;
    const T* inp = in + n * g.C * HW;
    T* op = out + n * g.C * OHW + oh * g.OW;
    for (int64_t ow0 = 0; ow0 < g.OW; ow0 += L) {
      const int64_t len = min_i64(L, g.OW - ow0);
      int64_t off[L];
      for (int64_t l = 0; l < len; ++l) off[l] = nearest_offset(lw, lh, gp + 2 * (ow0 + l), g.H, g.W);
      const T* p = inp;
      for (int64_t c = 0; c < g.C; ++c, p += HW) {
        T* o = op + c * OHW + ow0;
        for (int64_t l = 0; l < len; ++l) o[l] = off[l] >= 0 ? p[off[l]] : T(0);
      }
    }
  }
}

template <class T, GridPadding P, bool AC>
void nearest_backward_points(T* gin, T* ggrid, const T* gout, const T* grid, const GridSampleGeometry& g,
                             int64_t n, int64_t p0, int64_t p1) {
  const Loc<T, P, AC> lw(g.W), lh(g.H);
  const int64_t HW = g.H * g.W, OHW = g.OH * g.OW;
  if (ggrid)
    for (int64_t i = (n * OHW + p0) * 2; i < (n * OHW + p1) * 2; ++i) ggrid[i] = T(0);
  if (!gin) return;
  const T* go_n = gout + n * g.C * OHW;
  const T* gp = grid + n * OHW * 2;
  constexpr int64_t L = kLanes<T>;
  for (int64_t q0 = p0; q0 < p1; q0 += L) {
    const int64_t len = min_i64(L, p1 - q0);
    int64_t o[L];
    for (int64_t l = 0; l < len; ++l) o[l] = nearest_offset(lw, lh, gp + 2 * (q0 + l), g.H, g.W);
    for (int64_t c = 0; c < g.C; ++c) {
      const T* go = go_n + c * OHW + q0;
      T* gi = gin + c * HW;
      for (int64_t l = 0; l < len; ++l)
        if (o[l] >= 0) gi[o[l]] += go[l];
    }
  }
}

// ---- bicubic

// Cubic convolution weights of the taps at distance 1 + t, t, 1 - t, 2 - t (A = -0.75), and their
// derivatives, exactly as GridSamplerKernel.cpp writes them. Where its compiler contracts a product
// into an FMA depends on the instantiation: in the forward and in the backward that also wants the
// input gradient it leaves the outer taps' polynomials (and all of the derivatives) as separate
// multiplies and adds (`Fused` false); in the backward for the grid alone it folds the constants and
// fuses every product-then-add (`Fused` true; except float64 with reflection padding). Both are
// kept, so every result is PyTorch's bits. (Found by comparing bits with torch 2.13's CPU build.)
template <class T, bool Fused>
inline void cubic_coefficients(T c[4], T t) {
  const T A = T(-0.75);
  auto outer = [&](T x) {
    if constexpr (Fused) return fmadd(fmadd(fmadd(A, x, -(T(5) * A)), x, T(8) * A), x, -(T(4) * A));
    else return ((A * x - T(5) * A) * x + T(8) * A) * x - T(4) * A;
  };
  c[0] = outer(t + T(1));
  T x = t;
  c[1] = fmadd(fmadd(A + T(2), x, -(A + T(3))) * x, x, T(1));
  x = T(1) - t;
  c[2] = fmadd(fmadd(A + T(2), x, -(A + T(3))) * x, x, T(1));
  c[3] = outer(T(2) - t);
}

template <class T, bool Fused>
inline void cubic_coefficients_grad(T c[4], T t) {
  const T A = T(-0.75);
  T x = T(-1) - t;
  if constexpr (Fused) {
    c[0] = fmadd(fmadd(T(-3) * A, x, -(T(10) * A)), x, -(T(8) * A));
    x = T(0) - t;
    c[1] = fmadd(T(-3) * (A + T(2)), x, -(T(2) * (A + T(3)))) * x;
    x = T(1) - t;
    c[2] = fmadd(T(3) * (A + T(2)), x, -(T(2) * (A + T(3)))) * x;
    x = T(2) - t;
    c[3] = fmadd(fmadd(T(3) * A, x, -(T(10) * A)), x, T(8) * A);
  } else {
    c[0] = (T(-3) * A * x - T(10) * A) * x - T(8) * A;
    x = T(0) - t;
    c[1] = (T(-3) * (A + T(2)) * x - T(2) * (A + T(3))) * x;
    x = T(1) - t;
    c[2] = (T(3) * (A + T(2)) * x - T(2) * (A + T(3))) * x;
    x = T(2) - t;
    c[3] = (T(3) * A * x - T(10) * A) * x + T(8) * A;
  }
}

// The 4 x 4 taps of one point: padded coordinates as indices, -1 where out of bounds.
template <class T>
struct Bicubic {
  T tx, ty;
  T cx[4], cy[4];
  int64_t xo[4], yo[4];  // column index, row offset (row * W), or -1

  template <bool Fused, class L>
  void init(const L& lw, const L& lh, T x, T y, int64_t H, int64_t W) {
    const T fx = floor_(x), fy = floor_(y);
    tx = x - fx;
    ty = y - fy;
    cubic_coefficients<T, Fused>(cx, tx);
    cubic_coefficients<T, Fused>(cy, ty);
    for (int i = 0; i < 4; ++i) {
      const int64_t ix = to_index(lw.compute_coordinates(fx + T(i - 1)));
      const int64_t iy = to_index(lh.compute_coordinates(fy + T(i - 1)));
      xo[i] = in_range(ix, W) ? ix : -1;
      yo[i] = in_range(iy, H) ? iy * W : -1;
    }
  }
  T at(const T* p, int i, int j) const {  // column tap i, row tap j
    return (xo[i] >= 0 && yo[j] >= 0) ? p[yo[j] + xo[i]] : T(0);
  }
};

template <class T, GridPadding P, bool AC>
void bicubic_forward_rows(T* out, const T* in, const T* grid, const GridSampleGeometry& g, int64_t r0, int64_t r1) {
  constexpr int64_t L = kLanes<T>;
  const Loc<T, P, AC> lw(g.W), lh(g.H);
  const int64_t HW = g.H * g.W, OHW = g.OH * g.OW;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / g.OH, oh = r % g.OH;
    const T* gp = grid + r * g.OW * 2;
    const T* inp = in + n * g.C * HW;
    T* op = out + n * g.C * OHW + oh * g.OW;
    for (int64_t ow0 = 0; ow0 < g.OW; ow0 += L) {
      const int64_t len = min_i64(L, g.OW - ow0);
      Bicubic<T> b[L];
      for (int64_t l = 0; l < len; ++l) {
        const T* gq = gp + 2 * (ow0 + l);
        b[l].template init<false>(lw, lh, lw.unnormalize(gq[0]), lh.unnormalize(gq[1]), g.H, g.W);
      }
      const T* p = inp;
      for (int64_t c = 0; c < g.C; ++c, p += HW) {
        T* o = op + c * OHW + ow0;
        for (int64_t l = 0; l < len; ++l) {
          const Bicubic<T>& q = b[l];
          T rows[4];
          // PyTorch's contraction: along x the first two taps fuse and the last two add; along y a chain.
          for (int j = 0; j < 4; ++j)
            rows[j] = (fmadd(q.cx[0], q.at(p, 0, j), q.cx[1] * q.at(p, 1, j)) + q.cx[2] * q.at(p, 2, j)) +
                      q.cx[3] * q.at(p, 3, j);
          o[l] = fmadd(q.cy[3], rows[3], fmadd(q.cy[2], rows[2], fmadd(q.cy[1], rows[1], q.cy[0] * rows[0])));
        }
      }
    }
  }
}

// Fused: PyTorch's arithmetic for the grid-only backward (see cubic_coefficients).
template <class T, GridPadding P, bool AC, bool Fused>
void bicubic_backward_points(T* gin, T* ggrid, const T* gout, const T* in, const T* grid,
                             const GridSampleGeometry& g, int64_t n, int64_t p0, int64_t p1) {
  constexpr int64_t L = kLanes<T>;
  const Loc<T, P, AC> lw(g.W), lh(g.H);
  const int64_t HW = g.H * g.W, OHW = g.OH * g.OW;
  const T* inp = in + n * g.C * HW;
  const T* go_n = gout + n * g.C * OHW;
  const T* gp = grid + n * OHW * 2;
  T* gg = ggrid ? ggrid + n * OHW * 2 : nullptr;
  for (int64_t q0 = p0; q0 < p1; q0 += L) {
    const int64_t len = min_i64(L, p1 - q0);
    Bicubic<T> b[L];
    T gcx[L][4], gcy[L][4], gx[L], gy[L];
    for (int64_t l = 0; l < len; ++l) {
      const int64_t q = q0 + l;
      b[l].template init<Fused>(lw, lh, lw.unnormalize(gp[2 * q]), lh.unnormalize(gp[2 * q + 1]), g.H, g.W);
      cubic_coefficients_grad<T, Fused>(gcx[l], b[l].tx);
      cubic_coefficients_grad<T, Fused>(gcy[l], b[l].ty);
      gx[l] = gy[l] = T(0);
    }
    const T* p = inp;
    for (int64_t c = 0; c < g.C; ++c, p += HW) {
      const T* go = go_n + c * OHW + q0;
      T* gi = gin ? gin + c * HW : nullptr;
      for (int i = 0; i < 4; ++i) {
        for (int j = 0; j < 4; ++j) {
          for (int64_t l = 0; l < len; ++l) {
            const Bicubic<T>& q = b[l];
            const bool ok = q.xo[i] >= 0 && q.yo[j] >= 0;
            const int64_t o = q.yo[j] + q.xo[i];
            if (gi && ok) gi[o] += go[l] * q.cx[i] * q.cy[j];
            if (gg) {
              const T v = ok ? p[o] : T(0);
              gx[l] = fmadd(-(v * go[l] * gcx[l][i]), q.cy[j], gx[l]);
              gy[l] = fmadd(-(v * go[l] * gcy[l][j]), q.cx[i], gy[l]);
            }
          }
        }
      }
    }
    if (gg) {
      for (int64_t l = 0; l < len; ++l) {
        gg[2 * (q0 + l)] = gx[l] * lw.sf;
        gg[2 * (q0 + l) + 1] = gy[l] * lh.sf;
      }
    }
  }
}

// ---- the entry points of one build: mode, padding and align_corners picked at run time

template <class T, GridPadding P, bool AC>
void forward_rows_t(T* out, const T* in, const T* grid, const GridSampleGeometry& g, int64_t r0, int64_t r1) {
  switch (g.mode) {
    case GridInterp::Bilinear: bilinear_forward_rows<T, P, AC>(out, in, grid, g, r0, r1); break;
    case GridInterp::Nearest: nearest_forward_rows<T, P, AC>(out, in, grid, g, r0, r1); break;
    case GridInterp::Bicubic: bicubic_forward_rows<T, P, AC>(out, in, grid, g, r0, r1); break;
  }
}

template <class T, GridPadding P, bool AC>
void backward_points_t(T* gin, T* ggrid, const T* gout, const T* in, const T* grid, const GridSampleGeometry& g,
                       int64_t n, int64_t p0, int64_t p1) {
  switch (g.mode) {
    case GridInterp::Bilinear: bilinear_backward_points<T, P, AC>(gin, ggrid, gout, in, grid, g, n, p0, p1); break;
    case GridInterp::Nearest: nearest_backward_points<T, P, AC>(gin, ggrid, gout, grid, g, n, p0, p1); break;
    case GridInterp::Bicubic:
      // PyTorch's grid-only float64 reflection instantiation keeps the unfused form (measured).
      if (gin || (sizeof(T) == 8 && P == GridPadding::Reflection))
        bicubic_backward_points<T, P, AC, false>(gin, ggrid, gout, in, grid, g, n, p0, p1);
      else
        bicubic_backward_points<T, P, AC, true>(nullptr, ggrid, gout, in, grid, g, n, p0, p1);
      break;
  }
}

#define FLB_GS_CASES(CALL)                                                          \
  switch (g.padding) {                                                              \
    case GridPadding::Zeros:                                                        \
      if (g.align_corners) CALL(GridPadding::Zeros, true); else CALL(GridPadding::Zeros, false); \
      break;                                                                        \
    case GridPadding::Border:                                                       \
      if (g.align_corners) CALL(GridPadding::Border, true); else CALL(GridPadding::Border, false); \
      break;                                                                        \
    case GridPadding::Reflection:                                                   \
      if (g.align_corners) CALL(GridPadding::Reflection, true); else CALL(GridPadding::Reflection, false); \
      break;                                                                        \
  }

// Output rows [r0, r1) of the flattened (n, oh).
template <class T>
void forward_rows(T* out, const T* in, const T* grid, const GridSampleGeometry& g, int64_t r0, int64_t r1) {
#define FLB_GS_FWD(P, AC) forward_rows_t<T, P, AC>(out, in, grid, g, r0, r1)
  FLB_GS_CASES(FLB_GS_FWD)
#undef FLB_GS_FWD
}

// Points [p0, p1) of sample n: adds into gin (sample n's input gradient; may be null) and writes
// the grid gradient (may be null) of those points.
template <class T>
void backward_points(T* gin, T* ggrid, const T* gout, const T* in, const T* grid, const GridSampleGeometry& g,
                     int64_t n, int64_t p0, int64_t p1) {
#define FLB_GS_BWD(P, AC) backward_points_t<T, P, AC>(gin, ggrid, gout, in, grid, g, n, p0, p1)
  FLB_GS_CASES(FLB_GS_BWD)
#undef FLB_GS_BWD
}

#undef FLB_GS_CASES
