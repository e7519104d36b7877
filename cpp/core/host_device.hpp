// Marks functions that the CPU kernels and the CUDA kernels share: compiled for both by nvcc,
// plain C++ for every other compiler (so the CPU build, and the host tests of the CUDA kernels'
// arithmetic, need no CUDA).
#pragma once

#if defined(__CUDACC__)
#define E3CORE_HD __host__ __device__
#else
#define E3CORE_HD
#endif
