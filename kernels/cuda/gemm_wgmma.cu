// Hopper (sm_90a) tensor-core GEMM with warpgroup MMA (`wgmma.mma_async`): the same
// contract, arguments and epilogue as gemm.cu,
//
//   C = alpha * op(A) * op(B) + beta * C + bias[n] + lora_scale * U * V^T,
//
// bf16 or f16 inputs, f32 accumulation and f32 output, row-major, TA / TB meaning "stored
// transposed" (see gemm.cu for the layout contract and the low-rank term).
//
// Structure: 128 x BN x 64 block tiles (BN = 128 or 256: kernels gemm_wgmma_* and
// gemm_wgmma256_*), 256 threads = 2 warpgroups, each computing a 64 x BN half of the tile
// with `wgmma.mma_async.m64n{BN}k16` (4 per k tile), operands read by the tensor cores
// straight from shared memory through matrix descriptors. BN = 256 loads a quarter fewer
// operand bytes per flop (85 flop per byte instead of 64): at the tensor cores' rate a 128 x
// 128 tile asks more of L2 than it delivers. Tiles arrive by
// cp.async in a 4-stage ring, loaded 2 k tiles ahead: the stage being refilled was last read
// by the wgmma group of two iterations back, which `wgmma.wait_group 1` of the previous
// iteration has retired before the barrier.
//
// Shared-memory layouts (the "128-byte swizzle" canonical layouts of the PTX ISA, as CUTLASS
// names them Layout_K_SW128_Atom / Layout_MN_SW128_Atom); every tile starts 1024-byte aligned
// and a 16-byte chunk's index inside its 128-byte row is XORed with the row's index mod 8:
//   K-major operand (A not transposed, B transposed): row r of the tile (an m or n index)
//     holds its 64 k values in 128 bytes at r * 128; chunk c (k = 8c..8c+7) sits at
//     r * 128 + ((c ^ (r & 7)) << 4). Descriptor: SBO = 1024 (8 rows), LBO unused (16);
//     k step s of 16 starts 32 * s bytes in.
//   MN-major operand (A transposed, B not transposed): 64-wide m or n atoms of 8192 bytes
//     (BN / 64 of them for B);
//     in atom a, k row r holds 64 m/n values in 128 bytes at a * 8192 + r * 128, chunk c at
//     ((c ^ (r & 7)) << 4). Descriptor: LBO = 8192 (next atom), SBO = 1024 (next 8 k rows);
//     k step s starts 2048 * s bytes in.
//
// The body exists only when compiled for sm_90a (the launcher picks these kernels only
// there); for other architectures the kernels trap.
#include "common.cuh"

#define WG_BM 128
#define WG_BK 64
#define WG_STAGES 4
#define WG_THREADS 256
// Bytes of the A tile (128 rows of 64 16-bit values); B's is BN * 128, a stage is A then B.
#define WG_TILE_BYTES (WG_BM * WG_BK * 2)

// Loads a K-major tile: ROWS rows r0.. of a stored [rows][K] operand, k0..k0+63. ROWS * 8
// chunks of 16 bytes, ROWS / 32 per thread; chunks outside the matrix are zero-filled.
template <int ROWS>
__device__ __forceinline__ void wg_load_kmajor(unsigned char* tile, const unsigned short* src, int ld, int rows,
                                               int K, int r0, int k0) {
#pragma unroll
    for (int it = 0; it < ROWS / 32; ++it) {
        const int q = threadIdx.x + it * WG_THREADS;
        const int r = q >> 3, c = q & 7;
        const int row = r0 + r, k = k0 + c * 8;
        const bool ok = row < rows && k < K;
        cp_async_16(tile + r * 128 + ((c ^ (r & 7)) << 4), ok ? src + (long long)row * ld + k : src, ok);
    }
}

// Loads an MN-major tile: k rows k0..k0+63 of a stored [K][cols] operand, COLS columns from
// c0 as COLS / 64 atoms of 64.
template <int COLS>
__device__ __forceinline__ void wg_load_mnmajor(unsigned char* tile, const unsigned short* src, int ld, int cols,
                                                int K, int c0, int k0) {
#pragma unroll
    for (int it = 0; it < COLS / 32; ++it) {
        const int q = threadIdx.x + it * WG_THREADS;
        const int r = q / (COLS / 8), c16 = q % (COLS / 8);
        const int a = c16 >> 3, c = c16 & 7;
        const int k = k0 + r, col = c0 + c16 * 8;
        const bool ok = k < K && col < cols;
        cp_async_16(tile + a * 8192 + r * 128 + ((c ^ (r & 7)) << 4), ok ? src + (long long)k * ld + col : src, ok);
    }
}

