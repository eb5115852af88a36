// flambeau._C: the one extension module. Registers how C++ errors become Python exceptions, then
// the tensor type, the ops and the runtime queries.
#include <cstdlib>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif
#include "core/cpu_allocator.h"
#include "core/cuda_device_api.h"
#include "core/cuda_hooks.h"
#include "cpu/capability.h"
#include "cpu/parallel.h"
#include "python/bind.h"
#ifdef FLAMBEAU_OPENMP
#include <omp.h>
#endif

namespace py = pybind11;
using namespace flambeau;

PYBIND11_MODULE(_C, m) {
  m.doc() = "Flambeau's C++/CUDA core";
  // Local to this module: our exception types are ours alone, and a translator in pybind11's shared
  // list would also run for every other pybind11 module's exceptions (and theirs for ours).
  // Unmatched exceptions (std::runtime_error, std::bad_alloc, ...) go on to pybind11's defaults.
  static PyObject* oom_type = PyErr_NewException("flambeau.OutOfMemoryError", PyExc_RuntimeError, nullptr);
  m.add_object("OutOfMemoryError", py::handle(oom_type));
  py::register_local_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const OutOfMemoryError& e) {
      PyErr_SetString(oom_type, e.what());
    } catch (const ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    } catch (const NotImplementedError& e) {
      PyErr_SetString(PyExc_NotImplementedError, e.what());
    }
  });

  // Read FLAMBEAU_CPU_CAPABILITY now, so a bad value fails the import rather than the first op.
  cpu::capability();
  python::bind_tensor(m);
  python::bind_ops(m);
  python::bind_interop(m);
  python::bind_norm_optim(m);
  python::bind_conv_pool(m);
  python::bind_act_loss(m);
  python::bind_sort(m);
  python::bind_sparse(m);
  python::bind_layout(m);
  python::bind_complex(m);
  python::bind_image(m);
  python::bind_half_compute(m);  // last: it rebinds compute ops defined above

  m.def("_set_inference_mode", &set_inference_mode);
  m.def("_is_inference_mode_enabled", &inference_mode_enabled);
  m.def("cuda_is_built", &cuda::is_built);
  // The CUDA toolkit version the module was built with ("12.4"), None without CUDA: torch.version.cuda.
#ifdef FLAMBEAU_CUDA_VERSION_MAJOR
  m.attr("cuda_version") = std::to_string(FLAMBEAU_CUDA_VERSION_MAJOR) + "." + std::to_string(FLAMBEAU_CUDA_VERSION_MINOR);
#else
  m.attr("cuda_version") = py::none();
