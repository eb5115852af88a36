// grid_sample on the CPU: 4-D input (2-D spatial) with bilinear, nearest or bicubic interpolation,
// and 5-D input (3-D spatial, trilinear or nearest; its own section below), with zeros, border or
// reflection padding; forward, and one backward pass that gives the input gradient and the grid
// gradient together.
//
// What is computed: input [N, C, H, W], grid [N, OH, OW, 2] with (x, y) in [-1, 1] (x indexes the
// width), output [N, C, OH, OW]:
//
//   x_pix = unnormalize(x): align_corners ? (x + 1) * (W - 1) / 2        (corners at -1 and 1)
//                                         : (x + 1) * W / 2 - 1/2       (pixel edges at -1 and 1)
//   padding border:      x_pix clipped to [0, W - 1]
//   padding reflection:  x_pix reflected about the edges (0 and W - 1 with align_corners, -1/2 and
//                        W - 1/2 without) until it lands inside, then clipped
//   bilinear  the 4 neighbours floor(x_pix) + {0, 1} x floor(y_pix) + {0, 1}, weighted by the
//             opposite areas; a neighbour outside the image reads 0
//   nearest   the pixel at nearbyint(x_pix), nearbyint(y_pix) (round half to even), 0 outside
//   bicubic   the 4 x 4 neighbours floor(x_pix) - 1 .. + 2 (each tap's own coordinate padded as
//             above, 0 outside with zeros padding), cubic convolution weights with A = -0.75,
//             interpolated along x, then along y; the coordinate itself is not padded.
//
// Backward: d out / d input scatters grad_out with the same weights; d out / d grid is the
// derivative of the interpolation weights times the derivative of the coordinate map
// (unnormalize's scale, times 0 where border clipping or reflection clipping is active, times -1
// on a reflected stretch). As in PyTorch, bicubic's grid gradient uses the unnormalize scale only
// and nearest's grid gradient is zero.
//
// Exactness: PyTorch's CPU kernel (aten/src/ATen/native/cpu/GridSamplerKernel.cpp, the vectorised
// one it uses for float and double) is compiled with FMA contraction, so its unnormalize is one
// fused multiply-add and its interpolation sums partly chains of them. We write those FMAs out, in
// PyTorch's order and in the places its compiler put them (found by comparing bits with torch
// 2.13's CPU build: they differ between the forward, the backward with and without the input
// gradient, and for bicubic's weights), and keep its rules (which edge counts as out of bounds for
// the gradient, a NaN coordinate clipping to 0, nearest rounding half to even). The backward also
// walks the points in PyTorch's groups of 8 floats / 4 doubles (its AVX2 vector), adding into the
// input gradient per channel, per neighbour, per point of the group. So forward values, input
// gradients and grid gradients are PyTorch's bits (as built for AVX2), not merely close.
//
// Why it is built this way: grid_sample is a gather, bound by the scattered reads of the input,
// not by arithmetic. Each output point's coordinate, neighbour offsets and weights are computed
// once and reused across all C channels (as PyTorch does). The forward is split over (n, output
// row): every output element has one writer. The backward's input gradient is a scatter-add, so
// with the input gradient wanted it is split over n only: one thread owns a sample's whole input
// gradient, adds into it in a fixed order (deterministic, no atomics, no races); without it, the
// grid gradient alone is split over (n, output row). The per-point loops live in
// cpu/simd/grid_sample_body.h, compiled here (portable; std::fma a libm call) and for AVX2 + FMA in
// cpu/simd/grid_sample_avx2.cpp (2-3x faster, same bits), picked by the CPU capability.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "core/dtype.h"
#include "cpu/capability.h"
#include "cpu/grid_sample.h"
#include "cpu/parallel.h"
#include "cpu/simd/grid_sample_simd.h"

