// Op entry points: argument checks, shape inference, output allocation and dispatch to cpu:: or
// cuda::. This layer is the only one that knows both backends. Every check runs before any memory
// is touched and names the op and the shapes.
#pragma once
#include <optional>
#include <utility>
#include <vector>
#include "core/copy.h"
#include "core/scalar.h"
#include "core/tensor.h"
#include "core/view.h"
#include "ops/op_enums.h"

namespace flambeau::ops {

using Dims = std::vector<int64_t>;

// Elementwise. `out`, when given, must have the broadcast shape and the result dtype (it may be an
// input: in-place ops).
Tensor unary(UnaryOp op, const Tensor& a, const std::optional<Tensor>& out);
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b, const std::optional<Tensor>& out);
Tensor clamp(const Tensor& a, std::optional<Scalar> lo, std::optional<Scalar> hi, const std::optional<Tensor>& out);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// s + value * a * b, s + value * a / b, and lerp(start, end, weight): float32/float64 operands of one
// dtype and device, broadcast together (TernaryOp in op_enums.h has the exact rounding).
Tensor addcmul(const Tensor& s, const Tensor& a, const Tensor& b, double value, const std::optional<Tensor>& out);
Tensor addcdiv(const Tensor& s, const Tensor& a, const Tensor& b, double value, const std::optional<Tensor>& out);
Tensor lerp(const Tensor& start, const Tensor& end, const Tensor& weight, const std::optional<Tensor>& out);
Tensor threshold_backward(const Tensor& grad, const Tensor& x, double threshold);

// Reductions. Empty dims = all dims.
Tensor reduce(ReduceOp op, const Tensor& t, const Dims& dims, bool keepdim);
Tensor var(const Tensor& t, const Dims& dims, double correction, bool keepdim, bool take_sqrt);
// The 2-norm over dims (all when empty): one fused pass on the CPU (float64 sum of squares),
// sqrt(sum(t * t)) on other devices.
Tensor norm2(const Tensor& t, const Dims& dims, bool keepdim);
Tensor logsumexp(const Tensor& t, const Dims& dims, bool keepdim);
std::pair<Tensor, Tensor> max_min_dim(const Tensor& t, int64_t dim, bool keepdim, bool is_max);
Tensor arg_max_min(const Tensor& t, std::optional<int64_t> dim, bool keepdim, bool is_max);

// Linear algebra and softmax.
Tensor mm(const Tensor& a, const Tensor& b);
Tensor bmm(const Tensor& a, const Tensor& b);
Tensor linear(const Tensor& x, const Tensor& w, const std::optional<Tensor>& bias);  // x 2-D
// torch.cdist's direct path on [B, P, M] and [B, R, M], or [P, M] and [R, M] (the Python layer broadcasts the batch dims
// and takes the matrix-product path for large Euclidean cases), and its gradient for x1.
Tensor cdist(const Tensor& x1, const Tensor& x2, double p);
Tensor cdist_backward(const Tensor& grad, const Tensor& x1, const Tensor& x2, const Tensor& dist, double p);
// The fused pointwise part of an LSTM / GRU step (cpu/rnn.cpp): (h, c, acts) = lstm_cell(xp, hp, c_prev),
// (dgates, dc_prev) = lstm_cell_backward(dh?, dc?, acts, c_prev, c); (h, acts) = gru_cell(xp, hp, h_prev),
// (dxp, dhp, dh_prev) = gru_cell_backward(dh, acts, hp, h_prev).
std::vector<Tensor> lstm_cell(const Tensor& xp, const Tensor& hp, const Tensor& c_prev);
std::vector<Tensor> lstm_cell_backward(const std::optional<Tensor>& dh, const std::optional<Tensor>& dc,
                                       const Tensor& acts, const Tensor& c_prev, const Tensor& c);
// One LSTM layer and direction over a sequence, the time loop in C++ (cpu/rnn_layer.cpp): xp [L, N, 4H]
// (x W_ih^T + b_ih of every step), h0, c0 [N, H], w_hh [4H, H], b_hh [4H] or none. Returns (out [L, N, H],
// h_n, c_n) and, with keep, also every step's cell state cs [L, N, H] and activated gates acts [L, N, 4H]
// (what lstm_cell_backward needs); h_n is out's last step (a view).
std::vector<Tensor> lstm_layer(const Tensor& xp, const Tensor& h0, const Tensor& c0, const Tensor& w_hh,
                               const std::optional<Tensor>& b_hh, bool reverse, bool keep);
std::vector<Tensor> gru_cell(const Tensor& xp, const Tensor& hp, const Tensor& h_prev);
std::vector<Tensor> gru_cell_backward(const Tensor& dh, const Tensor& acts, const Tensor& hp, const Tensor& h_prev);
// F.pdist on [N, M]: the N (N - 1) / 2 distances of rows i < j, and its gradient.
Tensor pdist(const Tensor& x, double p);
Tensor pdist_backward(const Tensor& grad, const Tensor& x, const Tensor& dist, double p);
Tensor softmax(const Tensor& t, int64_t dim, bool log);
Tensor softmax_backward(const Tensor& grad, const Tensor& out, int64_t dim, bool log);

