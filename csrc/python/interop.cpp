// Zero-copy exchange with numpy (buffer sharing) and with any DLPack producer/consumer (PyTorch,
// numpy, CuPy, JAX). Memory that came from elsewhere stays owned by its producer: our Storage keeps
// a reference and releases it (under the GIL) when the last view dies.
#include <pybind11/numpy.h>
#include "core/view.h"
#include "python/bind.h"

namespace flambeau::python {

// ---- DLPack ABI (v0.8, the unversioned capsule every producer accepts), declared here to avoid a
// build dependency. Layout is fixed by the DLPack specification.
extern "C" {
struct DLDevice {
  int32_t device_type;  // 1 = CPU, 2 = CUDA
  int32_t device_id;
};
struct DLDataType {
  uint8_t code;  // 0 int, 1 uint, 2 float, 6 bool
  uint8_t bits;
  uint16_t lanes;
};
struct DLTensor {
  void* data;
  DLDevice device;
  int32_t ndim;
  DLDataType dtype;
  int64_t* shape;
  int64_t* strides;  // elements; NULL = compact row-major
  uint64_t byte_offset;
};
struct DLManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensor* self);
};
}

namespace {

struct ExportCtx {
  Tensor tensor;
  Shape shape, strides;
  DLManagedTensor managed;
};

DLDataType dl_dtype(DType t) {
  switch (t) {
    case DType::Bool: return {6, 8, 1};
    case DType::Int64: return {0, 64, 1};
    case DType::Float32: return {2, 32, 1};
    case DType::Float64: return {2, 64, 1};
    case DType::UInt8: return {1, 8, 1};
    case DType::Int8: return {0, 8, 1};
    case DType::Int16: return {0, 16, 1};
    case DType::Int32: return {0, 32, 1};
    case DType::Float16: return {2, 16, 1};
    case DType::BFloat16: return {4, 16, 1};  // kDLBfloat
    case DType::Complex64: return {5, 64, 1};  // kDLComplex
    case DType::Complex128: return {5, 128, 1};
  }
  return {0, 0, 1};
}

DType from_dl_dtype(const DLDataType& d) {
  if (d.lanes == 1) {
    if (d.code == 2 && d.bits == 32) return DType::Float32;
    if (d.code == 2 && d.bits == 64) return DType::Float64;
    if (d.code == 2 && d.bits == 16) return DType::Float16;
    if (d.code == 4 && d.bits == 16) return DType::BFloat16;
    if (d.code == 0 && d.bits == 64) return DType::Int64;
    if (d.code == 0 && d.bits == 32) return DType::Int32;
    if (d.code == 0 && d.bits == 16) return DType::Int16;
    if (d.code == 0 && d.bits == 8) return DType::Int8;
    if (d.code == 1 && d.bits == 8) return DType::UInt8;
    if (d.code == 6 && d.bits == 8) return DType::Bool;
    if (d.code == 5 && d.bits == 64) return DType::Complex64;
    if (d.code == 5 && d.bits == 128) return DType::Complex128;
  }
  throw TypeError(str_cat("from_dlpack: unsupported DLPack dtype (code ", (int)d.code, ", bits ", (int)d.bits,
                          ", lanes ", d.lanes,
                          "); flambeau supports float32, float64, float16, bfloat16, complex64, complex128, int64, int32, int16, "
                          "int8, uint8 and bool"));
}

void capsule_destructor(PyObject* cap) {
  // Called when the capsule dies; if nobody consumed it, we still own the tensor.
  if (PyCapsule_IsValid(cap, "dltensor")) {
    auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap, "dltensor"));
    if (m && m->deleter) m->deleter(m);
  } else {
    PyErr_Clear();
  }
}

py::object to_dlpack(const Tensor& t) {
  auto* ctx = new ExportCtx();
  ctx->tensor = t;
  ctx->shape = t.sizes;
  ctx->strides = t.strides;
  DLTensor& dl = ctx->managed.dl_tensor;
  dl.data = t.storage->data;
  dl.byte_offset = (uint64_t)(t.offset * (int64_t)t.element_size());
  dl.device = {t.device().is_cuda() ? 2 : 1, t.device().is_cuda() ? t.device().index : 0};
  dl.ndim = (int32_t)t.dim();
  dl.dtype = dl_dtype(t.dtype);
  dl.shape = ctx->shape.data();
  dl.strides = ctx->strides.data();
  ctx->managed.manager_ctx = ctx;
  ctx->managed.deleter = [](DLManagedTensor* self) { delete static_cast<ExportCtx*>(self->manager_ctx); };
  PyObject* cap = PyCapsule_New(&ctx->managed, "dltensor", capsule_destructor);
  if (!cap) {
    delete ctx;
    throw py::error_already_set();
  }
  return py::reinterpret_steal<py::object>(cap);
}

