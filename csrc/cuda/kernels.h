// CUDA kernel entry points: the same names and signatures as cpu/kernels.h, so the dispatch layer
// calls cpu::X(...) or cuda::X(...) with the same arguments. Every tensor argument must live on the
// same CUDA device. The dispatch layer (csrc/ops/) has already checked dtypes, devices and
// shapes, allocated outputs and broadcast inputs (stride-0 views) to the output's shape; these
// functions only compute.
//
// CUDA-specific notes (see each .cu file for more):
//   * kernels run asynchronously on cuda::stream(device) (one stream per device); only nonzero
//     (the output size must come back) and the int64 ops that can fault synchronise;
//   * int64 div/remainder/floor_divide by zero raise, as on the CPU (these three paths read a
//     device error flag back: one synchronisation);
//   * the index kernels rely on the dispatch layer's bounds checks, as the CPU ones do, but also
//     skip any out-of-range index themselves (gather writes 0), so they never touch memory outside
//     a tensor; duplicates in index_put(accumulate) and scatter_add are summed deterministically,
//     in index order, like the CPU loops (bit-identical results);
//   * softmax's input/output/grad tensors must be contiguous (checked; ValueError otherwise);
//   * views with more than 16 non-mergeable dims raise NotImplementedError.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>
#include "core/scalar.h"
#include "core/tensor.h"
#include "ops/op_enums.h"

namespace flambeau::cuda {

// Strided copy with dtype conversion; dst and src have the same shape (src may have 0 strides).
void copy(const Tensor& dst, const Tensor& src);
void fill(const Tensor& dst, const Scalar& value);

// out = op(a) / op(a, b); all share out's shape. Bool-valued ops write a bool out.
void unary(UnaryOp op, const Tensor& out, const Tensor& a);
void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b);
void clamp(const Tensor& out, const Tensor& a, const Scalar* lo, const Scalar* hi);
void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b);
// out = addcmul / addcdiv / lerp(s, a, b) (TernaryOp), floating dtypes, rounded as the CPU kernel.
void ternary(TernaryOp op, const Tensor& out, const Tensor& s, const Tensor& a, const Tensor& b, double value);
// grad * (x > threshold): ReLU's backward without materialising the mask.
void threshold_backward(const Tensor& out, const Tensor& grad, const Tensor& x, double threshold);

// Reductions over `reduce_dims` (sorted, unique, non-empty). `out` has the kept dims' shape
// (keepdim is handled by the caller with a view).
void reduce(ReduceOp op, const Tensor& out, const Tensor& in, const std::vector<int64_t>& reduce_dims);
void var(const Tensor& out, const Tensor& in, const std::vector<int64_t>& reduce_dims, double correction, bool take_sqrt);
void logsumexp(const Tensor& out, const Tensor& in, const std::vector<int64_t>& reduce_dims);
// Values and int64 indices of the max (is_max) or min along one dim; NaN wins, first index on ties.
void arg_reduce(bool is_max, const Tensor* values, const Tensor& indices, const Tensor& in, int64_t dim);

// C = A @ B (2-D, any strides) and batched (3-D).
void mm(const Tensor& c, const Tensor& a, const Tensor& b);
void bmm(const Tensor& c, const Tensor& a, const Tensor& b);
// out[M,N] = x[M,K] @ w[N,K]^T + bias[N] (F.linear; bias may be null): the bias is added in the
// GEMM's epilogue. K = 0 writes the bias (or zeros). Any strides.
void linear(const Tensor& out, const Tensor& x, const Tensor& w, const Tensor* bias);

// Softmax family along `dim`; input contiguous.
void softmax(const Tensor& out, const Tensor& in, int64_t dim, bool log);
void softmax_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, int64_t dim, bool log);

// Indexing. `src_perm` has the indexed dims first; idx are contiguous int64 of one broadcast shape,
// already bounds-checked and wrapped. out_perm has shape bshape + remaining dims.
void index_gather(const Tensor& out_perm, const Tensor& src_perm, const std::vector<Tensor>& idx);
void index_put(const Tensor& dst_perm, const Tensor& values_perm, const std::vector<Tensor>& idx, bool accumulate);
Tensor nonzero(const Tensor& t);
void gather(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index);
void scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src);

// Creation and Philox random numbers (counter-based: element i of a draw at `offset` is the same on
// every device).
void arange(const Tensor& out, double start, double step);
void linspace(const Tensor& out, double start, double end);
void rand(const Tensor& out, uint64_t seed, uint64_t offset, double low, double high);
void randn(const Tensor& out, uint64_t seed, uint64_t offset, double mean, double std);
void randint(const Tensor& out, uint64_t seed, uint64_t offset, int64_t low, int64_t high);
void bernoulli(const Tensor& out, const Tensor& p, uint64_t seed, uint64_t offset);
void bernoulli_scalar(const Tensor& out, double p, uint64_t seed, uint64_t offset);

}  // namespace flambeau::cuda
