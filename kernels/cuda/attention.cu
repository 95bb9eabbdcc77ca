// Fused multi-head self-attention, forward and backward, f32, mirroring
// kernels/src/cpu/attention.rs:
//
// - qkv [B, T, 3C] holds q | k | v per token; head h uses columns h*HS..(h+1)*HS of each.
// - scores q.k / sqrt(HS); padded keys (key_mask == 0) get probability exactly 0; a
//   sequence without any real token attends uniformly to every key (HF's finfo.min rule).
// - forward writes out [B, T, C] and lse [B, NH, T] (log-sum-exp of the scaled scores,
//   without dropout), computed with an online softmax over 32-key chunks, never
//   materialising [T, T].
// - dropout on the probabilities (p > 0): probability (b, h, i, j) is kept when
//   dropout_keep(k0, k1, thr, ((b*NH + h)*T + i)*T + j) (u32 wrap-around, the formula of
//   cpu::dropout::keep), kept values scaled by 1/(1-p) in P V only; the backward
//   regenerates the same mask.
// - backward (dqkv overwritten): attention_backward_dq (one warp per query row, writes dQ
//   and D_i = dO_i . O_i) then attention_backward_dkv (one warp per key row, reads D).
//
// Threads: ROWS warps per block, one query (or key) row per warp; lanes own head
// dimensions d = lane + 32c (HS <= 128) and, when scoring, one key (query) each of the
// 32-row chunk staged in shared memory (pitch 129 floats: conflict-free column reads).
#include "common.cuh"

#define ROWS 8
#define CHUNK 32
#define MAX_HS 128
#define PITCH (MAX_HS + 1)
#define DC (MAX_HS / 32)

// Stages rows j0..j0+CHUNK of the head's columns at `col` (k: C + h*HS, v: 2C + h*HS, q: h*HS)
// of a [T, stride] sequence into dst[CHUNK][PITCH]; rows past T are zero.
__device__ __forceinline__ void stage_chunk(float (*dst)[PITCH], const float* seq, int stride, int col, int j0,
                                            int T, int HS) {
    for (int e = threadIdx.x; e < CHUNK * HS; e += blockDim.x) {
        const int jj = e / HS, d = e % HS, j = j0 + jj;
        dst[jj][d] = j < T ? seq[(long long)j * stride + col + d] : 0.0f;
    }
}

extern "C" __global__ void __launch_bounds__(ROWS * 32)
    attention_forward_f32(float* __restrict__ out, float* __restrict__ lse, const float* __restrict__ qkv,
                          const unsigned char* __restrict__ key_mask, int B, int T, int C, int NH,
                          DropoutArgs dr) {
    __shared__ float Ks[CHUNK][PITCH];
    __shared__ float Vs[CHUNK][PITCH];
    __shared__ float Qs[ROWS][MAX_HS];
    __shared__ int flag;
    const int HS = C / NH;
    const int b = blockIdx.z, h = blockIdx.y;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const int i = blockIdx.x * ROWS + w;
    const int stride = 3 * C;
    const float scale = rsqrtf((float)HS);
    const float* seq = qkv + (long long)b * T * stride;
    const unsigned char* mask_b = key_mask + (long long)b * T;
    const bool uniform = !sequence_has_real_token(mask_b, T, &flag);

    for (int d = lane; d < HS; d += 32) Qs[w][d] = i < T ? seq[(long long)i * stride + h * HS + d] : 0.0f;

    float m = NEG_INF, l = 0.0f, o[DC];
#pragma unroll
    for (int c = 0; c < DC; ++c) o[c] = 0.0f;
    const u32 row_index = ((u32)(b * NH + h) * (u32)T + (u32)i) * (u32)T;

    for (int j0 = 0; j0 < T; j0 += CHUNK) {
        __syncthreads();
        stage_chunk(Ks, seq, stride, C + h * HS, j0, T, HS);
        stage_chunk(Vs, seq, stride, 2 * C + h * HS, j0, T, HS);
        __syncthreads();
        const int j = j0 + lane;
        const bool valid = j < T && (uniform || mask_b[j]);
        float s = 0.0f;
        if (!uniform) {
            for (int d = 0; d < HS; ++d) s += Qs[w][d] * Ks[lane][d];
            s *= scale;
        }
        s = valid ? s : NEG_INF;
        const float m_new = fmaxf(m, warp_max(s));
        if (m_new == NEG_INF) continue; // no real key seen yet (uniform across the warp)
        const float p = valid ? expf(s - m_new) : 0.0f;
        const float corr = expf(m - m_new);
        l = l * corr + warp_sum(p);
        m = m_new;
        const float pd = p * keep_scale(dr, row_index + (u32)j);
#pragma unroll
        for (int c = 0; c < DC; ++c) o[c] *= corr;
        for (int jj = 0; jj < CHUNK; ++jj) {
            const float pj = __shfl_sync(0xffffffffu, pd, jj);
#pragma unroll
            for (int c = 0; c < DC; ++c) {
                const int d = lane + 32 * c;
                if (d < HS) o[c] += pj * Vs[jj][d];
            }
        }
    }
    if (i >= T) return;
    const float inv = 1.0f / l;
#pragma unroll
    for (int c = 0; c < DC; ++c) {
        const int d = lane + 32 * c;
        if (d < HS) out[((long long)b * T + i) * C + h * HS + d] = o[c] * inv;
    }
    if (lane == 0) lse[((long long)b * NH + h) * T + i] = m + logf(l);
}

