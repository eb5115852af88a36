// torch.multinomial: argument checks in PyTorch's order and with its messages, output allocation, one
// reservation of the Philox stream, the CPU kernel (cpu/multinomial.cpp). float16/bfloat16 rows are read
// as float32 (exact); a CUDA tensor is sampled on the host and the indices moved back (no CUDA kernel:
// the rows are read once for the checks anyway).
#include "ops/dispatch.h"
#include "ops/norm_optim_ops.h"
#include "ops/ops.h"

namespace flambeau::ops {

namespace {
// PyTorch's ScalarType names, for "got: Long".
const char* torch_type_name(DType t) {
  switch (t) {
    case DType::Bool: return "Bool";
    case DType::Int64: return "Long";
    case DType::Float32: return "Float";
    case DType::Float64: return "Double";
    case DType::UInt8: return "Byte";
    case DType::Int8: return "Char";
    case DType::Int16: return "Short";
    case DType::Int32: return "Int";
    case DType::Float16: return "Half";
    case DType::BFloat16: return "BFloat16";
    case DType::Complex64: return "ComplexFloat";
    case DType::Complex128: return "ComplexDouble";
  }
  return "?";
}
}  // namespace

Tensor multinomial(const Tensor& probs, int64_t n_sample, bool replacement, std::optional<DType> out_dtype) {
  const int64_t ndim = (int64_t)probs.sizes.size();
  FLB_CHECK(ndim == 1 || ndim == 2, RuntimeError, "prob_dist must be 1 or 2 dim");
  FLB_CHECK(is_floating_point(probs.dtype), RuntimeError,
            "multinomial only supports floating-point dtypes for input, got: ", torch_type_name(probs.dtype));
  FLB_CHECK(!out_dtype || *out_dtype == DType::Int64, RuntimeError, "multinomial expects Long tensor out, got: ",
            torch_type_name(out_dtype.value_or(DType::Int64)));
  FLB_CHECK(n_sample > 0, RuntimeError, "cannot sample n_sample <= 0 samples");
  const int64_t n = probs.sizes.back(), rows = ndim == 2 ? probs.sizes[0] : 1;
  FLB_CHECK(replacement || n_sample <= n, RuntimeError,
            "cannot sample n_sample > prob_dist.size(-1) samples without replacement");
  FLB_CHECK(n <= (int64_t(1) << 24), RuntimeError, "number of categories cannot exceed 2^24");
  Tensor out = empty(ndim == 1 ? Shape{n_sample} : Shape{rows, n_sample}, DType::Int64, cpu_device());
  if (rows == 0) return to(out, DType::Int64, probs.device(), false);
  // PyTorch's no-replacement / one-draw path starts with an aminmax of the whole tensor.
  const bool one_pass_path = !replacement || n_sample == 1;
  FLB_CHECK(n > 0 || !one_pass_path, RuntimeError,
            "aminmax(): cannot compute aminmax over an empty dimension as the operation has no identity.");
  Tensor p = to(contiguous(probs), is_half(probs.dtype) ? DType::Float32 : probs.dtype, cpu_device(), false);
  cpu::multinomial_check(p, one_pass_path);
  const int64_t draws = rows * (replacement || n_sample == 1 ? n_sample : n);
  auto [seed, offset] = reserve_random(2 * draws);
  cpu::multinomial(out, p, n_sample, replacement, seed, offset);
  return to(out, DType::Int64, probs.device(), false);
}

}  // namespace flambeau::ops
