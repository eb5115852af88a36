// FLB_HD marks small functions that run both in CUDA kernels and on the host: the index arithmetic
// of the tiled GEMM (gemm_tile.cuh) and of the implicit-GEMM convolution (conv_igemm.h,
// conv_special.h) is compiled by nvcc for the kernels and by the plain C++ compiler for the host
// tests that check it (tools/check_gemm_tiling.cu, tests/cuda_host/*.cpp).
#pragma once

#if defined(__CUDACC__)
#define FLB_HD __host__ __device__ __forceinline__
#else
#define FLB_HD inline
#endif