namespace flambeau::cpu {

namespace {
#include "cpu/simd/grid_sample_body.h"
}  // namespace

namespace {

// The loops of the build the CPU capability picks.
template <class T>
struct Build {
  void (*forward_rows)(T*, const T*, const T*, const GridSampleGeometry&, int64_t, int64_t);
  void (*backward_points)(T*, T*, const T*, const T*, const T*, const GridSampleGeometry&, int64_t, int64_t,
                          int64_t);
};

template <class T>
Build<T> pick_build() {
  if (capability() >= Capability::AVX2) {
    if constexpr (sizeof(T) == 4)
      return {grid_sample_simd::forward_rows_f32_avx2, grid_sample_simd::backward_points_f32_avx2};
    else
      return {grid_sample_simd::forward_rows_f64_avx2, grid_sample_simd::backward_points_f64_avx2};
  }
  return {forward_rows<T>, backward_points<T>};
}

// Rough cost of one output point, for the parallel grain.
inline int64_t point_cost(const GridSampleGeometry& g) {
  const int64_t per_c = g.mode == GridInterp::Bicubic ? 24 : g.mode == GridInterp::Bilinear ? 6 : 1;
  return 4 + g.C * per_c;
}

template <class T>
void forward_impl(T* out, const T* in, const T* grid, const GridSampleGeometry& g) {
  const Build<T> b = pick_build<T>();
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, g.OW * point_cost(g)));
  parallel_for(g.N * g.OH, grain, [&](int64_t r0, int64_t r1) { b.forward_rows(out, in, grid, g, r0, r1); });
}

template <class T>
void backward_impl(T* gin, T* ggrid, const T* gout, const T* in, const T* grid, const GridSampleGeometry& g) {
  const Build<T> b = pick_build<T>();
  const int64_t OHW = g.OH * g.OW, HW = g.H * g.W;
  if (gin) {
    // One thread per sample: its input gradient has one writer, filled in a fixed order.
    const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, OHW * point_cost(g)));
    parallel_for(g.N, grain, [&](int64_t n0, int64_t n1) {
      for (int64_t n = n0; n < n1; ++n) {
        T* gin_n = gin + n * g.C * HW;
        std::fill(gin_n, gin_n + g.C * HW, T(0));
        b.backward_points(gin_n, ggrid, gout, in, grid, g, n, 0, OHW);
      }
    });
  } else {
    const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, g.OW * point_cost(g)));
    parallel_for(g.N * g.OH, grain, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t n = r / g.OH, oh = r % g.OH;
        b.backward_points(nullptr, ggrid, gout, in, grid, g, n, oh * g.OW, (oh + 1) * g.OW);
      }
    });
  }
}


// ---- 5-D input (3-D spatial): trilinear and nearest
//
// PyTorch's CPU kernel for volumetric input is its scalar one (aten/src/ATen/native/GridSampler.cpp,
// built without FMA), with the coordinate rules of GridSampler.h, which differ from the vectorised
// 2-D kernel's: reflection by fmod and a count of flips, clipping by std::min / std::max (a NaN
// coordinate clips to size - 1 there), and the weights as products of distances to the opposite
// corner. It is reproduced here operation for operation (portable build only: it is not hot enough
// to need the FMA build, and no FMA is wanted in it), points in order, channels inner.

// GridSampler.h's coordinate functions along one axis of `size` voxels.
template <class T, GridPadding P, bool AC>
struct Loc3 {
  int64_t size;

  T unnormalize(T c) const { return AC ? ((c + 1) / 2) * T(size - 1) : ((c + 1) * T(size) - 1) / 2; }
  T clip(T in) const { return std::min(T(size - 1), std::max(in, T(0))); }
  T clip_set_grad(T in, T* g) const {
    if (in <= T(0)) {
      *g = T(0);
      return T(0);
    }
    const T mx = T(size - 1);
    if (in >= mx) {
      *g = T(0);
      return mx;
    }
    *g = T(1);
    return in;
  }
  // floor(v) as C's int conversion gives it on x86 (INT_MIN when out of range or NaN), mod 2.
  static bool even_flips(T v) {
    const T f = std::floor(v);
    if (!(f > T(-2147483648.0) && f < T(2147483648.0))) return true;
    return (static_cast<int>(f) % 2) == 0;
  }
  T reflect(T in, int64_t twice_low, int64_t twice_high) const {
    if (twice_low == twice_high) return T(0);
    const T mn = T(twice_low) / 2, span = T(twice_high - twice_low) / 2;
    in = std::fabs(in - mn);
    const T extra = std::fmod(in, span);
    return even_flips(in / span) ? extra + mn : span - extra + mn;
  }
  T reflect_set_grad(T in, int64_t twice_low, int64_t twice_high, T* g) const {
    if (twice_low == twice_high) {
      *g = T(0);
      return T(0);
    }
    const T mn = T(twice_low) / 2, span = T(twice_high - twice_low) / 2;
    in = in - mn;
    int mult = 1;
    if (in < T(0)) {
      mult = -1;
      in = -in;
    }
    const T extra = std::fmod(in, span);
    if (even_flips(in / span)) {
      *g = T(mult);
      return extra + mn;
    }
    *g = T(-mult);
    return span - extra + mn;
  }
  T source_index(T c) const {
    c = unnormalize(c);
    if constexpr (P == GridPadding::Border) c = clip(c);
    if constexpr (P == GridPadding::Reflection)
      c = clip(AC ? reflect(c, 0, 2 * (size - 1)) : reflect(c, -1, 2 * size - 1));
    return c;
  }
  T source_index_set_grad(T c, T* g) const {
    *g = AC ? T(size - 1) / 2 : T(size) / 2;
    c = unnormalize(c);
    if constexpr (P == GridPadding::Border) {
      T gc;
      c = clip_set_grad(c, &gc);
      *g = *g * gc;
    }
    if constexpr (P == GridPadding::Reflection) {
      T gr, gc;
      c = AC ? reflect_set_grad(c, 0, 2 * (size - 1), &gr) : reflect_set_grad(c, -1, 2 * size - 1, &gr);
      c = clip_set_grad(c, &gc);
      *g = *g * gr * gc;
    }
    return c;
  }
};

