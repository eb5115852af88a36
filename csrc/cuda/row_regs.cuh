// A contiguous row of n elements held in one warp's registers (softmax.cu, normalization.cu).
//
// Layout: lane l holds CH chunks of VEC consecutive elements; chunk c covers elements
// (c * 32 + l) * VEC .. + VEC - 1, so every chunk of the warp is one contiguous, coalesced span.
// VEC = 16 / sizeof(T) (one 16-byte load per chunk) requires the row start to be 16-byte aligned
// and n % VEC == 0 (then a chunk is either entirely inside the row or entirely past it); VEC = 1
// is the scalar fallback for any row. Rows fit when n <= 32 * VEC * CH; the launcher picks CH.
// Indices are int: callers use these for rows of at most a few thousand elements.
#pragma once
#include <cuda_runtime.h>
#include <cstdint>
#include <initializer_list>

namespace flambeau::cuda {

#if defined(__CUDACC__)

template <class T>
constexpr int kVec16 = 16 / (int)sizeof(T);  // elements per 16-byte access (4 float, 2 double)

// Element index of the first element of chunk c for this lane.
template <int VEC>
__device__ __forceinline__ int rr_index(int c, int lane) {
  return (c * 32 + lane) * VEC;
}

template <class T, int VEC>
__device__ __forceinline__ void rr_load_chunk(T (&r)[VEC], const T* __restrict__ p) {
  if constexpr (VEC == 1) {
    r[0] = p[0];
  } else if constexpr (sizeof(T) == 4 && VEC == 4) {
    const float4 v = *reinterpret_cast<const float4*>(p);
    r[0] = v.x, r[1] = v.y, r[2] = v.z, r[3] = v.w;
  } else {
    static_assert(sizeof(T) == 8 && VEC == 2, "16-byte chunks: float x4 or double x2");
    const double2 v = *reinterpret_cast<const double2*>(p);
    r[0] = v.x, r[1] = v.y;
  }
}

template <class T, int VEC>
__device__ __forceinline__ void rr_store_chunk(T* __restrict__ p, const T (&r)[VEC]) {
  if constexpr (VEC == 1) {
    p[0] = r[0];
  } else if constexpr (sizeof(T) == 4 && VEC == 4) {
    *reinterpret_cast<float4*>(p) = make_float4(r[0], r[1], r[2], r[3]);
  } else {
    static_assert(sizeof(T) == 8 && VEC == 2, "16-byte chunks: float x4 or double x2");
    *reinterpret_cast<double2*>(p) = make_double2(r[0], r[1]);
  }
}

// Loads the row p[0, n) into r; elements past the end get `fill`.
template <class T, int VEC, int CH>
__device__ __forceinline__ void rr_load(T (&r)[CH][VEC], const T* __restrict__ p, int n, int lane, T fill) {
#pragma unroll
  for (int c = 0; c < CH; ++c) {
    const int k = rr_index<VEC>(c, lane);
    if (k < n) {
      rr_load_chunk<T, VEC>(r[c], p + k);
    } else {
#pragma unroll
      for (int j = 0; j < VEC; ++j) r[c][j] = fill;
    }
  }
}

// Stores r into p[0, n) (elements past the end are not written).
template <class T, int VEC, int CH>
__device__ __forceinline__ void rr_store(T* __restrict__ p, const T (&r)[CH][VEC], int n, int lane) {
#pragma unroll
  for (int c = 0; c < CH; ++c) {
    const int k = rr_index<VEC>(c, lane);
    if (k < n) rr_store_chunk<T, VEC>(p + k, r[c]);
  }
}

// True when rows of n elements starting at each pointer (rows back to back) can use 16-byte chunks.
template <class T>
inline bool rr_vec_ok(int64_t n, std::initializer_list<const void*> ptrs) {
  if (n % kVec16<T> != 0) return false;
  for (const void* p : ptrs)
    if (p && reinterpret_cast<uintptr_t>(p) % 16 != 0) return false;
  return true;
}

#endif

}  // namespace flambeau::cuda