// Shared-memory matrix descriptor: start address, leading and stride byte offsets (all in
// 16-byte units, 14 bits each), layout type 1 = 128-byte swizzle in bits 62-63, base offset 0.
__device__ __forceinline__ u64 wg_desc(u32 addr, u32 lbo, u32 sbo) {
    return (u64)((addr & 0x3FFFF) >> 4) | ((u64)((lbo & 0x3FFFF) >> 4) << 16) |
           ((u64)((sbo & 0x3FFFF) >> 4) << 32) | (1ull << 62);
}

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wg_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Makes this thread's completed generic-proxy writes to shared memory (the cp.async copies)
// visible to the async proxy the tensor cores read through.
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }
// Keeps the compiler from moving accumulator reads or writes across the asynchronous MMAs.
__device__ __forceinline__ void wg_fence_operand(float& x) { asm volatile("" : "+f"(x)::"memory"); }

#define WG_D64 \
        "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),\
        "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]),\
        "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]),\
        "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]),\
        "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]),\
        "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]),\
        "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]),\
        "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),\
        "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]),\
        "+f"(d[63])

#define WG_D128 \
        WG_D64,\
        "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]),\
        "+f"(d[70]), "+f"(d[71]), "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]),\
        "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]),\
        "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), "+f"(d[88]), "+f"(d[89]), "+f"(d[90]),\
        "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), "+f"(d[96]), "+f"(d[97]),\
        "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), "+f"(d[104]),\
        "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]),\
        "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]),\
        "+f"(d[119]), "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]),\
        "+f"(d[126]), "+f"(d[127])

#define WG_MMA128_ASM(TYPES) \
    "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n" \
    "wgmma.mma_async.sync.aligned.m64n128k16.f32." TYPES " {" \
    "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "\
    "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "\
    "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "\
    "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63" \
    "}, %64, %65, p, 1, 1, %67, %68;\n}\n"

#define WG_MMA256_ASM(TYPES) \
    "{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n" \
    "wgmma.mma_async.sync.aligned.m64n256k16.f32." TYPES " {" \
    "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "\
    "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "\
    "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "\
    "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, "\
    "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, "\
    "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, "\
    "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, "\
    "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127" \
    "}, %128, %129, p, 1, 1, %131, %132;\n}\n"

// d (64 x BN, this thread's BN / 2 values) += A (64 x 16, descriptor da) * B (16 x BN, db).
// TA / TB: 1 when that operand is MN-major in shared memory.
template <bool F16, int TA, int TB, int BN>
__device__ __forceinline__ void wg_mma(float* d, u64 da, u64 db) {
    if (BN == 128) {
        if (F16) asm volatile(WG_MMA128_ASM("f16.f16") : WG_D64 : "l"(da), "l"(db), "r"(1), "n"(TA), "n"(TB));
        else asm volatile(WG_MMA128_ASM("bf16.bf16") : WG_D64 : "l"(da), "l"(db), "r"(1), "n"(TA), "n"(TB));
    } else {
        if (F16) asm volatile(WG_MMA256_ASM("f16.f16") : WG_D128 : "l"(da), "l"(db), "r"(1), "n"(TA), "n"(TB));
        else asm volatile(WG_MMA256_ASM("bf16.bf16") : WG_D128 : "l"(da), "l"(db), "r"(1), "n"(TA), "n"(TB));
    }
}
#endif

template <bool F16, bool TA, bool TB, int BN>
__device__ __forceinline__ void gemm_wgmma(int M, int N, int K, const unsigned short* __restrict__ A, int lda,
                                           const unsigned short* __restrict__ B, int ldb, float* __restrict__ C,
                                           int ldc, float alpha, float beta, const float* __restrict__ bias,
                                           const float* __restrict__ lora_u, int lora_r,
                                           const float* __restrict__ lora_v, int lv_sn, int lv_sr,
                                           float lora_scale) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    extern __shared__ __align__(16) unsigned char wg_smem_raw[];
    // Tiles must start 1024-byte aligned for the swizzle (the launcher adds 1024 bytes of slack).
    const u32 raw = smem_addr(wg_smem_raw);
    unsigned char* smem = wg_smem_raw + (((raw + 1023u) & ~1023u) - raw);
    const u32 base = smem_addr(smem);

    constexpr int STAGE_BYTES = WG_TILE_BYTES + BN * WG_BK * 2;
    constexpr int NV = BN / 2; // accumulators per thread
    const int m0 = blockIdx.y * WG_BM, n0 = blockIdx.x * BN;
    const int wg = threadIdx.x >> 7;
    const int lane = threadIdx.x & 31, warp_in_wg = (threadIdx.x >> 5) & 3;

    float d[NV];
#pragma unroll
    for (int i = 0; i < NV; ++i) d[i] = 0.0f;

    const int KT = (K + WG_BK - 1) / WG_BK;
    auto load_stage = [&](int kt) {
        unsigned char* a_tile = smem + (kt % WG_STAGES) * STAGE_BYTES;
        unsigned char* b_tile = a_tile + WG_TILE_BYTES;
        if (TA) wg_load_mnmajor<WG_BM>(a_tile, A, lda, M, K, m0, kt * WG_BK);
        else wg_load_kmajor<WG_BM>(a_tile, A, lda, M, K, m0, kt * WG_BK);
        if (TB) wg_load_kmajor<BN>(b_tile, B, ldb, N, K, n0, kt * WG_BK);
        else wg_load_mnmajor<BN>(b_tile, B, ldb, N, K, n0, kt * WG_BK);
    };