// The 8 corners of one point: floor indices, distances and weights, as GridSampler.cpp names them
// (t/b = front/back along z, n/s along y, w/e along x).
template <class T>
struct Trilinear {
  int64_t ix, iy, iz;  // the tnw corner
  T x, y, z;
  T w[8];              // tnw, tne, tsw, tse, bnw, bne, bsw, bse
  bool in[8];
  int64_t off[8];      // offsets in the [D, H, W] volume (valid where in[k])

  void init(T x_, T y_, T z_, int64_t D, int64_t H, int64_t W) {
    x = x_, y = y_, z = z_;
    ix = to_index(std::floor(x));
    iy = to_index(std::floor(y));
    iz = to_index(std::floor(z));
    // int64 corner coordinates converted back to T, as in (ix_bse - ix)
    const T x0 = T(ix), x1 = T(ix + 1), y0 = T(iy), y1 = T(iy + 1), z0 = T(iz), z1 = T(iz + 1);
    w[0] = (x1 - x) * (y1 - y) * (z1 - z);
    w[1] = (x - x0) * (y1 - y) * (z1 - z);
    w[2] = (x1 - x) * (y - y0) * (z1 - z);
    w[3] = (x - x0) * (y - y0) * (z1 - z);
    w[4] = (x1 - x) * (y1 - y) * (z - z0);
    w[5] = (x - x0) * (y1 - y) * (z - z0);
    w[6] = (x1 - x) * (y - y0) * (z - z0);
    w[7] = (x - x0) * (y - y0) * (z - z0);
    for (int k = 0; k < 8; ++k) {
      const int64_t cx = ix + (k & 1), cy = iy + ((k >> 1) & 1), cz = iz + ((k >> 2) & 1);
      in[k] = in_range(cx, W) && in_range(cy, H) && in_range(cz, D);
      off[k] = in[k] ? (cz * H + cy) * W + cx : 0;
    }
  }
};

template <class T, GridPadding P, bool AC>
void forward3d_rows(T* out, const T* in, const T* grid, const GridSampleGeometry& g, int64_t r0, int64_t r1) {
  const Loc3<T, P, AC> lw{g.W}, lh{g.H}, ld{g.D};
  const int64_t DHW = g.D * g.H * g.W, OS = g.OD * g.OH * g.OW, rows_per_n = g.OD * g.OH;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / rows_per_n, row = r % rows_per_n;
    const T* gp = grid + r * g.OW * 3;
    const T* inp = in + n * g.C * DHW;
    T* op = out + n * g.C * OS + row * g.OW;
    for (int64_t ow = 0; ow < g.OW; ++ow) {
      const T x = lw.source_index(gp[3 * ow]), y = lh.source_index(gp[3 * ow + 1]), z = ld.source_index(gp[3 * ow + 2]);
      if (g.mode == GridInterp::Nearest) {
        const int64_t ix = to_index(std::nearbyint(x)), iy = to_index(std::nearbyint(y)), iz = to_index(std::nearbyint(z));
        const bool ok = in_range(ix, g.W) && in_range(iy, g.H) && in_range(iz, g.D);
        const int64_t o = ok ? (iz * g.H + iy) * g.W + ix : 0;
        for (int64_t c = 0; c < g.C; ++c) op[c * OS + ow] = ok ? inp[c * DHW + o] : T(0);
      } else {
        Trilinear<T> t;
        t.init(x, y, z, g.D, g.H, g.W);
        for (int64_t c = 0; c < g.C; ++c) {
          const T* p = inp + c * DHW;
          T acc = T(0);
          for (int k = 0; k < 8; ++k)
            if (t.in[k]) acc += p[t.off[k]] * t.w[k];
          op[c * OS + ow] = acc;
        }
      }
    }
  }
}