Tensor from_dlpack(py::object capsule) {
  PyObject* cap = capsule.ptr();
  if (!PyCapsule_IsValid(cap, "dltensor"))
    throw TypeError("from_dlpack: expected an unconsumed 'dltensor' capsule (each capsule can be consumed once)");
  auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap, "dltensor"));
  const DLTensor& dl = m->dl_tensor;
  DType dtype;
  try {
    dtype = from_dl_dtype(dl.dtype);
  } catch (...) {
    throw;  // capsule stays unconsumed; its destructor frees it
  }
  Device device;
  if (dl.device.device_type == 1 || dl.device.device_type == 3) device = cpu_device();
  else if (dl.device.device_type == 2) device = Device{DeviceType::CUDA, dl.device.device_id};
  else throw TypeError(str_cat("from_dlpack: unsupported device type ", dl.device.device_type));
  Shape sizes(dl.shape, dl.shape + dl.ndim);
  Shape strides = dl.strides ? Shape(dl.strides, dl.strides + dl.ndim) : contiguous_strides(sizes);
  size_t item = itemsize(dtype);
  FLB_CHECK(dl.byte_offset % item == 0, ValueError, "from_dlpack: byte_offset ", dl.byte_offset,
            " is not a multiple of the element size");
  // Consume: rename so the producer's capsule destructor won't free it; we call the deleter.
  PyCapsule_SetName(cap, "used_dltensor");
  Tensor t = from_blob(static_cast<char*>(dl.data), sizes, strides, dtype, device, [m](void*) {
    py::gil_scoped_acquire gil;
    if (m->deleter) m->deleter(m);
  });
  t.offset = (int64_t)(dl.byte_offset / item);
  t.storage->nbytes += dl.byte_offset;
  return t;
}

DType numpy_dtype(const py::dtype& d) {
  if (d.kind() == 'f' && d.itemsize() == 4) return DType::Float32;
  if (d.kind() == 'f' && d.itemsize() == 8) return DType::Float64;
  if (d.kind() == 'f' && d.itemsize() == 2) return DType::Float16;
  if (d.kind() == 'i' && d.itemsize() == 8) return DType::Int64;
  if (d.kind() == 'i' && d.itemsize() == 4) return DType::Int32;
  if (d.kind() == 'i' && d.itemsize() == 2) return DType::Int16;
  if (d.kind() == 'i' && d.itemsize() == 1) return DType::Int8;
  if (d.kind() == 'u' && d.itemsize() == 1) return DType::UInt8;
  if (d.kind() == 'b') return DType::Bool;
  if (d.kind() == 'c' && d.itemsize() == 8) return DType::Complex64;
  if (d.kind() == 'c' && d.itemsize() == 16) return DType::Complex128;
  throw TypeError("from_numpy: can't convert np.ndarray of type numpy." + std::string(py::str(d)) +
                  ". The only supported types are: float64, float32, float16, complex64, complex128, int64, int32, "
                  "int16, int8, uint8, and bool.");
}

py::dtype to_numpy_dtype(DType t) {
  switch (t) {
    case DType::Bool: return py::dtype::of<bool>();
    case DType::Int64: return py::dtype::of<int64_t>();
    case DType::Float32: return py::dtype::of<float>();
    case DType::Float64: return py::dtype::of<double>();
    case DType::UInt8: return py::dtype::of<uint8_t>();
    case DType::Int8: return py::dtype::of<int8_t>();
    case DType::Int16: return py::dtype::of<int16_t>();
    case DType::Int32: return py::dtype::of<int32_t>();
    case DType::Float16: return py::dtype("float16");
    case DType::BFloat16: break;  // numpy has no bfloat16: to_numpy raises before this
    case DType::Complex64: return py::dtype("complex64");
    case DType::Complex128: return py::dtype("complex128");
  }
  return py::dtype::of<float>();
}

}  // namespace

void bind_interop(py::module_& m) {
  m.def("to_dlpack", &to_dlpack);
  m.def("from_dlpack", &from_dlpack);

  m.def("from_numpy", [](py::array arr) {
    DType dtype = numpy_dtype(arr.dtype());
    size_t item = itemsize(dtype);
    Shape sizes(arr.ndim()), strides(arr.ndim());
    for (py::ssize_t i = 0; i < arr.ndim(); ++i) {
      sizes[i] = arr.shape(i);
      py::ssize_t sb = arr.strides(i);
      FLB_CHECK(sb >= 0, ValueError, "from_numpy: at least one stride in the given numpy array is negative, and tensors "
                "with negative strides are not currently supported. (You can probably work around this by making a "
                "copy of your array with array.copy().)");
      FLB_CHECK(sb % (py::ssize_t)item == 0, ValueError, "from_numpy: given numpy array strides not a multiple of the "
                "element byte size. Copy the numpy array to reallocate the memory.");
      strides[i] = sb / (py::ssize_t)item;
    }
    auto* keep = new py::object(arr);  // released under the GIL when the storage dies
    return from_blob(const_cast<void*>(arr.data()), sizes, strides, dtype, cpu_device(), [keep](void*) {
      py::gil_scoped_acquire gil;
      delete keep;
    });
  });

  m.def("to_numpy", [](const Tensor& t) {
    FLB_CHECK(t.device().is_cpu(), TypeError, "numpy: can't convert ", t.device().str(),
              " device type tensor to numpy. Use Tensor.cpu() to copy the tensor to host memory first.");
    // PyTorch's error: numpy has no bfloat16 (convert with .float() first).
    FLB_CHECK(t.dtype != DType::BFloat16, TypeError, "Got unsupported ScalarType BFloat16");
    std::vector<py::ssize_t> shape(t.sizes.begin(), t.sizes.end()), strides(t.dim());
    for (int64_t i = 0; i < t.dim(); ++i) strides[i] = t.strides[i] * (py::ssize_t)t.element_size();
    // The capsule keeps the storage alive as long as the array (or its views) lives.
    auto* keep = new std::shared_ptr<Storage>(t.storage);
    py::capsule base(keep, [](void* p) { delete static_cast<std::shared_ptr<Storage>*>(p); });
    return py::array(to_numpy_dtype(t.dtype), shape, strides, t.data_ptr(), base);
  });
}

}  // namespace flambeau::python
