// Argument converters shared by the convolution and pooling bindings, 2-D (bind_conv_pool.cpp) and 3-D
// (bind_vol.cpp): integer lists that accept one int or a sequence of ints, as PyTorch's _pair/_triple.
#pragma once
#include <array>
#include <string>
#include <vector>
#include "python/bind.h"

namespace flambeau::python {

// One int, or a sequence of ints (bools refused, as PyTorch does); the op and argument name go into
// the TypeError.
inline std::vector<int64_t> int_list(const py::handle& h, const char* op, const char* name) {
  if (py::isinstance<py::int_>(h) && !py::isinstance<py::bool_>(h)) return {h.cast<int64_t>()};
  if (py::isinstance<py::sequence>(h) && !py::isinstance<py::str>(h)) {
    std::vector<int64_t> out;
    for (auto item : py::reinterpret_borrow<py::sequence>(h)) {
      if (!py::isinstance<py::int_>(item) || py::isinstance<py::bool_>(item))
        throw TypeError(std::string(op) + ": " + name + " must be an int or a sequence of ints, got an element of type " +
                        std::string(py::str(py::type::of(item).attr("__name__"))));
      out.push_back(item.cast<int64_t>());
    }
    return out;
  }
  throw TypeError(std::string(op) + ": " + name + " must be an int or a sequence of ints, got " +
                  std::string(py::str(py::type::of(h).attr("__name__"))));
}

// Pooling's stride: None means "the kernel size", which the ops layer reads from an empty list.
inline std::vector<int64_t> opt_stride(const py::object& stride, const char* op) {
  return stride.is_none() ? std::vector<int64_t>{} : int_list(stride, op, "stride");
}

// A backward's output_mask: which of (input, weight, bias) gradients to compute.
inline std::array<bool, 3> mask3(const py::handle& h) {
  auto v = h.cast<std::vector<bool>>();
  if (v.size() != 3) throw ValueError("output_mask must have 3 booleans (input, weight, bias)");
  return {v[0], v[1], v[2]};
}

}  // namespace flambeau::python
