// Tensor-core GEMM, row-major, bf16 or f16 inputs, f32 accumulation and f32 output:
//
//   C = alpha * op(A) * op(B) + beta * C + bias[n] + lora_scale * U * V^T
//
// op(A) is [M, K], op(B) is [K, N], C is [M, N] with leading dimension ldc. With TA (TB)
// false A (B) is stored as op(A) (op(B)); with true it is stored transposed ([K, M] /
// [N, K]). beta == 0 means C is write-only. `bias` ([N]) and the low-rank term are
// optional (null pointers): U is [M, R] f32 (row stride R) and V is read as
// V[n, r] = lora_v[n * lv_sn + r * lv_sr], so both y = x W^T + s (x A^T) B^T (V = B, [N, R])
// and dx = dy W + du A (V = A^T) use the same epilogue.
//
// Layout contract (checked by the launcher): the stored contiguous dimension of each operand
// is a multiple of 8 elements, leading dimensions are multiples of 8 and base pointers are
// 16-byte aligned, so every 16-byte cp.async chunk is either fully inside or fully outside
// the matrix; out-of-range chunks are zero-filled.
//
// Structure: 128 x 128 x 32 block tiles, 8 warps (2 x 4) of 64 x 32 warp tiles, a 3-stage
// cp.async pipeline through padded shared memory (row pitch + 16 bytes, so ldmatrix rows
// fall in distinct banks), fragments via ldmatrix (.trans for the transposed layouts) and
// mma.sync.m16n8k16 (sm_80+; the same code runs on sm_90a).
#include "common.cuh"

#define BM 128
#define BN 128
#define BK 32
#define STAGES 3
#define THREADS 256
#define PAD 8

// A not transposed: As[BM][BK + PAD] (k contiguous). A transposed: As[BK][BM + PAD].
template <bool TA>
__device__ __forceinline__ constexpr int a_tile_elems() { return TA ? BK * (BM + PAD) : BM * (BK + PAD); }
// B not transposed: Bs[BK][BN + PAD] (n contiguous). B transposed: Bs[BN][BK + PAD].
template <bool TB>
__device__ __forceinline__ constexpr int b_tile_elems() { return TB ? BN * (BK + PAD) : BK * (BN + PAD); }

template <bool TA>
__device__ __forceinline__ void load_a(unsigned short* As, const unsigned short* A, int lda, int M, int K, int m0,
                                       int k0) {
    // 512 chunks of 8 halves per tile either way; 2 per thread.
#pragma unroll
    for (int it = 0; it < 2; ++it) {
        const int c = threadIdx.x + it * THREADS;
        if (!TA) {
            const int row = c >> 2, kc = (c & 3) * 8;
            const int m = m0 + row, k = k0 + kc;
            const bool ok = m < M && k < K;
            cp_async_16(As + row * (BK + PAD) + kc, ok ? A + (long long)m * lda + k : A, ok);
        } else {
            const int row = c >> 4, mc = (c & 15) * 8;
            const int k = k0 + row, m = m0 + mc;
            const bool ok = k < K && m < M;
            cp_async_16(As + row * (BM + PAD) + mc, ok ? A + (long long)k * lda + m : A, ok);
        }
    }
}

template <bool TB>
__device__ __forceinline__ void load_b(unsigned short* Bs, const unsigned short* B, int ldb, int N, int K, int n0,
                                       int k0) {
#pragma unroll
    for (int it = 0; it < 2; ++it) {
        const int c = threadIdx.x + it * THREADS;
        if (TB) {
            const int row = c >> 2, kc = (c & 3) * 8;
            const int n = n0 + row, k = k0 + kc;
            const bool ok = n < N && k < K;
            cp_async_16(Bs + row * (BK + PAD) + kc, ok ? B + (long long)n * ldb + k : B, ok);
        } else {
            const int row = c >> 4, nc = (c & 15) * 8;
            const int k = k0 + row, n = n0 + nc;
            const bool ok = k < K && n < N;
            cp_async_16(Bs + row * (BN + PAD) + nc, ok ? B + (long long)k * ldb + n : B, ok);
        }
    }
}

