// Bindings for the image-codec helpers in C++ (csrc/cpu/png_filter.h): bytes in, a bytearray out,
// no tensors, for the Python PNG decoder (python/flambeau/vision/io/_png_decode.py).
#include <string>
#include "core/error.h"
#include "cpu/png_filter.h"
#include "python/bind.h"

namespace flambeau::python {

void bind_image(py::module_& m) {
  m.def(
      "png_unfilter",
      [](const py::bytes& raw, int64_t rows, int64_t row_bytes, int64_t bpp) {
        FLB_CHECK(rows >= 0 && row_bytes >= 0 && bpp >= 1, ValueError, "png_unfilter: bad geometry rows=", rows,
                  " row_bytes=", row_bytes, " bpp=", bpp);
        char* src = nullptr;
        Py_ssize_t len = 0;
        PyBytes_AsStringAndSize(raw.ptr(), &src, &len);
        FLB_CHECK((int64_t)len >= rows * (1 + row_bytes), RuntimeError,
                  "decode_png: not enough image data (truncated or corrupted image)");
        // a bytearray, so that numpy.frombuffer gives the decoder a writable array without a copy
        auto out = py::reinterpret_steal<py::bytearray>(PyByteArray_FromStringAndSize(nullptr, (Py_ssize_t)(rows * row_bytes)));
        if (!out) throw py::error_already_set();
        uint8_t* dst = (uint8_t*)PyByteArray_AsString(out.ptr());
        int64_t bad;
        {
          py::gil_scoped_release nogil;
          bad = cpu::png_unfilter((const uint8_t*)src, rows, row_bytes, bpp, dst);
        }
        FLB_CHECK(bad < 0, RuntimeError, "decode_png: unknown scanline filter type ",
                  (int)(uint8_t)src[bad * (1 + row_bytes)], " (corrupted image)");
        return out;
      },
      py::arg("raw"), py::arg("rows"), py::arg("row_bytes"), py::arg("bpp"),
      "PNG scanline unfiltering: rows * (1 + row_bytes) filtered bytes -> bytearray of rows * row_bytes");
}

}  // namespace flambeau::python