// dQ (q columns of dqkv) and D [B, NH, T] = dO_i . O_i, one warp per query row.
extern "C" __global__ void __launch_bounds__(ROWS * 32)
    attention_backward_dq_f32(float* __restrict__ dqkv, float* __restrict__ dsum, const float* __restrict__ dout,
                              const float* __restrict__ qkv, const float* __restrict__ out,
                              const float* __restrict__ lse, const unsigned char* __restrict__ key_mask, int B,
                              int T, int C, int NH, DropoutArgs dr) {
    __shared__ float Ks[CHUNK][PITCH];
    __shared__ float Vs[CHUNK][PITCH];
    __shared__ float Qs[ROWS][MAX_HS];
    __shared__ float dOs[ROWS][MAX_HS];
    __shared__ int flag;
    const int HS = C / NH;
    const int b = blockIdx.z, h = blockIdx.y;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const int i = blockIdx.x * ROWS + w;
    const int stride = 3 * C;
    const float scale = rsqrtf((float)HS);
    const float* seq = qkv + (long long)b * T * stride;
    const unsigned char* mask_b = key_mask + (long long)b * T;
    const bool uniform = !sequence_has_real_token(mask_b, T, &flag);
    const long long tok = ((long long)b * T + i) * C + h * HS;

    float dd = 0.0f;
    for (int d = lane; d < HS; d += 32) {
        Qs[w][d] = i < T ? seq[(long long)i * stride + h * HS + d] : 0.0f;
        const float g = i < T ? dout[tok + d] : 0.0f;
        dOs[w][d] = g;
        dd += i < T ? g * out[tok + d] : 0.0f;
    }
    const float Di = warp_sum(dd);
    const float lse_i = i < T ? lse[((long long)b * NH + h) * T + i] : 0.0f;
    const u32 row_index = ((u32)(b * NH + h) * (u32)T + (u32)i) * (u32)T;
    float dq[DC];
#pragma unroll
    for (int c = 0; c < DC; ++c) dq[c] = 0.0f;

    for (int j0 = 0; j0 < T; j0 += CHUNK) {
        __syncthreads();
        stage_chunk(Ks, seq, stride, C + h * HS, j0, T, HS);
        stage_chunk(Vs, seq, stride, 2 * C + h * HS, j0, T, HS);
        __syncthreads();
        const int j = j0 + lane;
        const bool valid = i < T && j < T && (uniform || mask_b[j]);
        float s = 0.0f, dpv = 0.0f;
        for (int d = 0; d < HS; ++d) {
            s += Qs[w][d] * Ks[lane][d];
            dpv += dOs[w][d] * Vs[lane][d];
        }
        s = uniform ? 0.0f : s * scale;
        const float p = valid ? expf(s - lse_i) : 0.0f;
        const float ds = p * (dpv * keep_scale(dr, row_index + (u32)j) - Di);
        for (int jj = 0; jj < CHUNK; ++jj) {
            const float dsj = __shfl_sync(0xffffffffu, ds, jj);
#pragma unroll
            for (int c = 0; c < DC; ++c) {
                const int d = lane + 32 * c;
                if (d < HS) dq[c] += dsj * Ks[jj][d];
            }
        }
    }
    if (i >= T) return;
#pragma unroll
    for (int c = 0; c < DC; ++c) {
        const int d = lane + 32 * c;
        if (d < HS) dqkv[((long long)b * T + i) * stride + h * HS + d] = scale * dq[c];
    }
    if (lane == 0) dsum[((long long)b * NH + h) * T + i] = Di;
}

