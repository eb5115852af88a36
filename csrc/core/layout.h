// Memory layouts beyond row-major: PyTorch's rules for which strides a new tensor gets.
//
// PyTorch keeps the layout of a non-overlapping, dense input through clone(), *_like() and
// elementwise ops (a transposed or channels_last tensor gives a transposed or channels_last result),
// and users observe it through stride() and is_contiguous(). These helpers reproduce those rules
// exactly (TensorIterator's dimension ordering, at::infer_dense_strides), so results have the
// strides PyTorch gives them.
#pragma once
#include <initializer_list>
#include <list>
#include <vector>
#include "core/tensor.h"
#include "core/view.h"

namespace flambeau {

// True when the elements tile one block of memory with no gaps and no element seen twice, in some
// order of the dims (c10's is_non_overlapping_and_dense).
bool is_non_overlapping_and_dense(const Shape& sizes, const Shape& strides);

// Dense strides that keep the order of `strides` (at::infer_dense_strides): dims sort by stride,
// ties broken by size, stride-0 dims stay where they are.
Shape infer_dense_strides(const Shape& sizes, const Shape& strides);

// The strides of empty_like(t) / clone(t) with memory_format=preserve_format.
Shape preserve_strides(const Tensor& t);

// A new uninitialised tensor with the given (non-overlapping) strides; its storage holds exactly the
// elements those strides reach.
Tensor empty_strided(const Shape& sizes, const Shape& strides, DType dtype, Device device);

// empty(t.sizes) with t's layout kept (preserve_format); contiguous inputs take the plain path.
Tensor empty_preserve(const Tensor& t, DType dtype, Device device);

// The strides TensorIterator gives the output of an elementwise op over `operands` (each already
// broadcast to `shape`, stride 0 on broadcast dims): the operands' dim order, the first operand
// deciding ties. Row-major strides when that order is the natural one.
Shape elementwise_out_strides(const Shape& shape, std::initializer_list<const Tensor*> operands);

// The output of an elementwise op over `operands` (broadcast to `shape`) as PyTorch allocates it.
Tensor empty_elementwise(const Shape& shape, DType dtype, Device device, std::initializer_list<const Tensor*> operands);

// The dims of `t` from the largest stride to the smallest when t is dense but not row-major (a
// result that kept a transposed or channels_last layout); empty otherwise. Elementwise kernels run
// on every operand permuted this way (in_memory_order): the output is row-major again and
// like-strided inputs are too, so their contiguous fast paths apply. Elementwise results don't
// depend on the order the elements are visited in.
std::vector<int64_t> dense_memory_order(const Tensor& t);

// in_memory_order(t) for every operand of one kernel call, without copying a Tensor in the usual
// case (a row-major output: each operand is passed through by reference; the copies of sizes and
// strides cost ~0.1 us a call, a visible part of an op on a small tensor):
//   InMemoryOrder mo(out);  FLB_BACKEND(dev, binary, op, mo(out), mo(a), mo(b));
class InMemoryOrder {
 public:
  explicit InMemoryOrder(const Tensor& out) : order_(dense_memory_order(out)) {}
  const Tensor& operator()(const Tensor& t) {
    if (order_.empty()) return t;
    held_.push_back(permute(t, order_));
    return held_.back();  // std::list: references stay valid as more are added
  }

 private:
  std::vector<int64_t> order_;
  std::list<Tensor> held_;
};

}  // namespace flambeau
