// PNG scanline unfiltering (the decoder around it, chunks, inflate, samples and Adam7, is Python:
// python/flambeau/vision/io/_png_decode.py). Byte work only, no tensors.
#pragma once
#include <cstdint>

namespace flambeau::cpu {

// Undoes the filters of `rows` scanlines of one (sub)image: raw holds rows * (1 + row_bytes) bytes
// (each row's filter type, then its bytes), out receives rows * row_bytes; bpp = bytes per complete
// pixel, at least 1 (PNG spec, section 9). Returns -1, or the first row whose filter type is not
// 0-4 (out is then partly written).
int64_t png_unfilter(const uint8_t* raw, int64_t rows, int64_t row_bytes, int64_t bpp, uint8_t* out);

}  // namespace flambeau::cpu
