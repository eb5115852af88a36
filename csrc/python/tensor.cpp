// TensorImpl: the C++ tensor as Python sees it (metadata only; ops live in ops.cpp).
#include <cstring>
#include "core/view.h"
#include "python/bind.h"

namespace flambeau::python {

static py::tuple to_tuple(const Shape& s) {
  py::tuple t(s.size());
  for (size_t i = 0; i < s.size(); ++i) t[i] = py::int_(s[i]);
  return t;
}

// Interned dtype names: reading .dtype is on every op's path, so don't build a new str each time.
static py::object dtype_str(DType t) {
  // Leaked on purpose: destroying Python objects after the interpreter is gone would crash at exit.
  // One per DType value, in enum order (core/dtype.h).
  static py::object* names = new py::object[12]{py::str("bool"),  py::str("int64"), py::str("float32"), py::str("float64"),
                                                py::str("uint8"), py::str("int8"),  py::str("int16"),   py::str("int32"),
                                                py::str("float16"), py::str("bfloat16"), py::str("complex64"),
                                                py::str("complex128")};
  static_assert((int)DType::Complex128 == 11, "dtype_str: a name for every DType");
  return names[(int)t];
}

// t[idx] for the basic indices only (ints, slices of ints, None, one Ellipsis), as a view built in one
// pass: the common reads (x[0, 0], x[:, 1], x[::2], x[..., None]) then cost one call instead of a
// Python plan and one binding call per step. Returns None for anything else (tensors, lists, bools,
// numpy integers, ints beyond int64, slices of non-ints), which the Python plan in _indexing.py
// handles; its errors are the same as the plan's (and PyTorch's, which names the position in the index
// as the dimension).
static py::object basic_getitem(const Tensor& t, py::handle idx) {
  PyObject* single[1] = {idx.ptr()};
  PyObject* const* items = single;
  Py_ssize_t count = 1;
  if (PyTuple_Check(idx.ptr())) {  // the tuple's own item array (no reference changes)
    items = &PyTuple_GET_ITEM(idx.ptr(), 0);
    count = PyTuple_GET_SIZE(idx.ptr());
  }
  int64_t consumed = 0, ellipses = 0;
  for (Py_ssize_t i = 0; i < count; ++i) {
    PyObject* it = items[i];
    if (PyLong_CheckExact(it)) {
      ++consumed;
    } else if (PySlice_Check(it)) {
      auto* sl = reinterpret_cast<PySliceObject*>(it);
      for (PyObject* part : {sl->start, sl->stop, sl->step})
        if (part != Py_None && !PyLong_CheckExact(part)) return py::none();
      ++consumed;
    } else if (it == Py_Ellipsis) {
      ++ellipses;
    } else if (it != Py_None) {
      return py::none();
    }
  }
  if (ellipses > 1) throw IndexError("an index can only have a single ellipsis ('...')");
  const int64_t nd = t.dim();
  if (consumed > nd) throw IndexError(str_cat("too many indices for tensor of dimension ", nd));

  Tensor out = t;
  out.sizes.clear();
  out.strides.clear();
  int64_t src = 0;  // next dim of t not yet indexed
  for (Py_ssize_t i = 0; i < count; ++i) {
    PyObject* it = items[i];
    if (it == Py_None) {
      // unsqueeze: the stride of a size-1 dim is that of the next dim times its size (1 at the end).
      out.sizes.push_back(1);
      out.strides.push_back(src < nd ? t.sizes[src] * t.strides[src] : 1);
    } else if (it == Py_Ellipsis) {
      for (int64_t k = 0; k < nd - consumed; ++k, ++src) {
        out.sizes.push_back(t.sizes[src]);
        out.strides.push_back(t.strides[src]);
      }
    } else if (PyLong_CheckExact(it)) {
      int overflow = 0;
      long long v = PyLong_AsLongLongAndOverflow(it, &overflow);
      if (overflow) return py::none();
      const int64_t n = t.sizes[src];
      if (v < -n || v >= n)
        throw IndexError(str_cat("index ", v, " is out of bounds for dimension ", (int64_t)i, " with size ", n));
      out.offset += (v < 0 ? v + n : v) * t.strides[src];
      ++src;
    } else {  // a slice of ints
      auto* sl = reinterpret_cast<PySliceObject*>(it);
      Py_ssize_t start, stop, step;
      if (sl->step != Py_None) {
        int overflow = 0;
        long long s = PyLong_AsLongLongAndOverflow(sl->step, &overflow);
        if (!overflow && s == 0) throw ValueError("slice step cannot be zero");
        if (overflow < 0 || (!overflow && s < 0)) throw ValueError("step must be greater than zero");
      }
      if (PySlice_Unpack(it, &start, &stop, &step) < 0) throw py::error_already_set();
      const int64_t n = t.sizes[src];
      PySlice_AdjustIndices(n, &start, &stop, step);  // clamps as slice.indices(n) does
      if (stop < start) stop = start;
      out.offset += start * t.strides[src];
      out.sizes.push_back((stop - start + step - 1) / step);
      out.strides.push_back(t.strides[src] * step);
      ++src;
    }
  }
  for (; src < nd; ++src) {  // dims after the last index are kept whole
    out.sizes.push_back(t.sizes[src]);
    out.strides.push_back(t.strides[src]);
  }
  return py::cast(std::move(out));
}

void bind_tensor(py::module_& m) {
  py::class_<Tensor>(m, "TensorImpl")
      .def_property_readonly("shape", [](const Tensor& t) { return to_tuple(t.sizes); })
      .def_property_readonly("stride", [](const Tensor& t) { return to_tuple(t.strides); })
      .def_property_readonly("dtype", [](const Tensor& t) { return dtype_str(t.dtype); })
      .def_property_readonly("version", [](const Tensor& t) { return t.version(); })
      .def("variable_data", &Tensor::variable_data)
      .def("with_own_version", &Tensor::with_own_version)
      .def_property_readonly("is_inference", &Tensor::is_inference)
      // The version autograd records when it saves this tensor for backward; an inference tensor has none
      // (PyTorch refuses to save one outside inference_mode, with this message).
      .def_property_readonly("saved_version", [](const Tensor& t) {
        if (t.storage->inference && !inference_mode_enabled())
          throw RuntimeError(
              "Inference tensors cannot be saved for backward. Please do not use Tensors created in inference mode "
              "in computation tracked by autograd. To work around this, you can make a clone to get a normal tensor "
              "and use it in autograd, or use `torch.no_grad()` instead of `torch.inference_mode()`.");
        return t.version();
      })
      .def("bump_version", [](const Tensor& t) { t.bump_version(); })
      .def_property_readonly("device", [](const Tensor& t) { return t.device().str(); })
      .def_property_readonly("is_cuda", [](const Tensor& t) { return t.device().is_cuda(); })
      .def_property_readonly("storage_offset", [](const Tensor& t) { return t.offset; })
      .def_property_readonly("numel", &Tensor::numel)
      .def_property_readonly("ndim", &Tensor::dim)
      .def_property_readonly("itemsize", [](const Tensor& t) { return t.element_size(); })
      .def_property_readonly("data_ptr", [](const Tensor& t) { return (uintptr_t)t.data_ptr(); })
      .def_property_readonly("storage_nbytes", [](const Tensor& t) { return t.storage->nbytes; })
      // The storage's base address: identifies the storage while it is alive (autograd's aliasing check).
      .def_property_readonly("storage_ptr", [](const Tensor& t) { return (uintptr_t)t.storage->data; })
      // Tensor.share_memory_(): the storage's bytes move, in place, into memory the caller mapped (a shared
      // memory file of at least storage_nbytes bytes), so every tensor and view over this storage now reads and
      // writes that memory. `owner` keeps the mapping alive; it is released under the GIL when the storage dies.
      .def("move_storage_to", [](const Tensor& t, uintptr_t address, py::object owner) {
        FLB_CHECK(t.device().is_cpu(), RuntimeError, "share_memory_: only CPU storages move to shared memory, got a ",
                  t.device().str(), " tensor");
        Storage& s = *t.storage;
        void* dst = reinterpret_cast<void*>(address);
        if (s.nbytes && dst != s.data) std::memcpy(dst, s.data, s.nbytes);
        void* old = s.data;
        auto old_deleter = std::move(s.deleter);
        auto* keep = new py::object(std::move(owner));
        s.data = dst;
        s.deleter = [keep](void*) {
          py::gil_scoped_acquire gil;
          delete keep;
        };
        s.writes.fetch_add(1, std::memory_order_relaxed);  // caches keyed on the address see new memory
        if (old_deleter) old_deleter(old);
      })
      .def("is_contiguous", &Tensor::is_contiguous)
      .def("same_storage", [](const Tensor& a, const Tensor& b) { return a.storage == b.storage; })
      .def("__repr__", [](const Tensor& t) {
        return str_cat("TensorImpl(shape=", shape_str(t.sizes), ", dtype=", dtype_name(t.dtype), ", device=",
                       t.device().str(), ")");
      });
  m.def("basic_getitem", &basic_getitem);
}

}  // namespace flambeau::python
