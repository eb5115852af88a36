// CPU kernel entry points. The dispatch layer (csrc/ops/) has already checked dtypes, devices and
// shapes, allocated outputs and broadcast inputs (stride-0 views) to the output's shape; these
// functions only compute. The CUDA backend (csrc/cuda/kernels.h) has the same signatures.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>
#include "core/scalar.h"
#include "core/tensor.h"
#include "ops/op_enums.h"

namespace flambeau::cpu {

// Strided copy with dtype conversion; dst and src have the same shape (src may have 0 strides).
void copy(const Tensor& dst, const Tensor& src);
// cat along dim d into the contiguous `out` of parts whose blocks t[o] (o over the dims before d) are
// contiguous and evenly spaced (block_pitch >= 0: contiguous tensors, chunks of one): for each outer
// index, every input's block in turn (one memcpy each), the outer indices split among threads.
int64_t block_pitch(const Tensor& t, int64_t d);
void cat_rows(const Tensor& out, const std::vector<Tensor>& parts, int64_t d);
// out = contiguous x inside a `value` border, before[d] >= 0 elements before it in each dim.
void pad_constant(const Tensor& out, const Tensor& x, const std::vector<int64_t>& before, const Scalar& value);
// Reflect/replicate/circular pads of x's last maps.size() dims (x contiguous): out[.., i..] = x[.., maps[j][i_j]..],
// and its adjoint (gx zeroed, then += through the maps).
void pad_gather(const Tensor& out, const Tensor& x, const std::vector<std::vector<int64_t>>& maps);
void pad_gather_backward(const Tensor& gx, const Tensor& g, const std::vector<std::vector<int64_t>>& maps);
void fill(const Tensor& dst, const Scalar& value);
// out (contiguous) = `flipped`, a view of the input with the flipped dims' strides negated (cpu only).
void flip_copy(const Tensor& out, const Tensor& flipped);
// out (contiguous) = src with the elements outside the lower (upper) triangle zeroed: j - i > diagonal
// (j - i < diagonal) in the last two dims. out may be src itself (tril_/triu_).
void tri(const Tensor& out, const Tensor& src, int64_t diagonal, bool upper);

// out = op(a) / op(a, b); all share out's shape. Bool-valued ops write a bool out.
void unary(UnaryOp op, const Tensor& out, const Tensor& a);
void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b);
// Float32/float64 addcmul, addcdiv, lerp: operands already broadcast to out's shape, one dtype.
void ternary(TernaryOp op, const Tensor& out, const Tensor& s, const Tensor& a, const Tensor& b, double value);
void clamp(const Tensor& out, const Tensor& a, const Scalar* lo, const Scalar* hi);
void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b);
// grad * (x > threshold): ReLU's backward without materialising the mask.
void threshold_backward(const Tensor& out, const Tensor& grad, const Tensor& x, double threshold);

// Reductions over `reduce_dims` (sorted, unique, non-empty). `out` has the kept dims' shape
// (keepdim is handled by the caller with a view).
void reduce(ReduceOp op, const Tensor& out, const Tensor& in, const std::vector<int64_t>& reduce_dims);
void var(const Tensor& out, const Tensor& in, const std::vector<int64_t>& reduce_dims, double correction, bool take_sqrt);
// The 2-norm of each slice: sqrt of the float64 sum of squares (cpu only; ops::norm2 composes it elsewhere).
void norm2(const Tensor& out, const Tensor& in, const std::vector<int64_t>& reduce_dims);
void logsumexp(const Tensor& out, const Tensor& in, const std::vector<int64_t>& reduce_dims);
// Values and int64 indices of the max (is_max) or min along one dim; NaN wins, first index on ties.
void arg_reduce(bool is_max, const Tensor* values, const Tensor& indices, const Tensor& in, int64_t dim);

// C = A @ B (2-D, any strides) and batched (3-D).
void mm(const Tensor& c, const Tensor& a, const Tensor& b);
void bmm(const Tensor& c, const Tensor& a, const Tensor& b);
// out[M,N] = x[M,K] @ w[N,K]^T + bias[N]: F.linear, with the bias added in the GEMM's epilogue.
void linear(const Tensor& out, const Tensor& x, const Tensor& w, const Tensor* bias);

// Pairwise p-norm distances (torch.cdist's direct path): out[b, i, j] = ||x1[b, i] - x2[b, j]||_p for
// contiguous x1 [B, P, M], x2 [B, R, M] (or [P, M], [R, M]); and gx1 = d(sum g * out) / dx1 given out (cpu only).
void cdist(const Tensor& out, const Tensor& x1, const Tensor& x2, double p);
void cdist_backward(const Tensor& gx1, const Tensor& grad, const Tensor& x1, const Tensor& x2, const Tensor& dist,
                    double p);