#endif
  m.def("cuda_device_count", &cuda::device_count);
  m.def("cuda_synchronize", &cuda::synchronize, py::arg("device") = -1);
  m.def("cuda_memory_allocated", &cuda::memory_allocated, py::arg("device") = 0);
  m.def("cuda_max_memory_allocated", &cuda::max_memory_allocated, py::arg("device") = 0);
  m.def("cuda_reset_peak_memory_stats", &cuda::reset_peak_memory_stats, py::arg("device") = 0);
  m.def("cuda_empty_cache", &cuda::empty_cache);
  m.def("cuda_memory_reserved", &cuda::memory_reserved, py::arg("device") = 0);
  m.def("cuda_mem_get_info", &cuda::mem_get_info, py::arg("device"));
  m.def("cuda_device_properties", [](int device) {
    cuda::DeviceProperties p = cuda::device_properties(device);
    py::dict d;
    d["name"] = p.name;
    d["major"] = p.major;
    d["minor"] = p.minor;
    d["total_memory"] = p.total_memory;
    d["multi_processor_count"] = p.multi_processor_count;
    d["max_threads_per_multi_processor"] = p.max_threads_per_multi_processor;
    d["warp_size"] = p.warp_size;
    d["L2_cache_size"] = p.l2_cache_size;
    d["is_integrated"] = p.is_integrated;
    d["uuid"] = p.uuid;
    return d;
  }, py::arg("device"));
  m.def("cuda_event_create", &cuda::event_create, py::arg("device"), py::arg("enable_timing"), py::arg("blocking"),
        py::arg("interprocess"));
  m.def("cuda_event_destroy", &cuda::event_destroy, py::arg("event"), py::arg("device"));
  m.def("cuda_event_record", &cuda::event_record, py::arg("event"), py::arg("device"));
  m.def("cuda_event_synchronize", &cuda::event_synchronize, py::arg("event"));
  m.def("cuda_event_query", &cuda::event_query, py::arg("event"));
  m.def("cuda_event_elapsed_time", &cuda::event_elapsed_time, py::arg("start"), py::arg("end"));
  m.def("cuda_stream_query", &cuda::stream_query, py::arg("device"));
  m.def("cuda_set_matmul_allow_tf32", &cuda::set_matmul_allow_tf32, py::arg("allow"));
  m.def("cuda_matmul_allow_tf32", &cuda::matmul_allow_tf32);
  m.def("cuda_unverified_kernels", &cuda::unverified_kernels);
  m.def("cpu_capability", [] { return std::string(cpu::capability_name(cpu::capability())); });
  m.def("cpu_detected_capability", [] { return std::string(cpu::capability_name(cpu::detected_capability())); });
  m.def("set_cpu_capability", &cpu::set_capability);
  // The int8 kernels' AMX GEMM (cpu/capability.h): whether it runs (AMX-INT8 here, the permission granted,
  // not turned off), and the switch that turns it off or back on, for the tests of the VNNI route.
  m.def("cpu_int8_amx", &cpu::int8_amx_enabled);
  m.def("set_cpu_int8_amx", &cpu::set_int8_amx, py::arg("enabled"));
  m.def("get_num_threads", [] { return cpu::max_threads(); });
  m.def("set_num_threads", [](int n) {
    if (n < 1) throw ValueError("set_num_threads: expected a positive number of threads, got " + std::to_string(n));
#ifdef FLAMBEAU_OPENMP
    omp_set_num_threads(n);
#endif
  });
  // torch.set_flush_denormal: denormal operands read as zero (DAZ) and denormal results are flushed to
  // zero (FTZ) in SSE/AVX arithmetic. PyTorch sets MXCSR on the calling thread only, so its OpenMP
  // workers keep computing denormals; here every thread of the OpenMP team gets the setting too (the
  // pool's threads persist, and threads created later copy the creating thread's MXCSR).
  m.def("set_flush_denormal", [](bool on) {
#if defined(__x86_64__) || defined(__i386__)
    auto apply = [on] {
      unsigned int csr = _mm_getcsr() & ~(0x0040u | 0x8000u);  // DAZ | FTZ
      _mm_setcsr(on ? csr | 0x0040u | 0x8000u : csr);
    };
    apply();
#ifdef FLAMBEAU_OPENMP
#pragma omp parallel num_threads(cpu::max_threads())
    apply();
#endif
    return true;
#else
    (void)on;
    return false;
#endif
  }, py::arg("mode"));
  // The CPU caching allocator (core/cpu_allocator.h): counters, and ways to give memory back.
  m.def("cpu_allocator_stats", [] {
    auto s = cpu_alloc::stats();
    py::dict d;
    d["hits"] = s.hits;
    d["misses"] = s.misses;
    d["evictions"] = s.evictions;
    d["cached_bytes"] = s.cached_bytes;
    d["cached_blocks"] = s.cached_blocks;
    d["limit_bytes"] = s.limit_bytes;
    d["allocated_bytes"] = s.allocated_bytes;
    return d;
  });
  m.def("cpu_empty_cache", &cpu_alloc::empty_cache);
  m.def("cpu_set_cache_limit", [](int64_t bytes) {
    if (bytes < 0) throw ValueError("cpu_set_cache_limit: expected a non-negative number of bytes, got " + std::to_string(bytes));
    cpu_alloc::set_limit((uint64_t)bytes);
  });
  m.def("cpu_reset_allocator_counters", &cpu_alloc::reset_counters);
  m.attr("has_openmp") =
#ifdef FLAMBEAU_OPENMP
      true;
#else
      false;
#endif
}