// dK and dV (k, v columns of dqkv), one warp per key row; reads D from the dq kernel.
extern "C" __global__ void __launch_bounds__(ROWS * 32)
    attention_backward_dkv_f32(float* __restrict__ dqkv, const float* __restrict__ dsum,
                               const float* __restrict__ dout, const float* __restrict__ qkv,
                               const float* __restrict__ lse, const unsigned char* __restrict__ key_mask, int B,
                               int T, int C, int NH, DropoutArgs dr) {
    __shared__ float Qs[CHUNK][PITCH];
    __shared__ float dOs[CHUNK][PITCH];
    __shared__ float Kw[ROWS][MAX_HS];
    __shared__ float Vw[ROWS][MAX_HS];
    __shared__ int flag;
    const int HS = C / NH;
    const int b = blockIdx.z, h = blockIdx.y;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const int j = blockIdx.x * ROWS + w;
    const int stride = 3 * C;
    const float scale = rsqrtf((float)HS);
    const float* seq = qkv + (long long)b * T * stride;
    const float* dout_b = dout + (long long)b * T * C;
    const unsigned char* mask_b = key_mask + (long long)b * T;
    const bool uniform = !sequence_has_real_token(mask_b, T, &flag);
    const bool key_valid = j < T && (uniform || mask_b[j]);
    const float* lse_bh = lse + ((long long)b * NH + h) * T;
    const float* d_bh = dsum + ((long long)b * NH + h) * T;

    for (int d = lane; d < HS; d += 32) {
        Kw[w][d] = j < T ? seq[(long long)j * stride + C + h * HS + d] : 0.0f;
        Vw[w][d] = j < T ? seq[(long long)j * stride + 2 * C + h * HS + d] : 0.0f;
    }
    float dk[DC], dv[DC];
#pragma unroll
    for (int c = 0; c < DC; ++c) dk[c] = dv[c] = 0.0f;

    for (int i0 = 0; i0 < T; i0 += CHUNK) {
        __syncthreads();
        stage_chunk(Qs, seq, stride, h * HS, i0, T, HS);
        stage_chunk(dOs, dout_b, C, h * HS, i0, T, HS);
        __syncthreads();
        const int i = i0 + lane;
        float s = 0.0f, dpv = 0.0f;
        for (int d = 0; d < HS; ++d) {
            s += Qs[lane][d] * Kw[w][d];
            dpv += dOs[lane][d] * Vw[w][d];
        }
        s = uniform ? 0.0f : s * scale;
        const bool valid = key_valid && i < T;
        const float p = valid ? expf(s - lse_bh[i]) : 0.0f;
        const u32 index = (((u32)(b * NH + h) * (u32)T + (u32)i) * (u32)T) + (u32)j;
        const float ks = keep_scale(dr, index);
        const float pm = p * ks;
        const float ds = valid ? p * (dpv * ks - d_bh[i]) : 0.0f;
        for (int ii = 0; ii < CHUNK; ++ii) {
            const float pmi = __shfl_sync(0xffffffffu, pm, ii);
            const float dsi = __shfl_sync(0xffffffffu, ds, ii);
#pragma unroll
            for (int c = 0; c < DC; ++c) {
                const int d = lane + 32 * c;
                if (d < HS) {
                    dv[c] += pmi * dOs[ii][d];
                    dk[c] += dsi * Qs[ii][d];
                }
            }
        }
    }
    if (j >= T) return;
#pragma unroll
    for (int c = 0; c < DC; ++c) {
        const int d = lane + 32 * c;
        if (d < HS) {
            dqkv[((long long)b * T + j) * stride + C + h * HS + d] = scale * dk[c];
            dqkv[((long long)b * T + j) * stride + 2 * C + h * HS + d] = dv[c];
        }
    }
}
