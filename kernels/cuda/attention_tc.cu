// Fused multi-head self-attention forward on tensor cores (mma.sync.m16n8k16, sm_80+), the
// contract of attention.cu's attention_forward_f32 (same arguments, same masking, uniform
// rule, dropout index and lse), flash-attention style:
//
// - a block takes 64 query rows of one (batch, head), 4 warps of 16 rows; key / value chunks
//   of 64 rows are converted from f32 to f16 into shared memory (rows past T are zero);
// - S = Q K^T (f16 operands, f32 accumulators) per warp as 8 n-tiles of 8 keys; scaled,
//   masked to -inf, online softmax per row (the 4 lanes of a quad share a row); P = exp(S - m)
//   stays in registers: the m16n8 accumulator layout of two adjacent key tiles is the
//   m16n8k16 A-fragment layout, so P (times the dropout scale, rounded to f16) feeds
//   O += P V directly (V through ldmatrix.trans);
// - out = O / l, lse = m + log l (l summed per lane, quad-reduced at the end).
//
// f16 rather than bf16: scores, probabilities and activations sit well inside f16's range
// and its 11-bit significand keeps P and V 8x more precise than bf16. Head size HS is a
// template parameter (16, 32, 64 or 128; the launcher falls back to attention.cu otherwise).
// Fragment addressing follows gemm.cu's (checked on a GPU): Q as its non-transposed A, K as
// its transposed B, V as its non-transposed B.
#include "common.cuh"

#define TC_Q 64
#define TC_KEYS 64
#define TC_THREADS 128
#define TC_PAD 8

struct DropoutArgs {
    u32 k0, k1, thr;
    float scale; // 1/(1-p), 0 when p == 1; ignored when !enabled
    int enabled;
};

__device__ __forceinline__ float tc_keep_scale(const DropoutArgs& dr, u32 index) {
    if (!dr.enabled) return 1.0f;
    return dropout_keep(dr.k0, dr.k1, dr.thr, index) ? dr.scale : 0.0f;
}