#pragma unroll
    for (int s = 0; s < WG_STAGES - 2; ++s) {
        if (s < KT) load_stage(s);
        cp_async_commit();
    }

    // Descriptor offsets: this warpgroup's 64 rows of A are rows 64*wg.. (K-major) or atom wg
    // (MN-major): 8192 bytes in either way. K-major operands step 32 bytes per k16, MN-major
    // ones 2048 bytes (16 rows of 128).
    const u32 a_lbo = TA ? 8192 : 16, b_lbo = TB ? 16 : 8192;
    const u32 a_step = TA ? 2048 : 32, b_step = TB ? 32 : 2048;

#pragma unroll
    for (int i = 0; i < NV; ++i) wg_fence_operand(d[i]);
    for (int kt = 0; kt < KT; ++kt) {
        cp_async_wait<WG_STAGES - 3>();
        fence_proxy_async();
        __syncthreads();
        if (kt + WG_STAGES - 2 < KT) load_stage(kt + WG_STAGES - 2);
        cp_async_commit();

        const u32 a_addr = base + (kt % WG_STAGES) * STAGE_BYTES + wg * 8192;
        const u32 b_addr = base + (kt % WG_STAGES) * STAGE_BYTES + WG_TILE_BYTES;
        wg_fence();
#pragma unroll
        for (int s = 0; s < WG_BK / 16; ++s) {
            wg_mma<F16, TA ? 1 : 0, TB ? 0 : 1, BN>(d, wg_desc(a_addr + s * a_step, a_lbo, 1024),
                                                   wg_desc(b_addr + s * b_step, b_lbo, 1024));
        }
        wg_commit();
        wg_wait<1>();
    }
    wg_wait<0>();
#pragma unroll
    for (int i = 0; i < NV; ++i) wg_fence_operand(d[i]);
    cp_async_wait<0>();

    // Epilogue: value 4j + e of this thread is row 16 * warp + lane / 4 (+8 for e >= 2) of the
    // warpgroup's 64 rows, column 8j + (lane % 4) * 2 (+1 for odd e).
    const int row0 = m0 + wg * 64 + warp_in_wg * 16 + (lane >> 2);
    const int col0 = n0 + (lane & 3) * 2;
#pragma unroll
    for (int j = 0; j < BN / 8; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            const int m = row0 + (e >> 1) * 8;
            const int n = col0 + j * 8 + (e & 1);
            if (m >= M || n >= N) continue;
            gemm_store(C, ldc, m, n, d[4 * j + e], alpha, beta, bias);
        }
    if (lora_u) {
#pragma unroll 1
        for (int idx = 0; idx < NV; ++idx) {
            const int j = idx >> 2, e = idx & 3;
            const int m = row0 + (e >> 1) * 8;
            const int n = col0 + j * 8 + (e & 1);
            if (m >= M || n >= N) continue;
            gemm_add_low_rank(C, ldc, m, n, lora_u, lora_r, lora_v, lv_sn, lv_sr, lora_scale);
        }
    }
#else
    __trap();
#endif
}

#define WGMMA_ENTRY(NAME, F16, TA, TB, BN)                                                                     \
    extern "C" __global__ void __launch_bounds__(WG_THREADS, 1)                                                 \
        NAME(int M, int N, int K, const unsigned short* A, int lda, const unsigned short* B, int ldb, float* C, \
             int ldc, float alpha, float beta, const float* bias, const float* lora_u, int lora_r,               \
             const float* lora_v, int lv_sn, int lv_sr, float lora_scale) {                                     \
        gemm_wgmma<F16, TA, TB, BN>(M, N, K, A, lda, B, ldb, C, ldc, alpha, beta, bias, lora_u, lora_r, lora_v, \
                                    lv_sn, lv_sr, lora_scale);                                                 \
    }

WGMMA_ENTRY(gemm_wgmma_nn_bf16, false, false, false, 128)
WGMMA_ENTRY(gemm_wgmma_nt_bf16, false, false, true, 128)
WGMMA_ENTRY(gemm_wgmma_tn_bf16, false, true, false, 128)
WGMMA_ENTRY(gemm_wgmma_nn_f16, true, false, false, 128)
WGMMA_ENTRY(gemm_wgmma_nt_f16, true, false, true, 128)
WGMMA_ENTRY(gemm_wgmma_tn_f16, true, true, false, 128)
WGMMA_ENTRY(gemm_wgmma256_nn_bf16, false, false, false, 256)
WGMMA_ENTRY(gemm_wgmma256_nt_bf16, false, false, true, 256)
WGMMA_ENTRY(gemm_wgmma256_tn_bf16, false, true, false, 256)
WGMMA_ENTRY(gemm_wgmma256_nn_f16, true, false, false, 256)
WGMMA_ENTRY(gemm_wgmma256_nt_f16, true, false, true, 256)
WGMMA_ENTRY(gemm_wgmma256_tn_f16, true, true, false, 256)
