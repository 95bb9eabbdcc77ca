// SIMT GEMM for any shape and stride, f32 accumulation and f32 output (no tensor cores):
//   C = alpha * op(A) * op(B) + beta * C
// with the same storage convention as gemm.cu (TA/TB: stored transposed). Used where the
// tensor-core contract does not hold (odd sizes such as a classifier head) and for the
// skinny LoRA products (rank R): u = x A^T, du = s dy B, dB += s dy^T u, dA += du^T x.
// Inputs may be f32, bf16 or f16 (converted exactly to f32 on load).
//
// 16 x 16 output tile per block of 256 threads, K staged through shared memory 16 at a time.
#include "common.cuh"

#define TS 16

template <typename EA, typename EB, bool TA, bool TB>
__device__ __forceinline__ void sgemm_tile(int M, int N, int K, const typename EA::T* __restrict__ A, int lda,
                                           const typename EB::T* __restrict__ B, int ldb, float* __restrict__ C,
                                           int ldc, float alpha, float beta) {
    __shared__ float As[TS][TS + 1];
    __shared__ float Bs[TS][TS + 1];
    const int tx = threadIdx.x % TS, ty = threadIdx.x / TS;
    const int m = blockIdx.y * TS + ty, n = blockIdx.x * TS + tx;
    float acc = 0.0f;
    for (int k0 = 0; k0 < K; k0 += TS) {
        // As[ty][tx] = op(A)[m0 + ty][k0 + tx]; Bs[ty][tx] = op(B)[k0 + ty][n0 + tx]
        {
            const int am = blockIdx.y * TS + ty, ak = k0 + tx;
            As[ty][tx] = (am < M && ak < K) ? EA::load(A, TA ? (long long)ak * lda + am : (long long)am * lda + ak) : 0.0f;
            const int bk = k0 + ty, bn = blockIdx.x * TS + tx;
            Bs[ty][tx] = (bk < K && bn < N) ? EB::load(B, TB ? (long long)bn * ldb + bk : (long long)bk * ldb + bn) : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < TS; ++kk) acc += As[ty][kk] * Bs[kk][tx];
        __syncthreads();
    }
    if (m < M && n < N) {
        float* cp = C + (long long)m * ldc + n;
        float v = alpha * acc;
        if (beta != 0.0f) v += beta * *cp;
        *cp = v;
    }
}

#define SGEMM_ENTRY(NAME, EA, EB, TA, TB)                                                                        \
    extern "C" __global__ void __launch_bounds__(TS * TS)                                                         \
        NAME(int M, int N, int K, const EA::T* A, int lda, const EB::T* B, int ldb, float* C, int ldc, float alpha, \
             float beta) {                                                                                        \
        sgemm_tile<EA, EB, TA, TB>(M, N, K, A, lda, B, ldb, C, ldc, alpha, beta);                                 \
    }

SGEMM_ENTRY(sgemm_nn_f32, F32, F32, false, false)
SGEMM_ENTRY(sgemm_nt_f32, F32, F32, false, true)
SGEMM_ENTRY(sgemm_tn_f32, F32, F32, true, false)
SGEMM_ENTRY(sgemm_tt_f32, F32, F32, true, true)
// LoRA down-projection u = x A^T with x in bf16 / f16, and dA += du^T x.
SGEMM_ENTRY(sgemm_nt_bf16_f32, BF16, F32, false, true)
SGEMM_ENTRY(sgemm_nt_f16_f32, F16, F32, false, true)
SGEMM_ENTRY(sgemm_tn_f32_bf16, F32, BF16, true, false)
SGEMM_ENTRY(sgemm_tn_f32_f16, F32, F16, true, false)
