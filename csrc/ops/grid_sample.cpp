// grid_sample and its backward: checks (PyTorch's check_grid_sampler_common / _2d, plus names for
// mode and padding_mode), allocation, dispatch (kernels in csrc/cpu/grid_sample.cpp).
#include "ops/grid_sample.h"

#include <string>
#include "core/copy.h"
#include "core/scalar.h"
#include "core/view.h"
#include "cpu/grid_sample.h"
#include "ops/dispatch.h"

namespace flambeau::ops {

namespace {

cpu::GridInterp parse_mode(const char* op, const std::string& mode) {
  if (mode == "bilinear") return cpu::GridInterp::Bilinear;
  if (mode == "nearest") return cpu::GridInterp::Nearest;
  if (mode == "bicubic") return cpu::GridInterp::Bicubic;
  throw ValueError(str_cat(op, ": expected mode to be 'bilinear', 'nearest' or 'bicubic', but got: '", mode, "'"));
}

cpu::GridPadding parse_padding(const char* op, const std::string& padding) {
  if (padding == "zeros") return cpu::GridPadding::Zeros;
  if (padding == "border") return cpu::GridPadding::Border;
  if (padding == "reflection") return cpu::GridPadding::Reflection;
  throw ValueError(str_cat(op, ": expected padding_mode to be 'zeros', 'border', or 'reflection', but got: '",
                           padding, "'"));
}

// Checks input and grid; returns the geometry.
cpu::GridSampleGeometry check_args(const char* op, const Tensor& input, const Tensor& grid, const std::string& mode,
                                   const std::string& padding_mode, bool align_corners) {
  cpu::GridSampleGeometry g{};
  g.mode = parse_mode(op, mode);
  g.padding = parse_padding(op, padding_mode);
  g.align_corners = align_corners;
  FLB_CHECK(input.device() == grid.device(), RuntimeError, op, ": expected input and grid to be on same device, but input is on ",
            input.device().str(), " and grid is on ", grid.device().str());
  FLB_CHECK(is_floating(input.dtype), NotImplementedError, op, ": not implemented for ", dtype_name(input.dtype),
            " input (float32 or float64 only)");
  FLB_CHECK(grid.dtype == input.dtype, RuntimeError, op, ": expected grid to have the dtype of input (",
            dtype_name(input.dtype), "), but got ", dtype_name(grid.dtype));
  FLB_CHECK(input.dim() >= 1 && grid.dim() >= 1 && input.sizes[0] == grid.sizes[0], RuntimeError, op,
            ": expected grid and input to have same batch size, but got input with sizes ", shape_str(input.sizes),
            " and grid with sizes ", shape_str(grid.sizes));
  FLB_CHECK(grid.sizes.back() == input.dim() - 2, RuntimeError, op, ": expected grid to have size ", input.dim() - 2,
            " in last dimension, but got grid with sizes ", shape_str(grid.sizes));
  for (int64_t d = 2; d < input.dim(); ++d)
    FLB_CHECK(input.sizes[d] > 0, RuntimeError, op,
              ": expected input to have non-empty spatial dimensions, but input has sizes ", shape_str(input.sizes),
              " with dimension ", d, " being empty");
  const bool vol = input.dim() != 4;
  FLB_CHECK(input.dim() == (vol ? 5 : 4) && grid.dim() == input.dim(), RuntimeError, op, ": expected ",
            vol ? "5D" : "4D", " input and grid with same number of dimensions, but got input with sizes ",
            shape_str(input.sizes), " and grid with sizes ", shape_str(grid.sizes));
  FLB_CHECK(!vol || g.mode != cpu::GridInterp::Bicubic, RuntimeError, op,
            ": bicubic interpolation only supports 4D input, got input with sizes ", shape_str(input.sizes));
  g.N = input.sizes[0];
  g.C = input.sizes[1];
  g.D = vol ? input.sizes[2] : 1;
  g.H = input.sizes[input.dim() - 2];
  g.W = input.sizes[input.dim() - 1];
  g.OD = vol ? grid.sizes[1] : 1;
  g.OH = grid.sizes[grid.dim() - 3];
  g.OW = grid.sizes[grid.dim() - 2];
  return g;
}

}  // namespace

Tensor grid_sample(const Tensor& input, const Tensor& grid, const std::string& mode, const std::string& padding_mode,
                   bool align_corners) {
  const char* op = "grid_sample";
  const cpu::GridSampleGeometry g = check_args(op, input, grid, mode, padding_mode, align_corners);
  const bool vol = input.dim() == 5;
  Tensor out = empty(vol ? Shape{g.N, g.C, g.OD, g.OH, g.OW} : Shape{g.N, g.C, g.OH, g.OW}, input.dtype,
                     input.device());
  if (out.numel() == 0) return out;
  Tensor x = contiguous(input), gr = contiguous(grid);
  if (vol) FLB_CPU_ONLY(input.device(), op, grid_sample3d_forward, out, x, gr, g);
  else FLB_CPU_ONLY(input.device(), op, grid_sample2d_forward, out, x, gr, g);
  return out;
}

std::pair<std::optional<Tensor>, std::optional<Tensor>> grid_sample_backward(
    const Tensor& grad_output, const Tensor& input, const Tensor& grid, const std::string& mode,
    const std::string& padding_mode, bool align_corners, std::array<bool, 2> output_mask) {
  const char* op = "grid_sample_backward";
  const cpu::GridSampleGeometry g = check_args(op, input, grid, mode, padding_mode, align_corners);
  const bool vol = input.dim() == 5;
  const Shape os = vol ? Shape{g.N, g.C, g.OD, g.OH, g.OW} : Shape{g.N, g.C, g.OH, g.OW};
  FLB_CHECK(grad_output.sizes == os, RuntimeError, op, ": grad_output has shape ", shape_str(grad_output.sizes),
            ", expected ", shape_str(os));
  FLB_CHECK(grad_output.dtype == input.dtype && grad_output.device() == input.device(), RuntimeError, op,
            ": grad_output (", dtype_name(grad_output.dtype), " on ", grad_output.device().str(),
            ") must match input (", dtype_name(input.dtype), " on ", input.device().str(), ")");
  std::optional<Tensor> gi, gg;
  if (output_mask[0]) gi = empty(input.sizes, input.dtype, input.device());
  if (output_mask[1]) gg = empty(grid.sizes, grid.dtype, grid.device());
  if (input.device().is_cuda() && (gi || gg))
    throw NotImplementedError(std::string(op) + ": no CUDA kernel yet (CPU only)");
  // Nothing to sample (no points, no channels, or no samples): the gradients are zero.
  if (g.N == 0 || g.C == 0 || g.OD == 0 || g.OH == 0 || g.OW == 0) {
    if (gi && gi->numel()) fill_(*gi, Scalar::from_int(0));
    if (gg && gg->numel()) fill_(*gg, Scalar::from_int(0));
    return {gi, gg};
  }
  if (!gi && !gg) return {gi, gg};
  Tensor gy = contiguous(grad_output), x = contiguous(input), gr = contiguous(grid);
  if (vol)
    FLB_CPU_ONLY(input.device(), op, grid_sample3d_backward, gi ? &*gi : nullptr, gg ? &*gg : nullptr, gy, x, gr, g);
  else
    FLB_CPU_ONLY(input.device(), op, grid_sample2d_backward, gi ? &*gi : nullptr, gg ? &*gg : nullptr, gy, x, gr, g);
  return {gi, gg};
}

}  // namespace flambeau::ops
