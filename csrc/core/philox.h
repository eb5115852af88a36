// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11), the
// counter-based generator behind every random draw. Element i of a draw that starts at stream
// offset `off` comes from block (off + i) / 4, word (off + i) % 4 (normals: Box-Muller on word
// pairs), so CPU and CUDA compute the same numbers independently, with no state to share.
#pragma once
#include <cstdint>
#include <cmath>

#if defined(__CUDACC__)
#define FLB_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define FLB_HOST_DEVICE inline
#endif

namespace flambeau {

struct Philox4 {
  uint32_t v[4];
};

FLB_HOST_DEVICE void philox_mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  uint64_t p = (uint64_t)a * (uint64_t)b;
  hi = (uint32_t)(p >> 32);
  lo = (uint32_t)p;
}

// One 128-bit block for (seed, block counter). The counter's upper words are 0.
FLB_HOST_DEVICE Philox4 philox_block(uint64_t seed, uint64_t block) {
  uint32_t c0 = (uint32_t)block, c1 = (uint32_t)(block >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(0xD2511F53u, c0, hi0, lo0);
    philox_mulhilo(0xCD9E8D57u, c2, hi1, lo1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  Philox4 out;
  out.v[0] = c0; out.v[1] = c1; out.v[2] = c2; out.v[3] = c3;
  return out;
}

// The 32-bit word at stream position `pos`.
FLB_HOST_DEVICE uint32_t philox_word(uint64_t seed, uint64_t pos) {
  Philox4 b = philox_block(seed, pos >> 2);
  return b.v[pos & 3];
}

// Uniform in [0, 1) with 24 random bits (exactly representable in float32).
FLB_HOST_DEVICE float philox_uniform_f(uint32_t x) { return (float)(x >> 8) * (1.0f / 16777216.0f); }
// Uniform in (0, 1], for logs.
FLB_HOST_DEVICE float philox_uniform_open0(uint32_t x) { return ((float)(x >> 8) + 1.0f) * (1.0f / 16777216.0f); }

// Standard normal for stream position `pos`: Box-Muller on the pair of words (pos & ~1, pos | 1).
// Computed in double so both devices round the same way.
FLB_HOST_DEVICE double philox_normal(uint64_t seed, uint64_t pos) {
  Philox4 b = philox_block(seed, pos >> 2);
  uint32_t w = (uint32_t)(pos & 3);
  uint32_t a = b.v[w & 2u], c = b.v[(w & 2u) | 1u];
  double u1 = ((double)(a >> 8) + 1.0) * (1.0 / 16777216.0);
  double u2 = (double)(c >> 8) * (1.0 / 16777216.0);
  double r = sqrt(-2.0 * log(u1));
  double theta = 6.283185307179586 * u2;
  return (w & 1u) ? r * sin(theta) : r * cos(theta);
}

}  // namespace flambeau
