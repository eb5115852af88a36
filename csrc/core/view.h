// Views: new metadata over the same storage, never a copy (reshape copies only when the strides
// cannot express the new shape, as in PyTorch).
#pragma once
#include "core/tensor.h"

namespace flambeau {

// Resolves one -1 in `shape` against `numel`; checks the count matches.
Shape infer_shape(const Shape& shape, int64_t numel, const char* op);
Tensor view(const Tensor& t, const Shape& shape);      // throws if strides can't express it
Tensor reshape(const Tensor& t, const Shape& shape);   // view when possible, else a copy
Tensor permute(const Tensor& t, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& t, int64_t d0, int64_t d1);
Tensor expand(const Tensor& t, const Shape& shape);    // -1 keeps a size; new dims on the left
Tensor slice(const Tensor& t, int64_t dim, int64_t start, int64_t stop, int64_t step);
Tensor select(const Tensor& t, int64_t dim, int64_t index);
Tensor unsqueeze(const Tensor& t, int64_t dim);
Tensor squeeze(const Tensor& t, const std::vector<int64_t>& dims);  // empty: all size-1 dims
Tensor as_strided(const Tensor& t, const Shape& sizes, const Shape& strides, int64_t offset);
// The whole storage of t as a 1-D contiguous tensor of `dtype` (its bytes reinterpreted, a trailing partial
// element left out): what Tensor.storage() / untyped_storage() and set_(storage, ...) view.
Tensor storage_as(const Tensor& t, DType dtype);
Tensor diagonal(const Tensor& t, int64_t offset, int64_t d0, int64_t d1);
Tensor view_dtype(const Tensor& t, DType dtype);  // Tensor.view(dtype): the same bytes as another dtype
Tensor contiguous(const Tensor& t);  // same tensor when already contiguous
Tensor clone(const Tensor& t);       // always a fresh contiguous copy

// Broadcasting, as in NumPy.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace flambeau