// Indexing and joining.
Tensor index(const Tensor& t, const std::vector<std::optional<Tensor>>& indices);
Tensor& index_put_(Tensor& t, const std::vector<std::optional<Tensor>>& indices, const Tensor& values, bool accumulate);
Tensor nonzero(const Tensor& t);
// x[mask] with a bool mask of x's shape (broadcast by the caller), on x's device: 1-D, row-major order.
Tensor masked_select(const Tensor& x, const Tensor& mask);
// F.one_hot on the CPU: int64 [..., num_classes] (-1: max + 1), the bounds checked in one pass.
Tensor one_hot(const Tensor& t, int64_t num_classes);
Tensor cat(const std::vector<Tensor>& ts, int64_t dim);
// torch.stack without promotion: equal shapes and one dtype (else an error naming the entry), the cat of the
// unsqueezed inputs.
Tensor stack(const std::vector<Tensor>& ts, int64_t dim);
Tensor index_select(const Tensor& t, int64_t dim, const Tensor& index, bool allow_negative = false);
Tensor gather(const Tensor& t, int64_t dim, const Tensor& index);
Tensor& scatter_add_(Tensor& t, int64_t dim, const Tensor& index, const Tensor& src);
// self[..., index[i], ...] = reduce(self[..., index[i], ...], src[i]) along dim, reduce one of "sum",
// "prod", "amax", "amin", "assign" (include_self and mean are composed in Python). CPU only for now.
Tensor& scatter_reduce_(Tensor& t, int64_t dim, const Tensor& index, const Tensor& src, const std::string& reduce);
// A fresh copy with the order of `dims` reversed.
Tensor flip(const Tensor& t, const Dims& dims);
// torch.roll: shifts along dims (empty dims: the flattened tensor, one shift); a fresh tensor.
Tensor roll(const Tensor& t, const std::vector<int64_t>& shifts, const Dims& dims);
// tril (upper = false) / triu of the last two dims; in_place writes t (tril_/triu_) and returns it.
Tensor tri(const Tensor& t, int64_t diagonal, bool upper, bool in_place);

// Creation and random numbers (one Philox stream for all devices).
Tensor full(const Shape& shape, const Scalar& v, DType dtype, Device device);
// F.pad(x, mode='constant') with non-negative pads: before[d] / after[d] elements of `value` around dim d.
Tensor constant_pad(const Tensor& x, const std::vector<int64_t>& before, const std::vector<int64_t>& after,
                    const Scalar& value);
// F.pad's other modes on the CPU: maps[j] (values in [0, I_j)) gives, for each output index of the j-th of
// x's last maps.size() dims, the input index it copies; the backward adds through the same maps into x's shape.
Tensor pad_gather(const Tensor& x, const std::vector<std::vector<int64_t>>& maps);
Tensor pad_gather_backward(const Tensor& grad, const Shape& input_shape, const std::vector<std::vector<int64_t>>& maps);
Tensor arange(double start, double end, double step, DType dtype, Device device);
Tensor linspace(double start, double end, int64_t steps, DType dtype, Device device);
// bincount without weights, CPU: int64 counts of length max(max(x) + 1, minlength)
Tensor bincount(const Tensor& x, int64_t minlength);
// float32/float64 only (computed on the CPU, then moved to `device`)
Tensor logspace(double start, double end, int64_t steps, double base, DType dtype, Device device);
Tensor eye(int64_t n, int64_t m, DType dtype, Device device);
void manual_seed(uint64_t seed);
uint64_t initial_seed();
std::pair<uint64_t, uint64_t> get_rng_state();
void set_rng_state(uint64_t seed, uint64_t offset);
Tensor rand(const Shape& shape, DType dtype, Device device);
Tensor randn(const Shape& shape, DType dtype, Device device);
Tensor randint(int64_t low, int64_t high, const Shape& shape, Device device);
Tensor randperm(int64_t n, Device device);
Tensor& uniform_(Tensor& t, double low, double high);
Tensor& normal_(Tensor& t, double mean, double std);
Tensor bernoulli(const Tensor& p);
Tensor bernoulli_scalar(const Shape& shape, double p, DType dtype, Device device);
// torch.multinomial (ops/multinomial.cpp): int64 [n_sample] or [rows, n_sample] of category indices drawn
// from the rows of `probs`; out_dtype is the dtype of an out= tensor (checked in PyTorch's order).
Tensor multinomial(const Tensor& probs, int64_t n_sample, bool replacement, std::optional<DType> out_dtype);

// Shared checks.
void check_same_device(const Tensor& a, const Tensor& b, const char* op);
void check_same_dtype(const Tensor& a, const Tensor& b, const char* op);
// Sorted unique wrapped dims; empty input = all dims.
Dims normalize_dims(const Dims& dims, int64_t ndim, const char* op);

}  // namespace flambeau::ops