// One LSTM / GRU step's pointwise part, fused (cpu/rnn.cpp): gates from xp + hp ([N, 4H] / [N, 3H]
// contiguous), the activated gates saved in acts; backward gives the gates' and the previous state's
// gradients (dh / dc may be null: zero). CPU only.
void lstm_cell(const Tensor& h, const Tensor& c, const Tensor& acts, const Tensor& xp, const Tensor& hp,
               const Tensor& c_prev);
void lstm_cell_backward(const Tensor& dgates, const Tensor& dc_prev, const Tensor* dh, const Tensor* dc,
                        const Tensor& acts, const Tensor& c_prev, const Tensor& c);
// One LSTM layer and direction over the whole sequence (cpu/rnn_layer.cpp): out [L, N, H] gets every
// step's h, c_n the last cell state; cs [L, N, H] and acts [L, N, 4H] (both or neither) every step's cell
// state and activated gates for the backward. xp [L, N, 4H], h0, c0 [N, H], w_hh [4H, H] contiguous.
void lstm_layer(const Tensor& out, const Tensor& c_n, const Tensor* cs, const Tensor* acts, const Tensor& xp,
                const Tensor& h0, const Tensor& c0, const Tensor& w_hh, const Tensor* b_hh, bool reverse);
void gru_cell(const Tensor& h, const Tensor& acts, const Tensor& xp, const Tensor& hp, const Tensor& h_prev);
void gru_cell_backward(const Tensor& dxp, const Tensor& dhp, const Tensor& dh_prev, const Tensor& dh,
                       const Tensor& acts, const Tensor& hp, const Tensor& h_prev);

// F.pdist: out[k] = ||x[i] - x[j]||_p for the pairs i < j in row-major order (x [N, M] contiguous), and
// gx = d(sum grad * out) / dx (cpu only).
void pdist(const Tensor& out, const Tensor& x, double p);
void pdist_backward(const Tensor& gx, const Tensor& grad, const Tensor& x, const Tensor& dist, double p);

// Softmax family along `dim`; input contiguous.
void softmax(const Tensor& out, const Tensor& in, int64_t dim, bool log);
void softmax_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, int64_t dim, bool log);

// Indexing. `src_perm` has the indexed dims first; idx are contiguous int64 of one broadcast shape,
// already bounds-checked and wrapped. out_perm has shape bshape + remaining dims.
void index_gather(const Tensor& out_perm, const Tensor& src_perm, const std::vector<Tensor>& idx);
void index_put(const Tensor& dst_perm, const Tensor& values_perm, const std::vector<Tensor>& idx, bool accumulate);
Tensor nonzero(const Tensor& t);
// x[mask], x and the bool mask contiguous and of one shape: a 1-D tensor of the selected elements.
Tensor masked_select(const Tensor& x, const Tensor& mask);
// False when some index is outside [0, in.sizes[dim]) (out is then garbage; nothing outside `in` is read).
bool gather(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index);
// The smallest and largest entry of a contiguous non-empty int64 index, in one pass (bounds checks).
std::pair<int64_t, int64_t> index_range(const Tensor& index);
// out = in's slices along dim at the (checked, non-negative) indices; in contiguous, out fresh.
void index_select(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index);
void scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src);
void scatter_reduce(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, ScatterReduce op);

// Creation and Philox random numbers (counter-based: element i of a draw at `offset` is the same on
// every device).
void arange(const Tensor& out, double start, double step);
void linspace(const Tensor& out, double start, double end);
// bincount of a contiguous 1-D integer tensor (bincount.cpp): the output length max(x) + 1 (0 when
// empty), or -1 when a value is negative; then the counts into a contiguous int64 `out` of at least
// that length.
int64_t bincount_length(const Tensor& x);
void bincount(const Tensor& out, const Tensor& x);
// float32/float64 base ** linspace(start, end), as PyTorch's logspace (random.cpp says how)
void logspace(const Tensor& out, double start, double end, double base);
void rand(const Tensor& out, uint64_t seed, uint64_t offset, double low, double high);
void randn(const Tensor& out, uint64_t seed, uint64_t offset, double mean, double std);
void randint(const Tensor& out, uint64_t seed, uint64_t offset, int64_t low, int64_t high);
void bernoulli(const Tensor& out, const Tensor& p, uint64_t seed, uint64_t offset);
void bernoulli_scalar(const Tensor& out, double p, uint64_t seed, uint64_t offset);
// torch.multinomial (cpu/multinomial.cpp), probs contiguous float32/float64 [n] or [rows, n] with n >= 1 in
// the sampling call. multinomial_check throws PyTorch's message for an inf, nan or negative entry or a
// zero row (whole_tensor_first: its no-replacement / one-draw wording and order, else its kernel's);
// multinomial fills out (contiguous int64 [rows, n_sample]) from 2 * rows * (replacement || n_sample == 1
// ? n_sample : n) stream positions at offset.
void multinomial_check(const Tensor& probs, bool whole_tensor_first);
void multinomial(const Tensor& out, const Tensor& probs, int64_t n_sample, bool replacement, uint64_t seed,
                 uint64_t offset);

}  // namespace flambeau::cpu