// Two f32 -> one register of two f16, `lo` in the low half (the first element).
__device__ __forceinline__ u32 pack_f16x2(float lo, float hi) {
    u32 r;
    asm("cvt.rn.f16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}

// Rows r0..r0+ROWS of a [T, stride] f32 sequence, columns col..col+HS, into dst[ROWS][HS + PAD]
// as f16; rows past T are zero. 4 consecutive values per thread and step.
template <int HS, int ROWS>
__device__ __forceinline__ void tc_stage(f16_t* dst, const float* seq, int stride, int col, int r0, int T) {
    constexpr int P = HS + TC_PAD;
    for (int e = threadIdx.x * 4; e < ROWS * HS; e += TC_THREADS * 4) {
        const int rr = e / HS, d = e % HS, r = r0 + rr;
        float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (r < T) v = *reinterpret_cast<const float4*>(seq + (long long)r * stride + col + d);
        u32* out = reinterpret_cast<u32*>(dst + rr * P + d);
        out[0] = pack_f16x2(v.x, v.y);
        out[1] = pack_f16x2(v.z, v.w);
    }
}

// Max / sum over the 4 lanes of a quad (lanes 4g..4g+3 hold one row's columns).
__device__ __forceinline__ float quad_max(float v) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
    return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float quad_sum(float v) {
    v += __shfl_xor_sync(0xffffffffu, v, 1);
    return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

template <int HS>
__device__ __forceinline__ void attention_forward_tc(float* __restrict__ out, float* __restrict__ lse,
                                                     const float* __restrict__ qkv,
                                                     const unsigned char* __restrict__ key_mask, int T, int C,
                                                     int NH, DropoutArgs dr) {
    constexpr int P = HS + TC_PAD;
    constexpr int KT = HS / 16; // k steps of Q K^T
    constexpr int DT = HS / 8;  // n tiles of O
    extern __shared__ __align__(16) unsigned char tc_smem[];
    f16_t* Qs = reinterpret_cast<f16_t*>(tc_smem);
    f16_t* Ks = Qs + TC_Q * P;
    f16_t* Vs = Ks + TC_KEYS * P;
    __shared__ int any_real;
    __shared__ unsigned char valid_s[TC_KEYS];

    const int b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * TC_Q;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const int g = lane >> 3, r = lane & 7;  // ldmatrix lane coordinates
    const int qg = lane >> 2, qc = lane & 3; // mma fragment coordinates
    const int stride = 3 * C;
    const float scale = rsqrtf((float)HS);
    const float* seq = qkv + (long long)b * T * stride;
    const unsigned char* mask_b = key_mask + (long long)b * T;

    if (threadIdx.x == 0) any_real = 0;
    __syncthreads();
    for (int j = threadIdx.x; j < T; j += TC_THREADS)
        if (mask_b[j]) any_real = 1;
    tc_stage<HS, TC_Q>(Qs, seq, stride, h * HS, q0, T);
    __syncthreads();
    const bool uniform = !any_real;

    // This warp's 16 query rows as A fragments, one per k step of 16 head dimensions.
    u32 qf[KT][4];
#pragma unroll
    for (int kk = 0; kk < KT; ++kk) ldmatrix_x4(qf[kk], Qs + (w * 16 + r + (g & 1) * 8) * P + kk * 16 + (g >> 1) * 8);

    // Rows qg and qg + 8 of the warp's tile: running max, this lane's partial sum, output.
    const int i_lo = q0 + w * 16 + qg, i_hi = i_lo + 8;
    float m[2] = {NEG_INF, NEG_INF}, l[2] = {0.0f, 0.0f};
    float o[DT][4];
#pragma unroll
    for (int dt = 0; dt < DT; ++dt)
#pragma unroll
        for (int e = 0; e < 4; ++e) o[dt][e] = 0.0f;
    const u32 bh = (u32)(b * NH + h);
    const u32 row_index[2] = {(bh * (u32)T + (u32)i_lo) * (u32)T, (bh * (u32)T + (u32)i_hi) * (u32)T};

    for (int j0 = 0; j0 < T; j0 += TC_KEYS) {
        __syncthreads();
        tc_stage<HS, TC_KEYS>(Ks, seq, stride, C + h * HS, j0, T);
        tc_stage<HS, TC_KEYS>(Vs, seq, stride, 2 * C + h * HS, j0, T);
        if (threadIdx.x < TC_KEYS) {
            const int j = j0 + threadIdx.x;
            valid_s[threadIdx.x] = j < T && (uniform || mask_b[j]);
        }
        __syncthreads();

        // S = Q K^T: key tiles in pairs (16 keys per ldmatrix.x4).
        float s[8][4];
#pragma unroll
        for (int nt = 0; nt < 8; ++nt)
#pragma unroll
            for (int e = 0; e < 4; ++e) s[nt][e] = 0.0f;
#pragma unroll
        for (int np = 0; np < 4; ++np)
#pragma unroll
            for (int kk = 0; kk < KT; ++kk) {
                u32 t[4];
                ldmatrix_x4(t, Ks + (np * 16 + r + (g >> 1) * 8) * P + kk * 16 + (g & 1) * 8);
                const u32 b0[2] = {t[0], t[1]}, b1[2] = {t[2], t[3]};
                mma_16816<true>(s[np * 2], qf[kk], b0);
                mma_16816<true>(s[np * 2 + 1], qf[kk], b1);
            }

        // Scale, mask, online softmax. Element (nt, e): row qg (+8 for e >= 2), key
        // j0 + nt * 8 + qc * 2 + (e & 1).
        float mx[2] = {NEG_INF, NEG_INF};
#pragma unroll
        for (int nt = 0; nt < 8; ++nt)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int jj = nt * 8 + qc * 2 + (e & 1);
                const float v = valid_s[jj] ? (uniform ? 0.0f : s[nt][e] * scale) : NEG_INF;
                s[nt][e] = v;
                mx[e >> 1] = fmaxf(mx[e >> 1], v);
            }
        float corr[2];
#pragma unroll
        for (int hr = 0; hr < 2; ++hr) {
            const float mn = fmaxf(m[hr], quad_max(mx[hr]));
            // A row with no real key yet keeps m = -inf, l = 0 and O = 0.
            corr[hr] = mn == NEG_INF ? 1.0f : expf(m[hr] - mn);
            m[hr] = mn;
            l[hr] *= corr[hr];
        }
#pragma unroll
        for (int dt = 0; dt < DT; ++dt)
#pragma unroll
            for (int e = 0; e < 4; ++e) o[dt][e] *= corr[e >> 1];

        // P (with dropout) as f16 A fragments: key step ks covers key tiles 2ks and 2ks+1.
        u32 pf[4][4];
#pragma unroll
        for (int nt = 0; nt < 8; ++nt) {
            float pd[4];
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int hr = e >> 1;
                const float p = s[nt][e] == NEG_INF ? 0.0f : expf(s[nt][e] - m[hr]);
                l[hr] += p;
                const u32 j = (u32)(j0 + nt * 8 + qc * 2 + (e & 1));
                pd[e] = p * tc_keep_scale(dr, row_index[hr] + j);
            }
            // a0 (row qg, keys 2qc..) / a2 (same row, keys +8) come from tiles 2ks / 2ks+1,
            // a1 / a3 likewise for row qg + 8.
            pf[nt >> 1][(nt & 1) * 2] = pack_f16x2(pd[0], pd[1]);
            pf[nt >> 1][(nt & 1) * 2 + 1] = pack_f16x2(pd[2], pd[3]);
        }

        // O += P V: V stored [key][d], read transposed; head-dimension tiles in pairs.
#pragma unroll
        for (int ks = 0; ks < 4; ++ks)
#pragma unroll
            for (int dp = 0; dp < DT / 2; ++dp) {
                u32 t[4];
                ldmatrix_x4_trans(t, Vs + (ks * 16 + r + (g & 1) * 8) * P + dp * 16 + (g >> 1) * 8);
                const u32 b0[2] = {t[0], t[1]}, b1[2] = {t[2], t[3]};
                mma_16816<true>(o[dp * 2], pf[ks], b0);
                mma_16816<true>(o[dp * 2 + 1], pf[ks], b1);
            }
    }

    // Finish: l over the quad, out = O / l, lse = m + log l.
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
        const float lt = quad_sum(l[hr]);
        const int i = hr ? i_hi : i_lo;
        if (i >= T) continue;
        const float inv = 1.0f / lt;
        float* orow = out + ((long long)b * T + i) * C + h * HS;
#pragma unroll
        for (int dt = 0; dt < DT; ++dt) {
            const int d = dt * 8 + qc * 2;
            orow[d] = o[dt][hr * 2] * inv;
            orow[d + 1] = o[dt][hr * 2 + 1] * inv;
        }
        if (qc == 0) lse[((long long)b * NH + h) * T + i] = m[hr] + logf(lt);
    }
}

#define ATTENTION_TC_ENTRY(NAME, HS)                                                                        \
    extern "C" __global__ void __launch_bounds__(TC_THREADS) NAME(                                          \
        float* out, float* lse, const float* qkv, const unsigned char* key_mask, int B, int T, int C, int NH, \
        DropoutArgs dr) {                                                                                   \
        attention_forward_tc<HS>(out, lse, qkv, key_mask, T, C, NH, dr);                                    \
    }

ATTENTION_TC_ENTRY(attention_forward_tc_hs16, 16)
ATTENTION_TC_ENTRY(attention_forward_tc_hs32, 32)
ATTENTION_TC_ENTRY(attention_forward_tc_hs64, 64)
ATTENTION_TC_ENTRY(attention_forward_tc_hs128, 128)