// Points [p0, p1) of sample n (flattened od, oh, ow); gin (sample n's input gradient) may be null.
template <class T, GridPadding P, bool AC>
void backward3d_points(T* gin, T* ggrid, const T* gout, const T* in, const T* grid, const GridSampleGeometry& g,
                       int64_t n, int64_t p0, int64_t p1) {
  const Loc3<T, P, AC> lw{g.W}, lh{g.H}, ld{g.D};
  const int64_t DHW = g.D * g.H * g.W, OS = g.OD * g.OH * g.OW;
  const T* inp = in + n * g.C * DHW;
  const T* go_n = gout + n * g.C * OS;
  const T* gp = grid + n * OS * 3;
  T* gg = ggrid ? ggrid + n * OS * 3 : nullptr;
  for (int64_t q = p0; q < p1; ++q) {
    T mx, my, mz;
    const T x = lw.source_index_set_grad(gp[3 * q], &mx), y = lh.source_index_set_grad(gp[3 * q + 1], &my),
            z = ld.source_index_set_grad(gp[3 * q + 2], &mz);
    if (g.mode == GridInterp::Nearest) {
      if (gin) {
        const int64_t ix = to_index(std::nearbyint(x)), iy = to_index(std::nearbyint(y)), iz = to_index(std::nearbyint(z));
        if (in_range(ix, g.W) && in_range(iy, g.H) && in_range(iz, g.D)) {
          const int64_t o = (iz * g.H + iy) * g.W + ix;
          for (int64_t c = 0; c < g.C; ++c) gin[c * DHW + o] += go_n[c * OS + q];
        }
      }
      if (gg) gg[3 * q] = gg[3 * q + 1] = gg[3 * q + 2] = T(0);
      continue;
    }
    Trilinear<T> t;
    t.init(x, y, z, g.D, g.H, g.W);
    const T x0 = T(t.ix), x1 = T(t.ix + 1), y0 = T(t.iy), y1 = T(t.iy + 1), z0 = T(t.iz), z1 = T(t.iz + 1);
    // Per corner: the distances the x, y, z derivatives multiply (GridSampler.cpp's terms), and signs.
    const T dx_a[8] = {y1 - y, y1 - y, y - y0, y - y0, y1 - y, y1 - y, y - y0, y - y0};
    const T dx_b[8] = {z1 - z, z1 - z, z1 - z, z1 - z, z - z0, z - z0, z - z0, z - z0};
    const T dy_a[8] = {x1 - x, x - x0, x1 - x, x - x0, x1 - x, x - x0, x1 - x, x - x0};
    const T dz_b[8] = {y1 - y, y1 - y, y - y0, y - y0, y1 - y, y1 - y, y - y0, y - y0};
    T gx = 0, gy = 0, gz = 0;
    for (int64_t c = 0; c < g.C; ++c) {
      const T go = go_n[c * OS + q];
      if (gin) {
        T* gi = gin + c * DHW;
        for (int k = 0; k < 8; ++k)
          if (t.in[k]) gi[t.off[k]] += t.w[k] * go;
      }
      if (gg) {
        const T* p = inp + c * DHW;
        for (int k = 0; k < 8; ++k) {
          if (!t.in[k]) continue;
          const T v = p[t.off[k]];
          const T tx = v * dx_a[k] * dx_b[k] * go;  // d/dx: + for the east corners, - for the west
          const T ty = v * dy_a[k] * dx_b[k] * go;  // d/dy: + south, - north
          const T tz = v * dy_a[k] * dz_b[k] * go;  // d/dz: + bottom, - top
          if (k & 1) gx += tx; else gx -= tx;
          if (k & 2) gy += ty; else gy -= ty;
          if (k & 4) gz += tz; else gz -= tz;
        }
      }
    }
    if (gg) {
      gg[3 * q] = mx * gx;
      gg[3 * q + 1] = my * gy;
      gg[3 * q + 2] = mz * gz;
    }
  }
}

