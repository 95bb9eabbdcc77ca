// LayerNorm over the last dimension, f32, torch semantics (biased variance), mirroring
// kernels/src/cpu/layernorm.rs.
//
// forward:  out = (inp - mean) * rstd * gamma + beta; saves mean, rstd = 1/sqrt(var + eps).
// backward: dinp = rstd * (dnorm - mean(dnorm) - xhat * mean(dnorm * xhat)) (overwritten),
//           dgamma += sum_rows dout * xhat, dbeta += sum_rows dout (accumulated).
// The parameter gradients are reduced deterministically: layernorm_backward_f32 writes
// per-block partial sums [nblocks, 2C], layernorm_param_reduce_f32 adds them in block order.
#include "common.cuh"

// One block (256 threads) per row. out, inp: [N, C]; mean, rstd: [N]; gamma, beta: [C].
extern "C" __global__ void __launch_bounds__(256)
    layernorm_forward_f32(float* __restrict__ out, float* __restrict__ mean, float* __restrict__ rstd,
                          const float* __restrict__ inp, const float* __restrict__ gamma,
                          const float* __restrict__ beta, int N, int C, float eps) {
    __shared__ float scratch[32];
    const int row = blockIdx.x;
    if (row >= N) return;
    const float* x = inp + (long long)row * C;
    float s = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) s += x[c];
    const float mu = block_sum(s, scratch) / C;
    float v = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        const float d = x[c] - mu;
        v += d * d;
    }
    const float var = block_sum(v, scratch) / C;
    const float rs = 1.0f / sqrtf(var + eps);
    float* o = out + (long long)row * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) o[c] = (x[c] - mu) * rs * gamma[c] + beta[c];
    if (threadIdx.x == 0) {
        mean[row] = mu;
        rstd[row] = rs;
    }
}

// Rows per block of the backward; also the block of the parameter-gradient partials.
#define LN_ROWS 16

// Grid: ceil(N / LN_ROWS) blocks of 256 threads. partial: [gridDim.x, 2C] (dgamma | dbeta).
extern "C" __global__ void __launch_bounds__(256)
    layernorm_backward_f32(float* __restrict__ dinp, float* __restrict__ partial, const float* __restrict__ dout,
                           const float* __restrict__ inp, const float* __restrict__ mean,
                           const float* __restrict__ rstd, const float* __restrict__ gamma, int N, int C) {
    __shared__ float scratch[32];
    float* pg = partial + (long long)blockIdx.x * 2 * C;
    float* pb = pg + C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        pg[c] = 0.0f;
        pb[c] = 0.0f;
    }
    const int r0 = blockIdx.x * LN_ROWS;
    for (int row = r0; row < min(r0 + LN_ROWS, N); ++row) {
        const float* x = inp + (long long)row * C;
        const float* dy = dout + (long long)row * C;
        const float mu = mean[row], rs = rstd[row];
        float sd = 0.0f, sdx = 0.0f;
        for (int c = threadIdx.x; c < C; c += blockDim.x) {
            // __fmul_rn: dn is rounded once, as on the CPU; a product fused into the FMA
            // below would leave its rounding residual in dn - mean_d, which rstd (up to
            // 1/sqrt(eps) = 1e6 on a constant row) blows up into a visible error.
            const float dn = __fmul_rn(dy[c], gamma[c]);
            sd += dn;
            sdx += dn * ((x[c] - mu) * rs);
        }
        const float mean_d = block_sum(sd, scratch) / C;
        const float mean_dx = block_sum(sdx, scratch) / C;
        float* dx = dinp + (long long)row * C;
        // Each thread owns the same columns in every row, so pg/pb need no synchronisation.
        for (int c = threadIdx.x; c < C; c += blockDim.x) {
            const float xhat = (x[c] - mu) * rs;
            const float dn = __fmul_rn(dy[c], gamma[c]);
            dx[c] = rs * (dn - mean_d - xhat * mean_dx);
            pg[c] += dy[c] * xhat;
            pb[c] += dy[c];
        }
    }
}

// dgamma += sum_b partial[b, :C], dbeta += sum_b partial[b, C:], in block order.
// One thread per column (2C threads in all).
extern "C" __global__ void layernorm_param_reduce_f32(float* __restrict__ dgamma, float* __restrict__ dbeta,
                                                      const float* __restrict__ partial, int nblocks, int C) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= 2 * C) return;
    float s = 0.0f;
    for (int b = 0; b < nblocks; ++b) s += partial[(long long)b * 2 * C + c];
    if (c < C)
        dgamma[c] += s;
    else
        dbeta[c - C] += s;
}
