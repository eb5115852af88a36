// Creation ops and the global random stream. One (seed, offset) pair serves every device: a draw
// of n numbers takes stream positions [offset, offset + n) and advances offset (rounded up to a
// whole Philox block), so the same seed gives the same numbers on the CPU and on CUDA.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>
#include <numeric>
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace flambeau::ops {

namespace {
struct RngState {
  std::mutex mu;
  uint64_t seed = 67280421310721ull;  // PyTorch's default seed value
  uint64_t offset = 0;
};
RngState& rng() {
  static RngState s;
  return s;
}
// Reserves `n` stream positions and returns (seed, first position).
std::pair<uint64_t, uint64_t> reserve(int64_t n) {
  auto& r = rng();
  std::lock_guard<std::mutex> lock(r.mu);
  uint64_t off = r.offset;
  r.offset += ((uint64_t)n + 3) / 4 * 4;
  return {r.seed, off};
}
}  // namespace

// Public form of reserve() for ops outside this file (dropout): reserves `n` stream positions,
// returns (seed, first position). Declared in ops/norm_optim_ops.h.
std::pair<uint64_t, uint64_t> reserve_random(int64_t n) { return reserve(n); }

void manual_seed(uint64_t seed) {
  auto& r = rng();
  std::lock_guard<std::mutex> lock(r.mu);
  r.seed = seed;
  r.offset = 0;
}
uint64_t initial_seed() { return rng().seed; }
std::pair<uint64_t, uint64_t> get_rng_state() {
  auto& r = rng();
  std::lock_guard<std::mutex> lock(r.mu);
  return {r.seed, r.offset};
}
void set_rng_state(uint64_t seed, uint64_t offset) {
  auto& r = rng();
  std::lock_guard<std::mutex> lock(r.mu);
  r.seed = seed;
  r.offset = offset;
}

Tensor full(const Shape& shape, const Scalar& v, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  fill_(t, v);
  return fresh_version(t);
}

Tensor constant_pad(const Tensor& x, const std::vector<int64_t>& before, const std::vector<int64_t>& after,
                    const Scalar& value) {
  FLB_CHECK((int64_t)before.size() == x.dim() && (int64_t)after.size() == x.dim() && x.dim() > 0, RuntimeError,
            "constant_pad: expected ", x.dim(), " (before, after) pairs for an input of shape ", shape_str(x.sizes));
  Shape shape = x.sizes;
  for (int64_t d = 0; d < x.dim(); ++d) {
    FLB_CHECK(before[d] >= 0 && after[d] >= 0, RuntimeError, "constant_pad: negative padding (crop first)");
    shape[d] += before[d] + after[d];
  }
  if (x.device().is_cpu()) {
    Tensor out = empty(shape, x.dtype, x.device());
    cpu::pad_constant(out, contiguous(x), before, value);
    return out;
  }
  Tensor out = full(shape, value, x.dtype, x.device());  // other devices: fill, then the interior
  Tensor inner = out;
  for (int64_t d = 0; d < x.dim(); ++d) inner = slice(inner, d, before[d], before[d] + x.sizes[d], 1);
  copy_(inner, x);
  return out;
}

static void check_pad_maps(const Shape& in, const std::vector<std::vector<int64_t>>& maps, const char* op) {
  const int64_t k = (int64_t)maps.size(), nd = (int64_t)in.size();
  FLB_CHECK(k >= 1 && k <= nd, RuntimeError, op, ": ", k, " index maps for an input of shape ", shape_str(in));
  for (int64_t j = 0; j < k; ++j)
    for (int64_t v : maps[(size_t)j])
      FLB_CHECK(v >= 0 && v < in[nd - k + j], RuntimeError, op, ": index ", v, " out of range for dim ", nd - k + j,
                " of size ", in[nd - k + j]);
}

Tensor pad_gather(const Tensor& x, const std::vector<std::vector<int64_t>>& maps) {
  FLB_CHECK(x.device().is_cpu(), RuntimeError, "pad_gather: CPU only (the Python layer gathers elsewhere)");
  check_pad_maps(x.sizes, maps, "pad_gather");
  Shape shape = x.sizes;
  const int64_t k = (int64_t)maps.size(), nd = x.dim();
  for (int64_t j = 0; j < k; ++j) shape[nd - k + j] = (int64_t)maps[(size_t)j].size();
  Tensor out = empty(shape, x.dtype, x.device());
  cpu::pad_gather(out, contiguous(x), maps);
  return out;
}

Tensor pad_gather_backward(const Tensor& grad, const Shape& input_shape, const std::vector<std::vector<int64_t>>& maps) {
  FLB_CHECK(grad.device().is_cpu(), RuntimeError, "pad_gather_backward: CPU only");
  check_pad_maps(input_shape, maps, "pad_gather_backward");
  const int64_t k = (int64_t)maps.size(), nd = (int64_t)input_shape.size();
  FLB_CHECK(grad.dim() == nd, RuntimeError, "pad_gather_backward: gradient of shape ", shape_str(grad.sizes));
  for (int64_t j = 0; j < k; ++j)
    FLB_CHECK(grad.sizes[nd - k + j] == (int64_t)maps[(size_t)j].size(), RuntimeError,
              "pad_gather_backward: gradient of shape ", shape_str(grad.sizes), " for maps of other sizes");
  Tensor gx = empty(input_shape, grad.dtype, grad.device());
  cpu::pad_gather_backward(gx, contiguous(grad), maps);
  return gx;
}

Tensor arange(double start, double end, double step, DType dtype, Device device) {
  FLB_CHECK(step != 0, RuntimeError, "arange: step must be nonzero");
  FLB_CHECK(std::isfinite(start) && std::isfinite(end), RuntimeError, "arange: unsupported range: ", start, " -> ", end);
  FLB_CHECK((step > 0 && end >= start) || (step < 0 && end <= start), RuntimeError,
            "arange: upper bound and larger bound inconsistent with step sign (start=", start, ", end=", end,
            ", step=", step, ")");
  int64_t n = (int64_t)std::ceil((end - start) / step);
  // The narrow integers: int64 values, wrapped into the dtype (uint8 arange(250, 260) ends 0..3, as PyTorch).
  if (is_narrow_int(dtype)) return to(arange(start, end, step, DType::Int64, device), dtype, device, false);
  // float16/bfloat16: float32 values rounded once (PyTorch computes them in float too).
  if (is_half(dtype)) return to(arange(start, end, step, DType::Float32, device), dtype, device, false);
  Tensor t = empty({n}, dtype, device);
  if (n > 0) FLB_BACKEND(device, arange, t, start, step);
  return t;
}

Tensor linspace(double start, double end, int64_t steps, DType dtype, Device device) {
  FLB_CHECK(steps >= 0, RuntimeError, "linspace: number of steps must be non-negative, got ", steps);
  if (is_narrow_int(dtype)) return to(linspace(start, end, steps, DType::Int64, device), dtype, device, false);
  if (is_half(dtype)) return to(linspace(start, end, steps, DType::Float32, device), dtype, device, false);
  Tensor t = empty({steps}, dtype, device);
  if (steps > 0) FLB_BACKEND(device, linspace, t, start, end);
  return t;
}

Tensor logspace(double start, double end, int64_t steps, double base, DType dtype, Device device) {
  FLB_CHECK(steps >= 0, RuntimeError, "logspace: number of steps must be non-negative, got ", steps);
  FLB_CHECK(dtype == DType::Float32 || dtype == DType::Float64, TypeError,
            "logspace: expected float32 or float64, got ", dtype_name(dtype));
  // PyTorch fills one step with base ** start in double, then converts it with an overflow check.
  if (steps == 1 && dtype == DType::Float32) {
    const double v = std::pow(base, start);
    FLB_CHECK(!std::isfinite(v) || std::fabs(v) <= 3.4028234663852886e38, RuntimeError,
              "value cannot be converted to type float without overflow");
  }
  Tensor host = empty({steps}, dtype, cpu_device());
  if (steps > 0) cpu::logspace(host, start, end, base);
  return device.is_cpu() ? host : to(host, dtype, device, false);
}

Tensor bincount(const Tensor& x, int64_t minlength) {
  FLB_CHECK(x.device().is_cpu(), RuntimeError, "bincount: CPU only here, got a tensor on ", x.device().str());
  FLB_CHECK(x.dim() == 1, RuntimeError, "bincount only supports 1-d non-negative integral inputs. (got shape ",
            shape_str(x.sizes), ")");
  FLB_CHECK(minlength >= 0, RuntimeError, "minlength should be >= 0 (bincount got ", minlength, ")");
  const Tensor xc = contiguous(x);
  const int64_t len = cpu::bincount_length(xc);
  FLB_CHECK(len >= 0, RuntimeError, "bincount only supports 1-d non-negative integral inputs.");
  Tensor out = empty({std::max(len, minlength)}, DType::Int64, cpu_device());
  cpu::bincount(out, xc);
  return out;
}

Tensor eye(int64_t n, int64_t m, DType dtype, Device device) {
  FLB_CHECK(n >= 0 && m >= 0, RuntimeError, "eye: n and m must be non-negative, got ", n, " and ", m);
  Tensor t = full({n, m}, Scalar::from_int(0), dtype, device);
  if (n > 0 && m > 0) fill_(diagonal(t, 0, 0, 1), Scalar::from_int(1));
  return fresh_version(t);
}

Tensor rand(const Shape& shape, DType dtype, Device device) {
  FLB_CHECK(is_floating_point(dtype), TypeError, "rand: expected a floating-point dtype, got ", dtype_name(dtype));
  Tensor t = empty(shape, dtype, device);
  return fresh_version(uniform_(t, 0.0, 1.0));
}

Tensor randn(const Shape& shape, DType dtype, Device device) {
  FLB_CHECK(is_floating_point(dtype), TypeError, "randn: expected a floating-point dtype, got ", dtype_name(dtype));
  Tensor t = empty(shape, dtype, device);
  return fresh_version(normal_(t, 0.0, 1.0));
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, Device device) {
  FLB_CHECK(high > low, RuntimeError, "randint: random_ expects 'from' to be less than 'to', but got from=", low,
            " >= to=", high);
  Tensor t = empty(shape, DType::Int64, device);
  if (t.numel() == 0) return t;
  auto [seed, off] = reserve(t.numel());
  FLB_BACKEND(device, randint, t, seed, off, low, high);
  return t;
}

Tensor randperm(int64_t n, Device device) {
  FLB_CHECK(n >= 0, RuntimeError, "randperm: n must be non-negative, got ", n);
  // Fisher-Yates on the host with one stream position per swap; then moved to the device.
  Tensor host = empty({n}, DType::Int64, cpu_device());
  int64_t* p = host.data<int64_t>();
  std::iota(p, p + n, (int64_t)0);
  if (n > 1) {
    Tensor r = empty({n}, DType::Int64, cpu_device());
    auto [seed, off] = reserve(n);
    cpu::randint(r, seed, off, 0, INT64_MAX);
    int64_t* rv = r.data<int64_t>();
    for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[rv[i] % (i + 1)]);
  }
  return to(host, DType::Int64, device, false);
}