template <class F>
void dispatch3d(const GridSampleGeometry& g, F&& f) {
  auto with_ac = [&](auto pad) {
    if (g.align_corners) f(pad, std::true_type{});
    else f(pad, std::false_type{});
  };
  switch (g.padding) {
    case GridPadding::Zeros: with_ac(std::integral_constant<GridPadding, GridPadding::Zeros>{}); break;
    case GridPadding::Border: with_ac(std::integral_constant<GridPadding, GridPadding::Border>{}); break;
    case GridPadding::Reflection: with_ac(std::integral_constant<GridPadding, GridPadding::Reflection>{}); break;
  }
}

template <class T>
void forward3d_impl(T* out, const T* in, const T* grid, const GridSampleGeometry& g) {
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, g.OW * (4 + g.C * 10)));
  dispatch3d(g, [&](auto pad, auto ac) {
    parallel_for(g.N * g.OD * g.OH, grain, [&](int64_t r0, int64_t r1) {
      forward3d_rows<T, decltype(pad)::value, decltype(ac)::value>(out, in, grid, g, r0, r1);
    });
  });
}

template <class T>
void backward3d_impl(T* gin, T* ggrid, const T* gout, const T* in, const T* grid, const GridSampleGeometry& g) {
  const int64_t OS = g.OD * g.OH * g.OW, DHW = g.D * g.H * g.W;
  dispatch3d(g, [&](auto pad, auto ac) {
    constexpr GridPadding P = decltype(pad)::value;
    constexpr bool AC = decltype(ac)::value;
    if (gin) {
      const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, OS * (4 + g.C * 20)));
      parallel_for(g.N, grain, [&](int64_t n0, int64_t n1) {
        for (int64_t n = n0; n < n1; ++n) {
          T* gin_n = gin + n * g.C * DHW;
          std::fill(gin_n, gin_n + g.C * DHW, T(0));
          backward3d_points<T, P, AC>(gin_n, ggrid, gout, in, grid, g, n, 0, OS);
        }
      });
    } else {
      const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, g.OW * (4 + g.C * 20)));
      const int64_t rows_per_n = g.OD * g.OH;
      parallel_for(g.N * rows_per_n, grain, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t n = r / rows_per_n, row = r % rows_per_n;
          backward3d_points<T, P, AC>(nullptr, ggrid, gout, in, grid, g, n, row * g.OW, (row + 1) * g.OW);
        }
      });
    }
  });
}

}  // namespace

void grid_sample2d_forward(const Tensor& out, const Tensor& input, const Tensor& grid, const GridSampleGeometry& g) {
  FLB_DISPATCH_FLOATING(input.dtype, "grid_sample", [&] {
    forward_impl<scalar_t>(out.data<scalar_t>(), input.data<scalar_t>(), grid.data<scalar_t>(), g);
  });
}

void grid_sample2d_backward(const Tensor* grad_input, const Tensor* grad_grid, const Tensor& grad_out,
                            const Tensor& input, const Tensor& grid, const GridSampleGeometry& g) {
  FLB_DISPATCH_FLOATING(input.dtype, "grid_sample_backward", [&] {
    backward_impl<scalar_t>(grad_input ? grad_input->data<scalar_t>() : nullptr,
                            grad_grid ? grad_grid->data<scalar_t>() : nullptr, grad_out.data<scalar_t>(),
                            input.data<scalar_t>(), grid.data<scalar_t>(), g);
  });
}

}  // namespace flambeau::cpu

namespace flambeau::cpu {

void grid_sample3d_forward(const Tensor& out, const Tensor& input, const Tensor& grid, const GridSampleGeometry& g) {
  FLB_DISPATCH_FLOATING(input.dtype, "grid_sample", [&] {
    forward3d_impl<scalar_t>(out.data<scalar_t>(), input.data<scalar_t>(), grid.data<scalar_t>(), g);
  });
}

void grid_sample3d_backward(const Tensor* grad_input, const Tensor* grad_grid, const Tensor& grad_out,
                            const Tensor& input, const Tensor& grid, const GridSampleGeometry& g) {
  FLB_DISPATCH_FLOATING(input.dtype, "grid_sample_backward", [&] {
    backward3d_impl<scalar_t>(grad_input ? grad_input->data<scalar_t>() : nullptr,
                              grad_grid ? grad_grid->data<scalar_t>() : nullptr, grad_out.data<scalar_t>(),
                              input.data<scalar_t>(), grid.data<scalar_t>(), g);
  });
}

}  // namespace flambeau::cpu
