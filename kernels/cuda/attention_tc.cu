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
// Backward in two passes as attention.cu's (no atomics): dQ per 64 query rows over key chunks
// (S again with f16 Q, K so P = exp(S - lse) matches the forward; dP = dO V^T, dS = P (dP -
// D), dQ += dS K), then dK, dV per 64 key rows over query chunks (S^T = K Q^T, dP^T = V dO^T,
// dV += P^T dO, dK += dS^T Q). Gradient products take bf16 operands: gradients can fall below
// f16's range.
//
// f16 rather than bf16: scores, probabilities and activations sit well inside f16's range
// and its 11-bit significand keeps P and V 8x more precise than bf16. Head size HS is a
// template parameter: 16, 32 or 64, forward and backward alike, so that the backward's P is
// the forward's (128 would spill in the backward; the launcher runs attention.cu for other
// head sizes).
// Fragment addressing follows gemm.cu's (checked on a GPU): Q as its non-transposed A, K as
// its transposed B, V as its non-transposed B.
#include "common.cuh"

#define TC_Q 64
#define TC_KEYS 64
#define TC_THREADS 128
#define TC_PAD 8

// Two f32 -> one register of two f16 (bf16 with BF16), `lo` in the low half (the first
// element).
template <bool BF16 = false>
__device__ __forceinline__ u32 pack_x2(float lo, float hi) {
    u32 r;
    if (BF16) asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
    else asm("cvt.rn.f16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}
__device__ __forceinline__ u32 pack_f16x2(float lo, float hi) { return pack_x2<false>(lo, hi); }

// Rows r0..r0+ROWS of a [T, stride] f32 sequence, columns col..col+HS, into dst[ROWS][HS + PAD]
// as f16 (bf16 with BF16); rows past T are zero. 4 consecutive values per thread and step.
template <int HS, int ROWS, bool BF16 = false>
__device__ __forceinline__ void tc_stage(unsigned short* dst, const float* seq, int stride, int col, int r0,
                                         int T) {
    constexpr int P = HS + TC_PAD;
    for (int e = threadIdx.x * 4; e < ROWS * HS; e += TC_THREADS * 4) {
        const int rr = e / HS, d = e % HS, r = r0 + rr;
        float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (r < T) v = *reinterpret_cast<const float4*>(seq + (long long)r * stride + col + d);
        u32* out = reinterpret_cast<u32*>(dst + rr * P + d);
        out[0] = pack_x2<BF16>(v.x, v.y);
        out[1] = pack_x2<BF16>(v.z, v.w);
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

// This warp's 16 rows (w * 16..) of a staged [64][P] tile as A fragments, one per k step of
// 16 columns (gemm.cu's non-transposed-A addressing).
template <int HS>
__device__ __forceinline__ void tc_row_frags(u32 (*af)[4], const unsigned short* tile, int w, int g, int r) {
    constexpr int P = HS + TC_PAD;
#pragma unroll
    for (int kk = 0; kk < HS / 16; ++kk) ldmatrix_x4(af[kk], tile + (w * 16 + r + (g & 1) * 8) * P + kk * 16 + (g >> 1) * 8);
}

// acc (16 rows x 64 columns) = A B^T: this warp's A fragments `af` (16 rows x HS) times the 64
// rows of a [64][P] chunk `bs` (gemm.cu's transposed-B addressing); f16 operands, or bf16.
template <int HS, bool BF16>
__device__ __forceinline__ void tc_rows_times_chunk(float (*acc)[4], const u32 (*af)[4], const unsigned short* bs,
                                                    int g, int r) {
    constexpr int P = HS + TC_PAD;
#pragma unroll
    for (int nt = 0; nt < 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[nt][e] = 0.0f;
#pragma unroll
    for (int np = 0; np < 4; ++np)
#pragma unroll
        for (int kk = 0; kk < HS / 16; ++kk) {
            u32 t[4];
            ldmatrix_x4(t, bs + (np * 16 + r + (g >> 1) * 8) * P + kk * 16 + (g & 1) * 8);
            const u32 b0[2] = {t[0], t[1]}, b1[2] = {t[2], t[3]};
            mma_16816<!BF16>(acc[np * 2], af[kk], b0);
            mma_16816<!BF16>(acc[np * 2 + 1], af[kk], b1);
        }
}

// acc (16 rows x HS) += A (16 x 64, fragments `af` over 4 key steps) times a [64][P] chunk `bs`
// read as [k][n] (gemm.cu's non-transposed-B addressing, ldmatrix.trans); f16 or bf16.
template <int HS, bool BF16>
__device__ __forceinline__ void tc_frags_times_chunk(float (*acc)[4], const u32 (*af)[4], const unsigned short* bs,
                                                     int g, int r) {
    constexpr int P = HS + TC_PAD;
#pragma unroll
    for (int ks = 0; ks < 4; ++ks)
#pragma unroll
        for (int dp = 0; dp < HS / 16; ++dp) {
            u32 t[4];
            ldmatrix_x4_trans(t, bs + (ks * 16 + r + (g & 1) * 8) * P + dp * 16 + (g >> 1) * 8);
            const u32 b0[2] = {t[0], t[1]}, b1[2] = {t[2], t[3]};
            mma_16816<!BF16>(acc[dp * 2], af[ks], b0);
            mma_16816<!BF16>(acc[dp * 2 + 1], af[ks], b1);
        }
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

    const bool uniform = !sequence_has_real_token(mask_b, T, &any_real);
    tc_stage<HS, TC_Q>(Qs, seq, stride, h * HS, q0, T);
    __syncthreads();

    u32 qf[KT][4];
    tc_row_frags<HS>(qf, Qs, w, g, r);

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

        // S = Q K^T.
        float s[8][4];
        tc_rows_times_chunk<HS, false>(s, qf, Ks, g, r);

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
                pd[e] = p * keep_scale(dr, row_index[hr] + j);
            }
            // a0 (row qg, keys 2qc..) / a2 (same row, keys +8) come from tiles 2ks / 2ks+1,
            // a1 / a3 likewise for row qg + 8.
            pf[nt >> 1][(nt & 1) * 2] = pack_f16x2(pd[0], pd[1]);
            pf[nt >> 1][(nt & 1) * 2 + 1] = pack_f16x2(pd[2], pd[3]);
        }

        // O += P V (V stored [key][d]).
        tc_frags_times_chunk<HS, false>(o, pf, Vs, g, r);
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

// dQ (q columns of dqkv) and D [B, NH, T] = dO_i . O_i for 64 query rows per block.
template <int HS>
__device__ __forceinline__ void attention_backward_dq_tc(float* __restrict__ dqkv, float* __restrict__ dsum,
                                                         const float* __restrict__ dout,
                                                         const float* __restrict__ qkv,
                                                         const float* __restrict__ out,
                                                         const float* __restrict__ lse,
                                                         const unsigned char* __restrict__ key_mask, int T, int C,
                                                         int NH, DropoutArgs dr) {
    constexpr int P = HS + TC_PAD;
    constexpr int KT = HS / 16;
    constexpr int DT = HS / 8;
    extern __shared__ __align__(16) unsigned char tc_smem[];
    unsigned short* Qs = reinterpret_cast<unsigned short*>(tc_smem); // f16
    unsigned short* dOs = Qs + TC_Q * P;                              // bf16
    unsigned short* Ks = dOs + TC_Q * P;                              // f16
    unsigned short* Kb = Ks + TC_KEYS * P;                            // bf16
    unsigned short* Vb = Kb + TC_KEYS * P;                            // bf16
    __shared__ int any_real;
    __shared__ unsigned char valid_s[TC_KEYS];
    __shared__ float lse_s[TC_Q], d_s[TC_Q];

    const int b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * TC_Q;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const int g = lane >> 3, r = lane & 7;
    const int qg = lane >> 2, qc = lane & 3;
    const int stride = 3 * C;
    const float scale = rsqrtf((float)HS);
    const float* seq = qkv + (long long)b * T * stride;
    const float* dout_b = dout + (long long)b * T * C;
    const unsigned char* mask_b = key_mask + (long long)b * T;
    const long long bh = (long long)b * NH + h;

    const bool uniform = !sequence_has_real_token(mask_b, T, &any_real);
    tc_stage<HS, TC_Q>(Qs, seq, stride, h * HS, q0, T);
    tc_stage<HS, TC_Q, true>(dOs, dout_b, C, h * HS, q0, T);
    // D_i = dO_i . O_i in f32 and the forward's lse, per query row: each warp its 16 rows,
    // lanes along the head dimension (coalesced reads).
    for (int rr = 0; rr < 16; ++rr) {
        const int row = w * 16 + rr, i = q0 + row;
        float dd = 0.0f;
        if (i < T) {
            const float* go = dout_b + (long long)i * C + h * HS;
            const float* oo = out + ((long long)b * T + i) * C + h * HS;
            for (int d = lane; d < HS; d += 32) dd += go[d] * oo[d];
        }
        dd = warp_sum(dd);
        if (lane == 0) {
            if (i < T) dsum[bh * T + i] = dd;
            d_s[row] = dd;
            lse_s[row] = i < T ? lse[bh * T + i] : 0.0f;
        }
    }
    __syncthreads();

    u32 qf[KT][4], df[KT][4];
    tc_row_frags<HS>(qf, Qs, w, g, r);
    tc_row_frags<HS>(df, dOs, w, g, r);
    const int i_lo = q0 + w * 16 + qg, i_hi = i_lo + 8;
    const float lse_r[2] = {lse_s[w * 16 + qg], lse_s[w * 16 + qg + 8]};
    const float d_r[2] = {d_s[w * 16 + qg], d_s[w * 16 + qg + 8]};
    const bool row_ok[2] = {i_lo < T, i_hi < T};
    const u32 row_index[2] = {((u32)bh * (u32)T + (u32)i_lo) * (u32)T, ((u32)bh * (u32)T + (u32)i_hi) * (u32)T};
    float dq[DT][4];
#pragma unroll
    for (int dt = 0; dt < DT; ++dt)
#pragma unroll
        for (int e = 0; e < 4; ++e) dq[dt][e] = 0.0f;

    for (int j0 = 0; j0 < T; j0 += TC_KEYS) {
        __syncthreads();
        tc_stage<HS, TC_KEYS>(Ks, seq, stride, C + h * HS, j0, T);
        tc_stage<HS, TC_KEYS, true>(Kb, seq, stride, C + h * HS, j0, T);
        tc_stage<HS, TC_KEYS, true>(Vb, seq, stride, 2 * C + h * HS, j0, T);
        if (threadIdx.x < TC_KEYS) {
            const int j = j0 + threadIdx.x;
            valid_s[threadIdx.x] = j < T && (uniform || mask_b[j]);
        }
        __syncthreads();
        float sc[8][4], dp[8][4];
        tc_rows_times_chunk<HS, false>(sc, qf, Ks, g, r);
        tc_rows_times_chunk<HS, true>(dp, df, Vb, g, r);
        // dS = P (dP keep - D), as bf16 A fragments.
        u32 sf[4][4];
#pragma unroll
        for (int nt = 0; nt < 8; ++nt) {
            float ds[4];
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int hr = e >> 1, jj = nt * 8 + qc * 2 + (e & 1);
                const float v = uniform ? 0.0f : sc[nt][e] * scale;
                const float p = row_ok[hr] && valid_s[jj] ? expf(v - lse_r[hr]) : 0.0f;
                ds[e] = p * (dp[nt][e] * keep_scale(dr, row_index[hr] + (u32)(j0 + jj)) - d_r[hr]);
            }
            sf[nt >> 1][(nt & 1) * 2] = pack_x2<true>(ds[0], ds[1]);
            sf[nt >> 1][(nt & 1) * 2 + 1] = pack_x2<true>(ds[2], ds[3]);
        }
        tc_frags_times_chunk<HS, true>(dq, sf, Kb, g, r);
    }
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
        if (!row_ok[hr]) continue;
        float* row = dqkv + ((long long)b * T + (hr ? i_hi : i_lo)) * stride + h * HS;
#pragma unroll
        for (int dt = 0; dt < DT; ++dt) {
            const int d = dt * 8 + qc * 2;
            row[d] = scale * dq[dt][hr * 2];
            row[d + 1] = scale * dq[dt][hr * 2 + 1];
        }
    }
}

// dK and dV (k, v columns of dqkv) for 64 key rows per block; reads D from the dQ pass.
template <int HS>
__device__ __forceinline__ void attention_backward_dkv_tc(float* __restrict__ dqkv, const float* __restrict__ dsum,
                                                          const float* __restrict__ dout,
                                                          const float* __restrict__ qkv,
                                                          const float* __restrict__ lse,
                                                          const unsigned char* __restrict__ key_mask, int T,
                                                          int C, int NH, DropoutArgs dr) {
    constexpr int P = HS + TC_PAD;
    constexpr int KT = HS / 16;
    constexpr int DT = HS / 8;
    extern __shared__ __align__(16) unsigned char tc_smem[];
    unsigned short* Ks = reinterpret_cast<unsigned short*>(tc_smem); // f16, this block's keys
    unsigned short* Vb = Ks + TC_KEYS * P;                            // bf16
    unsigned short* Qs = Vb + TC_KEYS * P;                            // f16, query chunk
    unsigned short* Qb = Qs + TC_Q * P;                               // bf16
    unsigned short* dOb = Qb + TC_Q * P;                              // bf16
    __shared__ int any_real;
    __shared__ float lse_s[TC_Q], d_s[TC_Q];

    const int b = blockIdx.z, h = blockIdx.y, k0 = blockIdx.x * TC_KEYS;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const int g = lane >> 3, r = lane & 7;
    const int qg = lane >> 2, qc = lane & 3;
    const int stride = 3 * C;
    const float scale = rsqrtf((float)HS);
    const float* seq = qkv + (long long)b * T * stride;
    const float* dout_b = dout + (long long)b * T * C;
    const unsigned char* mask_b = key_mask + (long long)b * T;
    const long long bh = (long long)b * NH + h;

    const bool uniform = !sequence_has_real_token(mask_b, T, &any_real);
    tc_stage<HS, TC_KEYS>(Ks, seq, stride, C + h * HS, k0, T);
    tc_stage<HS, TC_KEYS, true>(Vb, seq, stride, 2 * C + h * HS, k0, T);
    __syncthreads();

    u32 kf[KT][4], vf[KT][4];
    tc_row_frags<HS>(kf, Ks, w, g, r);
    tc_row_frags<HS>(vf, Vb, w, g, r);
    const int j_lo = k0 + w * 16 + qg, j_hi = j_lo + 8;
    const bool key_ok[2] = {j_lo < T && (uniform || mask_b[j_lo]), j_hi < T && (uniform || mask_b[j_hi])};
    const u32 key[2] = {(u32)j_lo, (u32)j_hi};
    float dk[DT][4], dv[DT][4];
#pragma unroll
    for (int dt = 0; dt < DT; ++dt)
#pragma unroll
        for (int e = 0; e < 4; ++e) dk[dt][e] = dv[dt][e] = 0.0f;

    for (int i0 = 0; i0 < T; i0 += TC_Q) {
        __syncthreads();
        tc_stage<HS, TC_Q>(Qs, seq, stride, h * HS, i0, T);
        tc_stage<HS, TC_Q, true>(Qb, seq, stride, h * HS, i0, T);
        tc_stage<HS, TC_Q, true>(dOb, dout_b, C, h * HS, i0, T);
        if (threadIdx.x < TC_Q) {
            const int i = i0 + threadIdx.x;
            lse_s[threadIdx.x] = i < T ? lse[bh * T + i] : 0.0f;
            d_s[threadIdx.x] = i < T ? dsum[bh * T + i] : 0.0f;
        }
        __syncthreads();
        float st[8][4], dpt[8][4];
        tc_rows_times_chunk<HS, false>(st, kf, Qs, g, r);
        tc_rows_times_chunk<HS, true>(dpt, vf, dOb, g, r);
        // Element (nt, e): key row qg (+8 for e >= 2), query i0 + nt * 8 + qc * 2 + (e & 1).
        u32 pf[4][4], sf[4][4];
#pragma unroll
        for (int nt = 0; nt < 8; ++nt) {
            float pm[4], ds[4];
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int hr = e >> 1, ii = nt * 8 + qc * 2 + (e & 1), i = i0 + ii;
                const bool valid = key_ok[hr] && i < T;
                const float v = uniform ? 0.0f : st[nt][e] * scale;
                const float p = valid ? expf(v - lse_s[ii]) : 0.0f;
                const u32 index = (((u32)bh * (u32)T + (u32)i) * (u32)T) + key[hr];
                const float ks = keep_scale(dr, index);
                pm[e] = p * ks;
                ds[e] = valid ? p * (dpt[nt][e] * ks - d_s[ii]) : 0.0f;
            }
            pf[nt >> 1][(nt & 1) * 2] = pack_x2<true>(pm[0], pm[1]);
            pf[nt >> 1][(nt & 1) * 2 + 1] = pack_x2<true>(pm[2], pm[3]);
            sf[nt >> 1][(nt & 1) * 2] = pack_x2<true>(ds[0], ds[1]);
            sf[nt >> 1][(nt & 1) * 2 + 1] = pack_x2<true>(ds[2], ds[3]);
        }
        tc_frags_times_chunk<HS, true>(dv, pf, dOb, g, r);
        tc_frags_times_chunk<HS, true>(dk, sf, Qb, g, r);
    }
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
        const int j = hr ? j_hi : j_lo;
        if (j >= T) continue;
        float* row = dqkv + ((long long)b * T + j) * stride + h * HS;
#pragma unroll
        for (int dt = 0; dt < DT; ++dt) {
            const int d = dt * 8 + qc * 2;
            row[C + d] = scale * dk[dt][hr * 2];
            row[C + d + 1] = scale * dk[dt][hr * 2 + 1];
            row[2 * C + d] = dv[dt][hr * 2];
            row[2 * C + d + 1] = dv[dt][hr * 2 + 1];
        }
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

#define ATTENTION_TC_DQ_ENTRY(NAME, HS)                                                                     \
    extern "C" __global__ void __launch_bounds__(TC_THREADS) NAME(                                          \
        float* dqkv, float* dsum, const float* dout, const float* qkv, const float* out, const float* lse,   \
        const unsigned char* key_mask, int B, int T, int C, int NH, DropoutArgs dr) {                       \
        attention_backward_dq_tc<HS>(dqkv, dsum, dout, qkv, out, lse, key_mask, T, C, NH, dr);              \
    }
#define ATTENTION_TC_DKV_ENTRY(NAME, HS)                                                                    \
    extern "C" __global__ void __launch_bounds__(TC_THREADS) NAME(                                          \
        float* dqkv, const float* dsum, const float* dout, const float* qkv, const float* lse,               \
        const unsigned char* key_mask, int B, int T, int C, int NH, DropoutArgs dr) {                       \
        attention_backward_dkv_tc<HS>(dqkv, dsum, dout, qkv, lse, key_mask, T, C, NH, dr);                  \
    }

ATTENTION_TC_DQ_ENTRY(attention_backward_dq_tc_hs16, 16)
ATTENTION_TC_DQ_ENTRY(attention_backward_dq_tc_hs32, 32)
ATTENTION_TC_DQ_ENTRY(attention_backward_dq_tc_hs64, 64)
ATTENTION_TC_DKV_ENTRY(attention_backward_dkv_tc_hs16, 16)
ATTENTION_TC_DKV_ENTRY(attention_backward_dkv_tc_hs32, 32)
ATTENTION_TC_DKV_ENTRY(attention_backward_dkv_tc_hs64, 64)