Tensor& uniform_(Tensor& t, double low, double high) {
  FLB_CHECK(is_floating_point(t.dtype), TypeError, "uniform_: expected a floating-point tensor, got ", dtype_name(t.dtype));
  FLB_CHECK(low <= high, RuntimeError, "uniform_: expects to return a [from, to) range, but found from=", low,
            " > to=", high);
  t.bump_version();
  if (t.numel() == 0) return t;
  auto [seed, off] = reserve(t.numel());
  // float16/bfloat16: drawn in float32 and rounded once.
  const bool direct = t.is_contiguous() && !is_half(t.dtype);
  Tensor c = direct ? t : empty(t.sizes, is_half(t.dtype) ? DType::Float32 : t.dtype, t.device());
  FLB_BACKEND(t.device(), rand, c, seed, off, low, high);
  if (!direct) copy_(t, c);
  return t;
}

Tensor& normal_(Tensor& t, double mean, double std) {
  FLB_CHECK(is_floating_point(t.dtype), TypeError, "normal_: expected a floating-point tensor, got ", dtype_name(t.dtype));
  FLB_CHECK(std >= 0, RuntimeError, "normal_: expects std >= 0.0, but found std ", std);
  t.bump_version();
  if (t.numel() == 0) return t;
  auto [seed, off] = reserve(t.numel());
  // float16/bfloat16: drawn in float32 and rounded once.
  const bool direct = t.is_contiguous() && !is_half(t.dtype);
  Tensor c = direct ? t : empty(t.sizes, is_half(t.dtype) ? DType::Float32 : t.dtype, t.device());
  FLB_BACKEND(t.device(), randn, c, seed, off, mean, std);
  if (!direct) copy_(t, c);
  return t;
}

Tensor bernoulli(const Tensor& p) {
  FLB_CHECK(is_floating(p.dtype), TypeError, "bernoulli: expected a floating-point tensor of probabilities, got ",
            dtype_name(p.dtype));
  Tensor pc = contiguous(p);
  Tensor t = empty(p.sizes, p.dtype, p.device());
  if (t.numel() == 0) return t;
  auto [seed, off] = reserve(t.numel());
  FLB_BACKEND(p.device(), bernoulli, t, pc, seed, off);
  return t;
}

Tensor bernoulli_scalar(const Shape& shape, double p, DType dtype, Device device) {
  FLB_CHECK(p >= 0 && p <= 1, RuntimeError, "bernoulli: expected 0 <= p <= 1, but got p=", p);
  if (is_half(dtype)) return to(bernoulli_scalar(shape, p, DType::Float32, device), dtype, device, false);
  Tensor t = empty(shape, dtype, device);
  if (t.numel() == 0) return t;
  auto [seed, off] = reserve(t.numel());
  FLB_BACKEND(device, bernoulli_scalar, t, p, seed, off);
  return t;
}

}  // namespace flambeau::ops
