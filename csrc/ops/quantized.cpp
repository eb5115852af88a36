// Checks and dispatch for the quantized int8 kernels (see ops/quantized_ops.h and cpu/quantized.cpp).
// Every shape, dtype and device is checked here, before a kernel reads memory.
#include "ops/quantized_ops.h"
#include "core/view.h"

namespace flambeau::cpu {
Tensor quantized_linear(const Tensor& x, int64_t x_zp, const Tensor& w, const Tensor& w_zp, const Tensor* bias,
                        const Tensor& act_times_w_scale, const Tensor& multiplier, int64_t out_zp, bool relu);
Tensor quantized_linear_dynamic(const Tensor& x, double a_scale, int64_t a_zp, const Tensor& w, const Tensor& w_zp,
                                const Tensor& w_scale, const Tensor* bias, bool relu);
Tensor quantized_conv2d(const Tensor& x, int64_t x_zp, const Tensor& w, const Tensor& w_zp, const Tensor* bias,
                        const Tensor& act_times_w_scale, const Tensor& multiplier, int64_t out_zp,
                        const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                        const std::vector<int64_t>& dilation, int64_t groups, bool relu);
void quantize_per_tensor(const Tensor& x, float inv, int64_t zp, int64_t qmin, int64_t qmax, bool fused,
                         const Tensor& out);
Tensor quantized_gemm_raw(const Tensor& x, int64_t x_zp, const Tensor& w, const Tensor& w_zp, bool saturate);
}  // namespace flambeau::cpu