template <bool F16, bool TA, bool TB>
__device__ __forceinline__ void gemm_tc(int M, int N, int K, const unsigned short* __restrict__ A, int lda,
                                        const unsigned short* __restrict__ B, int ldb, float* __restrict__ C,
                                        int ldc, float alpha, float beta, const float* __restrict__ bias,
                                        const float* __restrict__ lora_u, int lora_r,
                                        const float* __restrict__ lora_v, int lv_sn, int lv_sr, float lora_scale) {
    extern __shared__ __align__(16) unsigned short smem[];
    constexpr int A_ELEMS = a_tile_elems<TA>();
    constexpr int B_ELEMS = b_tile_elems<TB>();
    unsigned short* As = smem;
    unsigned short* Bs = smem + STAGES * A_ELEMS;

    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int wm = (warp >> 2) * 64, wn = (warp & 3) * 32;

    float acc[4][4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

    const int KT = (K + BK - 1) / BK;
#pragma unroll
    for (int s = 0; s < STAGES - 1; ++s) {
        if (s < KT) {
            load_a<TA>(As + s * A_ELEMS, A, lda, M, K, m0, s * BK);
            load_b<TB>(Bs + s * B_ELEMS, B, ldb, N, K, n0, s * BK);
        }
        cp_async_commit();
    }

    // ldmatrix lane coordinates: group g of 8 lanes, row r inside the group.
    const int g = lane >> 3, r = lane & 7;

    for (int kt = 0; kt < KT; ++kt) {
        cp_async_wait<STAGES - 2>();
        __syncthreads();
        {
            const int nk = kt + STAGES - 1;
            if (nk < KT) {
                const int st = nk % STAGES;
                load_a<TA>(As + st * A_ELEMS, A, lda, M, K, m0, nk * BK);
                load_b<TB>(Bs + st * B_ELEMS, B, ldb, N, K, n0, nk * BK);
            }
            cp_async_commit();
        }
        const unsigned short* as = As + (kt % STAGES) * A_ELEMS;
        const unsigned short* bs = Bs + (kt % STAGES) * B_ELEMS;
#pragma unroll
        for (int kk = 0; kk < BK; kk += 16) {
            u32 af[4][4], bf[4][2];
#pragma unroll
            for (int mt = 0; mt < 4; ++mt) {
                const int mb = wm + mt * 16;
                if (!TA) {
                    // matrices (m 0-7, k 0-7), (m 8-15, k 0-7), (m 0-7, k 8-15), (m 8-15, k 8-15)
                    ldmatrix_x4(af[mt], as + (mb + r + (g & 1) * 8) * (BK + PAD) + kk + (g >> 1) * 8);
                } else {
                    // stored [k][m]: same four matrices, transposed on load
                    ldmatrix_x4_trans(af[mt], as + (kk + r + (g >> 1) * 8) * (BM + PAD) + mb + (g & 1) * 8);
                }
            }
#pragma unroll
            for (int np = 0; np < 2; ++np) {
                const int nb = wn + np * 16;
                u32 t[4];
                if (TB) {
                    // stored [n][k]: matrices (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15)
                    ldmatrix_x4(t, bs + (nb + r + (g >> 1) * 8) * (BK + PAD) + kk + (g & 1) * 8);
                } else {
                    // stored [k][n]: (k 0-7, n 0-7), (k 8-15, n 0-7), (k 0-7, n 8-15), (k 8-15, n 8-15)
                    ldmatrix_x4_trans(t, bs + (kk + r + (g & 1) * 8) * (BN + PAD) + nb + (g >> 1) * 8);
                }
                bf[np * 2][0] = t[0];
                bf[np * 2][1] = t[1];
                bf[np * 2 + 1][0] = t[2];
                bf[np * 2 + 1][1] = t[3];
            }
#pragma unroll
            for (int mt = 0; mt < 4; ++mt)
#pragma unroll
                for (int nt = 0; nt < 4; ++nt) mma_16816<F16>(acc[mt][nt], af[mt], bf[nt]);
        }
    }
    cp_async_wait<0>();

    // Epilogue: accumulator (mt, nt, e) holds row wm + mt*16 + lane/4 (+8 for e >= 2),
    // column wn + nt*8 + (lane%4)*2 (+1 for odd e).
#pragma unroll
    for (int mt = 0; mt < 4; ++mt)
#pragma unroll
        for (int nt = 0; nt < 4; ++nt)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int m = m0 + wm + mt * 16 + (lane >> 2) + (e >> 1) * 8;
                const int n = n0 + wn + nt * 8 + (lane & 3) * 2 + (e & 1);
                if (m >= M || n >= N) continue;
                gemm_store(C, ldc, m, n, acc[mt][nt][e], alpha, beta, bias);
            }
    // Low-rank term, added to this thread's own outputs in a second, non-unrolled pass
    // (unrolling the rank loop into all 64 outputs makes ptxas take ~15 s per kernel).
    if (lora_u) {
#pragma unroll 1
        for (int idx = 0; idx < 64; ++idx) {
            const int mt = idx >> 4, nt = (idx >> 2) & 3, e = idx & 3;
            const int m = m0 + wm + mt * 16 + (lane >> 2) + (e >> 1) * 8;
            const int n = n0 + wn + nt * 8 + (lane & 3) * 2 + (e & 1);
            if (m >= M || n >= N) continue;
            gemm_add_low_rank(C, ldc, m, n, lora_u, lora_r, lora_v, lv_sn, lv_sr, lora_scale);
        }
    }
}

#define GEMM_ENTRY(NAME, F16, TA, TB)                                                                          \
    extern "C" __global__ void __launch_bounds__(THREADS)                                                       \
        NAME(int M, int N, int K, const unsigned short* A, int lda, const unsigned short* B, int ldb, float* C, \
             int ldc, float alpha, float beta, const float* bias, const float* lora_u, int lora_r,               \
             const float* lora_v, int lv_sn, int lv_sr, float lora_scale) {                                     \
        gemm_tc<F16, TA, TB>(M, N, K, A, lda, B, ldb, C, ldc, alpha, beta, bias, lora_u, lora_r, lora_v, lv_sn,  \
                             lv_sr, lora_scale);                                                               \
    }

GEMM_ENTRY(gemm_nn_bf16, false, false, false)
GEMM_ENTRY(gemm_nt_bf16, false, false, true)
GEMM_ENTRY(gemm_tn_bf16, false, true, false)
GEMM_ENTRY(gemm_nn_f16, true, false, false)
GEMM_ENTRY(gemm_nt_f16, true, false, true)
GEMM_ENTRY(gemm_tn_f16, true, true, false)
