// copy_: writes src into dst, broadcasting src to dst's shape, converting dtype and crossing
// devices as needed. The one primitive behind contiguous(), .to(), clone() and __setitem__.
#pragma once
#include "core/scalar.h"
#include "core/tensor.h"

namespace flambeau {

void copy_(const Tensor& dst, const Tensor& src);
void fill_(const Tensor& dst, const Scalar& value);
Tensor to(const Tensor& t, DType dtype, Device device, bool copy);  // same tensor when nothing changes and !copy
// True when two views share storage and their byte ranges intersect.
bool may_overlap(const Tensor& a, const Tensor& b);

// PyTorch's memory-overlap rules (ATen/MemoryOverlap.h), so that we refuse what it refuses. For two
// tensors both non-overlapping and dense, their byte ranges say it all: the same range with the same
// strides is Full (x.add_(x)), any other intersection Partial (x[1:].add_(x[:-1])); otherwise Too hard
// to tell cheaply (PyTorch then computes in its own order; we read the input from a copy).
enum class MemOverlap { No, Full, Partial, TooHard };
MemOverlap overlap_status(const Tensor& a, const Tensor& b);
// Elementwise ops and copy_ (PyTorch's TensorIterator): an output that partially overlaps an input.
void assert_no_partial_overlap(const Tensor& out, const Tensor& in, const char* op);
// Index ops, scatter, cat: an output that overlaps a source at all.
void assert_no_overlap(const Tensor& out, const Tensor& in, const char* op);

}  // namespace flambeau
