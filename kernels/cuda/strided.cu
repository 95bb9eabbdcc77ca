// Strided block copy for the model's glue (model/src/cuda): for r < rows, j < cols,
//   dst[r * ld_dst + j] = src[r * ld_src + j] + beta * dst[r * ld_dst + j]
// (row strides in elements; beta 0 copies without reading dst). It gathers one LoRA
// module's column block out of the fused q|k|v gradient, scatter-adds a module's LoRA
// output back into it, and picks each sequence's [CLS] row (ld_src = T * C).
#include "common.cuh"

extern "C" __global__ void copy_cols_f32(float* __restrict__ dst, long long ld_dst, const float* __restrict__ src,
                                         long long ld_src, long long rows, int cols, float beta) {
    const long long n = rows * cols;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        const long long r = i / cols;
        const long long j = i - r * cols;
        const float v = src[r * ld_src + j];
        float* d = dst + r * ld_dst + j;
        *d = beta == 0.0f ? v : v + beta * *d;
    }
}
