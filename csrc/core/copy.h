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

}  // namespace flambeau