namespace flambeau::ops {

namespace {

void check_cpu(const Tensor& t, const char* op, const char* what) {
  FLB_CHECK(t.device().is_cpu(), NotImplementedError, op, ": ", what,
            " is on CUDA; quantized kernels are CPU only (as PyTorch's fbgemm/x86 engine)");
}

void check_vec(const Tensor& t, int64_t n, DType dt, const char* op, const char* what) {
  check_cpu(t, op, what);
  FLB_CHECK(t.dim() == 1 && t.sizes[0] == n, RuntimeError, op, ": ", what, " should have shape [", n, "], got ",
            shape_str(t.sizes));
  FLB_CHECK(t.dtype == dt, TypeError, op, ": ", what, " should be ", dtype_name(dt), ", got ", dtype_name(t.dtype));
}

// A quint8 activation and a qint8 weight representation (uint8 / int8) of `rank` dims, on the CPU.
void check_int8_operands(const Tensor& x, const Tensor& w, int64_t rank, const char* op) {
  check_cpu(x, op, "input");
  check_cpu(w, op, "weight");
  FLB_CHECK(x.dtype == DType::UInt8 && x.dim() == rank, TypeError, op, ": input should be a ", rank,
            "-D quint8 representation (uint8), got ", dtype_name(x.dtype), " of shape ", shape_str(x.sizes));
  FLB_CHECK(w.dtype == DType::Int8 && w.dim() == rank, TypeError, op, ": weight should be a ", rank,
            "-D qint8 representation (int8), got ", dtype_name(w.dtype), " of shape ", shape_str(w.sizes));
}

void check_zp(int64_t zp, const char* op, const char* what) {
  FLB_CHECK(zp >= 0 && zp <= 255, RuntimeError, op, ": ", what, " zero point ", zp, " is outside [0, 255] (quint8)");
}

// The static requantization's arguments for `n` output channels.
void check_requant_args(int64_t x_zp, int64_t out_zp, const Tensor& w_zp, const Tensor& act_times_w_scale,
                        const Tensor& multiplier, const std::optional<Tensor>& bias, int64_t n, const char* op) {
  check_zp(x_zp, op, "input");
  check_zp(out_zp, op, "output");
  check_vec(w_zp, n, DType::Int32, op, "weight zero points");
  check_vec(act_times_w_scale, n, DType::Float32, op, "act_times_w_scale");
  check_vec(multiplier, n, DType::Float32, op, "multiplier");
  if (bias) check_vec(*bias, n, DType::Float32, op, "bias");
}

}  // namespace

Tensor quantized_linear(const Tensor& x_in, int64_t x_zp, const Tensor& w_in, const Tensor& w_zp,
                        const std::optional<Tensor>& bias, const Tensor& act_times_w_scale, const Tensor& multiplier,
                        int64_t out_zp, bool relu) {
  const char* op = "quantized::linear";
  check_int8_operands(x_in, w_in, 2, op);
  FLB_CHECK(x_in.sizes[1] == w_in.sizes[1], RuntimeError, op, ": input of shape ", shape_str(x_in.sizes),
            " does not match weight of shape ", shape_str(w_in.sizes), " (in_features differ)");
  check_requant_args(x_zp, out_zp, w_zp, act_times_w_scale, multiplier, bias, w_in.sizes[0], op);
  Tensor x = contiguous(x_in), w = contiguous(w_in);
  Tensor b = bias ? contiguous(*bias) : Tensor();
  return cpu::quantized_linear(x, x_zp, w, contiguous(w_zp), bias ? &b : nullptr, contiguous(act_times_w_scale),
                               contiguous(multiplier), out_zp, relu);
}

Tensor quantized_gemm_raw(const Tensor& x_in, int64_t x_zp, const Tensor& w_in, const Tensor& w_zp, bool saturate) {
  const char* op = "quantized::gemm_raw";
  check_cpu(x_in, op, "input");
  check_cpu(w_in, op, "weight");
  FLB_CHECK(x_in.dtype == DType::UInt8 && x_in.dim() == 2, TypeError, op, ": input should be 2-D uint8, got ",
            dtype_name(x_in.dtype), " of shape ", shape_str(x_in.sizes));
  FLB_CHECK(w_in.dtype == DType::Int8 && w_in.dim() == 2, TypeError, op, ": weight should be 2-D int8, got ",
            dtype_name(w_in.dtype), " of shape ", shape_str(w_in.sizes));
  FLB_CHECK(x_in.sizes[1] == w_in.sizes[1], RuntimeError, op, ": input of shape ", shape_str(x_in.sizes),
            " does not match weight of shape ", shape_str(w_in.sizes), " (in_features differ)");
  check_zp(x_zp, op, "input");
  check_vec(w_zp, w_in.sizes[0], DType::Int32, op, "weight zero points");
  return cpu::quantized_gemm_raw(contiguous(x_in), x_zp, contiguous(w_in), contiguous(w_zp), saturate);
}

Tensor quantized_linear_dynamic(const Tensor& x_in, double x_scale, int64_t x_zp, const Tensor& w_in,
                                const Tensor& w_zp, const Tensor& w_scale, const std::optional<Tensor>& bias,
                                bool relu) {
  const char* op = "quantized::linear_dynamic";
  check_cpu(x_in, op, "input");
  check_cpu(w_in, op, "weight");
  FLB_CHECK(x_in.dtype == DType::Float32 && x_in.dim() == 2, TypeError, op,
            ": input should be a 2-D float32 tensor, got ", dtype_name(x_in.dtype), " of shape ", shape_str(x_in.sizes));
  FLB_CHECK(w_in.dtype == DType::Int8 && w_in.dim() == 2, TypeError, op,
            ": weight should be a 2-D qint8 representation (int8), got ", dtype_name(w_in.dtype), " of shape ",
            shape_str(w_in.sizes));
  FLB_CHECK(x_in.sizes[1] == w_in.sizes[1], RuntimeError, op, ": input of shape ", shape_str(x_in.sizes),
            " does not match weight of shape ", shape_str(w_in.sizes), " (in_features differ)");
  FLB_CHECK(x_scale > 0, RuntimeError, op, ": input scale must be positive, got ", x_scale);
  check_zp(x_zp, op, "input");
  const int64_t N = w_in.sizes[0];
  check_vec(w_zp, N, DType::Int32, op, "weight zero points");
  check_vec(w_scale, N, DType::Float32, op, "weight scales");
  if (bias) check_vec(*bias, N, DType::Float32, op, "bias");
  Tensor x = contiguous(x_in), w = contiguous(w_in);
  Tensor b = bias ? contiguous(*bias) : Tensor();
  return cpu::quantized_linear_dynamic(x, x_scale, x_zp, w, contiguous(w_zp), contiguous(w_scale),
                                       bias ? &b : nullptr, relu);
}

Tensor quantized_conv2d(const Tensor& x_in, int64_t x_zp, const Tensor& w_in, const Tensor& w_zp,
                        const std::optional<Tensor>& bias, const Tensor& act_times_w_scale, const Tensor& multiplier,
                        int64_t out_zp, const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                        const std::vector<int64_t>& dilation, int64_t groups, bool relu) {
  const char* op = "quantized::conv2d";
  check_int8_operands(x_in, w_in, 4, op);
  FLB_CHECK(stride.size() == 2 && padding.size() == 2 && dilation.size() == 2, RuntimeError, op,
            ": stride, padding and dilation need 2 values each");
  for (int i = 0; i < 2; i++) {
    FLB_CHECK(stride[i] > 0 && dilation[i] > 0 && padding[i] >= 0, RuntimeError, op,
              ": stride and dilation must be positive and padding non-negative");
  }
  const int64_t C = x_in.sizes[1], O = w_in.sizes[0];
  FLB_CHECK(groups >= 1 && C % groups == 0 && O % groups == 0 && w_in.sizes[1] * groups == C, RuntimeError, op,
            ": input of shape ", shape_str(x_in.sizes), " has ", C, " channels, weight of shape ",
            shape_str(w_in.sizes), " expects ", w_in.sizes[1] * groups, " (groups=", groups, ")");
  const int64_t eh = dilation[0] * (w_in.sizes[2] - 1) + 1, ew = dilation[1] * (w_in.sizes[3] - 1) + 1;
  FLB_CHECK(x_in.sizes[2] + 2 * padding[0] >= eh && x_in.sizes[3] + 2 * padding[1] >= ew, RuntimeError, op,
            ": input of shape ", shape_str(x_in.sizes), " (padded) is smaller than the kernel of weight ",
            shape_str(w_in.sizes));
  check_requant_args(x_zp, out_zp, w_zp, act_times_w_scale, multiplier, bias, O, op);
  Tensor x = contiguous(x_in), w = contiguous(w_in);
  Tensor b = bias ? contiguous(*bias) : Tensor();
  return cpu::quantized_conv2d(x, x_zp, w, contiguous(w_zp), bias ? &b : nullptr, contiguous(act_times_w_scale),
                               contiguous(multiplier), out_zp, stride, padding, dilation, groups, relu);
}

Tensor quantize_per_tensor(const Tensor& x_in, double inv_scale, int64_t zp, DType storage, int64_t qmin,
                           int64_t qmax, bool fused) {
  const char* op = "quantize_per_tensor";
  check_cpu(x_in, op, "input");
  FLB_CHECK(x_in.dtype == DType::Float32, TypeError, op, ": expected a float32 input, got ", dtype_name(x_in.dtype),
            " of shape ", shape_str(x_in.sizes));
  FLB_CHECK(storage == DType::UInt8 || storage == DType::Int8 || storage == DType::Int32, TypeError, op,
            ": the storage dtype must be uint8, int8 or int32, got ", dtype_name(storage));
  FLB_CHECK(qmin <= zp && zp <= qmax, RuntimeError, op, ": zero point ", zp, " outside [", qmin, ", ", qmax, "]");
  Tensor x = contiguous(x_in);
  Tensor out = empty(x.sizes, storage, x.device());
  cpu::quantize_per_tensor(x, (float)inv_scale, zp, qmin, qmax, fused, out);
  return out;
}

}  // namespace flambeau::ops
