// Shared device helpers for tokken's CUDA kernels. Included by every .cu file; the
// launcher hands it to NVRTC as an in-memory header, so no CUDA headers are needed
// (bf16 / f16 are raw 16-bit words converted here).
#pragma once

typedef unsigned short bf16_t;
typedef unsigned short f16_t;
typedef unsigned int u32;
typedef unsigned long long u64;

#define NEG_INF __int_as_float(0xff800000)

// bf16 -> f32 is exact (the top half of an f32).
__device__ __forceinline__ float bf16_to_f32(bf16_t x) { return __uint_as_float(((u32)x) << 16); }

// f32 -> bf16, round to nearest even; NaN stays a quiet NaN (as the `half` crate).
__device__ __forceinline__ bf16_t f32_to_bf16(float f) {
    u32 u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (bf16_t)((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (bf16_t)(u >> 16);
}

__device__ __forceinline__ float f16_to_f32(f16_t x) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(x));
    return f;
}

__device__ __forceinline__ f16_t f32_to_f16(float f) {
    f16_t h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}

// Element loaders used by templated kernels (one per storage type).
struct F32 { typedef float T; __device__ static float load(const float* p, long long i) { return p[i]; } };
struct BF16 { typedef bf16_t T; __device__ static float load(const bf16_t* p, long long i) { return bf16_to_f32(p[i]); } };
struct F16 { typedef f16_t T; __device__ static float load(const f16_t* p, long long i) { return f16_to_f32(p[i]); } };

// ---- counter-based dropout RNG: the exact formulas of kernels/src/cpu/dropout.rs ----
// The host derives (k0, k1) from the 64-bit seed (splitmix64 finaliser) and the 24-bit
// threshold from p; element `index` is kept when draw(index) >= threshold.
__device__ __forceinline__ u32 mix32(u32 x) {
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    return x ^ (x >> 16);
}

__device__ __forceinline__ u32 dropout_draw(u32 k0, u32 k1, u32 index) {
    return mix32(mix32(index ^ k0) + k1) >> 8;
}

__device__ __forceinline__ bool dropout_keep(u32 k0, u32 k1, u32 thr, u32 index) {
    return dropout_draw(k0, k1, index) >= thr;
}

// Attention's dropout on the probabilities, as the launchers pass it (attention.rs).
struct DropoutArgs {
    u32 k0, k1, thr;
    float scale; // 1/(1-p), 0 when p == 1; ignored when !enabled
    int enabled;
};

__device__ __forceinline__ float keep_scale(const DropoutArgs& dr, u32 index) {
    if (!dr.enabled) return 1.0f;
    return dropout_keep(dr.k0, dr.k1, dr.thr, index) ? dr.scale : 0.0f;
}

// Whether sequence `b` has at least one real token (block-wide, result in shared memory).
__device__ __forceinline__ int sequence_has_real_token(const unsigned char* mask_b, int T, int* flag) {
    if (threadIdx.x == 0) *flag = 0;
    __syncthreads();
    for (int j = threadIdx.x; j < T; j += blockDim.x)
        if (mask_b[j]) *flag = 1;
    __syncthreads();
    return *flag;
}

// ---- warp / block reductions ----
__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ double warp_sum_f64(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024); every thread
// gets the result. `scratch` holds 32 floats of shared memory.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float r = lane < nwarps ? scratch[lane] : 0.0f;
    return warp_sum(r);
}

__device__ __forceinline__ double block_sum_f64(double v, double* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = warp_sum_f64(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    double r = lane < nwarps ? scratch[lane] : 0.0;
    return warp_sum_f64(r);
}

__device__ __forceinline__ float block_max(float v, float* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float r = lane < nwarps ? scratch[lane] : NEG_INF;
    return warp_max(r);
}

// ---- asynchronous copies (sm_80+) ----
__device__ __forceinline__ u32 smem_addr(const void* p) {
    return (u32)__cvta_generic_to_shared(p);
}

// 16-byte global -> shared copy; `valid == false` writes zeros (src-size 0).
__device__ __forceinline__ void cp_async_16(void* dst, const void* src, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
                 "r"(valid ? 16 : 0));
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }

template <int N>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// ---- GEMM epilogue (gemm.cu, gemm_wgmma.cu), one output element ----
// C[m, n] = alpha * acc + beta * C[m, n] + bias[n]; beta == 0 never reads C, bias may be null.
__device__ __forceinline__ void gemm_store(float* C, int ldc, int m, int n, float acc, float alpha, float beta,
                                           const float* bias) {
    float v = alpha * acc;
    float* cp = C + (long long)m * ldc + n;
    if (beta != 0.0f) v += beta * *cp;
    if (bias) v += bias[n];
    *cp = v;
}

// C[m, n] += scale * sum_q U[m, q] V[n, q], with U [M, r] (row stride r) and
// V[n, q] = lora_v[n * lv_sn + q * lv_sr].
__device__ __forceinline__ void gemm_add_low_rank(float* C, int ldc, int m, int n, const float* lora_u, int lora_r,
                                                  const float* lora_v, int lv_sn, int lv_sr, float lora_scale) {
    const float* u = lora_u + (long long)m * lora_r;
    const float* w = lora_v + (long long)n * lv_sn;
    float l = 0.0f;
    for (int q = 0; q < lora_r; ++q) l += u[q] * w[(long long)q * lv_sr];
    C[(long long)m * ldc + n] += lora_scale * l;
}

// ---- warp-level tensor-core MMA (sm_80+) ----
// ldmatrix.x4: lanes 8i..8i+7 give the row addresses of 8x8 matrix i (8 consecutive 16-bit
// elements each); register i of lane t receives elements (t/4, 2(t%4)..+1) of matrix i, or
// with .trans (2(t%4)..+1, t/4).
__device__ __forceinline__ void ldmatrix_x4(u32* r, const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p)));
}

__device__ __forceinline__ void ldmatrix_x4_trans(u32* r, const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p)));
}

template <bool F16>
__device__ __forceinline__ void mma_16816(float* d, const u32* a, const u32* b) {
    if (F16) {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
            "{%0,%1,%2,%3};\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    } else {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
            "{%0,%1,%2,%3};\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
}
