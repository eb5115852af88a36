// CPU kernel entry points for convolution and pooling (csrc/cpu/conv.cpp, csrc/cpu/pooling.cpp).
// As with csrc/cpu/kernels.h: the op layer (csrc/ops/conv.cpp, csrc/ops/pooling.cpp) has already
// checked dtypes (float32/float64), devices, shapes and arguments, computed the output sizes and
// allocated the outputs; these functions only compute. All tensors passed here are contiguous NCHW.
#pragma once
#include <cstdint>
#include "core/tensor.h"

namespace flambeau::cpu {

// Geometry of a 2-D convolution y = conv2d(x, w): x is [N, C, H, W], w is [O, C/groups, KH, KW],
// y is [N, O, OH, OW]. pad_h / pad_w are the top / left padding; the bottom / right padding is
// implied by OH / OW (so asymmetric 'same' padding needs nothing more).
struct ConvGeometry {
  int64_t N, C, H, W;      // input
  int64_t O, KH, KW;       // weight (C/groups input channels per group)
  int64_t OH, OW;          // output
  int64_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups;
};

// y = conv2d(x, w) + bias (bias may be null).
void conv2d_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor* bias, const ConvGeometry& g);
// grad_x = d/dx of <grad_y, conv2d(x, w)>: the transposed convolution of grad_y (overwrites grad_x).
void conv2d_backward_input(const Tensor& grad_x, const Tensor& grad_y, const Tensor& w, const ConvGeometry& g);
// grad_w = sum over images of grad_y (x) im2col(x) (overwrites grad_w).
void conv2d_backward_weight(const Tensor& grad_w, const Tensor& grad_y, const Tensor& x, const ConvGeometry& g);
// grad_b[o] = sum over n, oh, ow of grad_y[n, o, oh, ow] (overwrites grad_b).
void conv2d_backward_bias(const Tensor& grad_b, const Tensor& grad_y);
// y[n, c, :, :] += bias[c] (conv_transpose2d's bias).
void conv2d_add_bias(const Tensor& y, const Tensor& bias);
// F.unfold: col [N, C*KH*KW, OH*OW] = im2col of x [N, C, H, W] (g.O, g.groups unused); F.fold: its adjoint
// (x overwritten with the sum of the columns' entries over each input position).
void unfold2d(const Tensor& col, const Tensor& x, const ConvGeometry& g);
void fold2d(const Tensor& x, const Tensor& col, const ConvGeometry& g);

// Pooling over [planes = N*C, H, W] -> [planes, OH, OW]. Window of output (oh, ow) starts at
// (oh*sh - ph, ow*sw - pw); max windows step by the dilation.
struct PoolGeometry {
  int64_t planes, H, W, OH, OW;
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
};

// Max pooling; `indices` (int64, flat h*W + w within the plane) may be null.
void max_pool2d_forward(const Tensor& y, const Tensor* indices, const Tensor& x, const PoolGeometry& g);
// grad_x[plane, indices[i]] += grad_y[i] (overwrites grad_x first). An index outside [0, H*W) is
// skipped, and an IndexError is thrown once the pass is done.
void max_pool2d_backward(const Tensor& grad_x, const Tensor& grad_y, const Tensor& indices, int64_t in_plane_size);
// divisor_override == 0 means none.
void avg_pool2d_forward(const Tensor& y, const Tensor& x, const PoolGeometry& g, bool count_include_pad,
                        int64_t divisor_override);
void avg_pool2d_backward(const Tensor& grad_x, const Tensor& grad_y, const PoolGeometry& g, bool count_include_pad,
                         int64_t divisor_override);
// Adaptive pooling: output cell o covers [floor(o*I/O), ceil((o+1)*I/O)) on each axis.
void adaptive_avg_pool2d_forward(const Tensor& y, const Tensor& x, const PoolGeometry& g);
void adaptive_avg_pool2d_backward(const Tensor& grad_x, const Tensor& grad_y, const PoolGeometry& g);
void adaptive_max_pool2d_forward(const Tensor& y, const Tensor* indices, const Tensor& x, const PoolGeometry& g);

}  // namespace flambeau::cpu
