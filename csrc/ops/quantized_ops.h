// Quantized int8 kernels (csrc/cpu/quantized.cpp) behind argument checks: torch.ao.nn.quantized.Linear,
// Conv2d and torch.ao.nn.quantized.dynamic.Linear call these through flambeau._C (bind_quantized.cpp).
// CPU only: a CUDA operand raises NotImplementedError (PyTorch has no CUDA quantized linear/conv either).
// Quantized tensors live in Python (flambeau/_quantized.py); here they arrive as their integer
// representations (uint8 activations, int8 weights) plus per-output-channel float32/int32 vectors.
#pragma once
#include <optional>
#include <vector>
#include "core/tensor.h"

namespace flambeau::ops {

Tensor quantized_linear(const Tensor& x, int64_t x_zp, const Tensor& w, const Tensor& w_zp,
                        const std::optional<Tensor>& bias, const Tensor& act_times_w_scale, const Tensor& multiplier,
                        int64_t out_zp, bool relu);
Tensor quantized_linear_dynamic(const Tensor& x, double x_scale, int64_t x_zp, const Tensor& w, const Tensor& w_zp,
                                const Tensor& w_scale, const std::optional<Tensor>& bias, bool relu);
Tensor quantized_conv2d(const Tensor& x, int64_t x_zp, const Tensor& w, const Tensor& w_zp,
                        const std::optional<Tensor>& bias, const Tensor& act_times_w_scale, const Tensor& multiplier,
                        int64_t out_zp, const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                        const std::vector<int64_t>& dilation, int64_t groups, bool relu);
// The int32 sums of the int8 GEMM alone, raw[m, n] = sum_k (x[m,k] - x_zp)(w[n,k] - w_zp[n]), in fbgemm's
// saturating (vpmaddubsw) or exact (vpdpbusd) arithmetic, by the SIMD leaf of the capability in force: a
// test hook, so that both arithmetics of every leaf are checked on any CPU (the modules use the one
// fbgemm would). x: [M, K] uint8, w: [N, K] int8, w_zp: [N] int32.
Tensor quantized_gemm_raw(const Tensor& x, int64_t x_zp, const Tensor& w, const Tensor& w_zp, bool saturate);
// The integer representation of float32 x quantized with reciprocal scale inv_scale (a float32 value) and
// zero point zp, clamped to [qmin, qmax], as `storage` (UInt8, Int8 or Int32). fused: fbgemm's
// round(fma(x, inv, zp)) (PyTorch's per-tensor quint8/qint8); otherwise round(x * inv + zp) in float32.
Tensor quantize_per_tensor(const Tensor& x, double inv_scale, int64_t zp, DType storage, int64_t qmin, int64_t qmax,
                           bool fused);

}  // namespace flambeau::ops
