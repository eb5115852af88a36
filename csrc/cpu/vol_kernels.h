// CPU kernel entry points for the volumetric (3-D) layers: convolution (csrc/cpu/conv3d.cpp) and
// pooling (csrc/cpu/pooling3d.cpp). As with csrc/cpu/nn_kernels.h, the op layer (csrc/ops/conv3d.cpp,
// csrc/ops/pooling3d.cpp) has already checked dtypes (float32 or float64), devices and shapes,
// allocated the outputs and made every tensor passed here contiguous (NCDHW).
#pragma once
#include <cstdint>
#include "core/tensor.h"

namespace flambeau::cpu {

// Geometry of y = conv3d(x, w): x [N, C, D, H, W], w [O, C/groups, KD, KH, KW], y [N, O, OD, OH, OW];
// output (od, oh, ow) reads x[..., od*sd - pd + kd*dd, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw] (zero
// outside). Padding is the front/top/left padding; the back/bottom/right padding only shows in the
// output size (asymmetric padding='same').
struct Conv3dGeometry {
  int64_t N, C, D, H, W, O, KD, KH, KW, OD, OH, OW;
  int64_t sd, sh, sw, pd, ph, pw, dd, dh, dw;
  int64_t groups;
};

// y = conv3d(x, w) + bias (bias may be null); y is overwritten.
void conv3d_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor* bias, const Conv3dGeometry& g);
// grad_x = the adjoint of conv3d(., w) applied to grad_y (overwrites grad_x): conv_transpose3d's forward.
void conv3d_backward_input(const Tensor& grad_x, const Tensor& grad_y, const Tensor& w, const Conv3dGeometry& g);
// grad_w = sum over images of grad_y (x) col(x) (overwrites grad_w; N may be 0: zeros).
void conv3d_backward_weight(const Tensor& grad_w, const Tensor& grad_y, const Tensor& x, const Conv3dGeometry& g);
// grad_b[o] = sum over n and positions of grad_y[n, o] (grad_y is [N, O, ...], any number of trailing dims).
void conv3d_backward_bias(const Tensor& grad_b, const Tensor& grad_y);
// y[n, c, ...] += bias[c] (conv_transpose3d's bias).
void conv3d_add_bias(const Tensor& y, const Tensor& bias);

// Pooling over [planes = N*C, D, H, W] -> [planes, OD, OH, OW]. The window of output (od, oh, ow)
// starts at (od*sd - pd, oh*sh - ph, ow*sw - pw); max windows step by the dilation.
struct Pool3dGeometry {
  int64_t planes, D, H, W, OD, OH, OW;
  int64_t kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw;
};

// Max pooling; `indices` (int64, flat d*H*W + h*W + w within the volume) may be null. A NaN wins.
void max_pool3d_forward(const Tensor& y, const Tensor* indices, const Tensor& x, const Pool3dGeometry& g);
// grad_x[plane, indices[i]] += grad_y[plane, i] (grad_x overwritten first); `planes` volumes of
// in_volume input and out_volume output elements. An index outside [0, in_volume) is skipped (a
// window with no input element, as PyTorch); returns false if there was one.
bool max_pool3d_backward(const Tensor& grad_x, const Tensor& grad_y, const Tensor& indices, int64_t planes,
                         int64_t in_volume, int64_t out_volume);
// max_unpool3d: y[plane, indices[i]] = x[plane, i] (y zeroed first). Returns the first index outside
// [0, out_volume) (or -1 when all are valid); nothing is written past the volume.
int64_t max_unpool3d_forward(const Tensor& y, const Tensor& x, const Tensor& indices, int64_t planes,
                             int64_t in_volume, int64_t out_volume);
// Its gradient: grad_x[plane, i] = grad_y[plane, indices[i]] (indices already checked).
void max_unpool3d_backward(const Tensor& grad_x, const Tensor& grad_y, const Tensor& indices, int64_t planes,
                           int64_t in_volume, int64_t out_volume);
// divisor_override == 0 means none.
void avg_pool3d_forward(const Tensor& y, const Tensor& x, const Pool3dGeometry& g, bool count_include_pad,
                        int64_t divisor_override);
void avg_pool3d_backward(const Tensor& grad_x, const Tensor& grad_y, const Pool3dGeometry& g, bool count_include_pad,
                         int64_t divisor_override);
// Adaptive pooling: output cell o covers [floor(o*I/O), ceil((o+1)*I/O)) on each axis.
void adaptive_avg_pool3d_forward(const Tensor& y, const Tensor& x, const Pool3dGeometry& g);
void adaptive_avg_pool3d_backward(const Tensor& grad_x, const Tensor& grad_y, const Pool3dGeometry& g);
void adaptive_max_pool3d_forward(const Tensor& y, const Tensor* indices, const Tensor& x, const Pool3dGeometry& g);

}  // namespace flambeau::cpu
