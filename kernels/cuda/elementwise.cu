// Element-wise ops, f32, mirroring kernels/src/cpu/{gelu,bias,residual,dropout}.rs, and
// dtype casts for the tensor-core GEMM inputs. One thread per element (grid-stride).
#include "common.cuh"

#define GRID_STRIDE(i, n) for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)

// Exact GELU (HF "gelu"): out = x * Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2.
extern "C" __global__ void gelu_forward_f32(float* __restrict__ out, const float* __restrict__ inp, long long n) {
    GRID_STRIDE(i, n) {
        const float x = inp[i];
        out[i] = x * 0.5f * (1.0f + erff(x * 0.70710678118654752f));
    }
}

// dinp = dout * (Phi(x) + x phi(x)) (overwritten), phi(x) = exp(-x^2/2) / sqrt(2 pi).
extern "C" __global__ void gelu_backward_f32(float* __restrict__ dinp, const float* __restrict__ inp,
                                             const float* __restrict__ dout, long long n) {
    GRID_STRIDE(i, n) {
        const float x = inp[i];
        const float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
        const float pdf = expf(-0.5f * x * x) * 0.39894228040143268f;
        dinp[i] = dout[i] * (cdf + x * pdf);
    }
}

// x[i, :] += bias, then exact GELU: pre (x + bias) is kept for the backward. x, pre, out: [N, C].
extern "C" __global__ void bias_gelu_forward_f32(float* __restrict__ out, float* __restrict__ pre,
                                                 const float* __restrict__ x, const float* __restrict__ bias,
                                                 long long n, int C) {
    GRID_STRIDE(i, n) {
        const float v = x[i] + bias[i % C];
        pre[i] = v;
        out[i] = v * 0.5f * (1.0f + erff(v * 0.70710678118654752f));
    }
}

// x[i, :] += bias (in place). x: [N, C], bias: [C].
extern "C" __global__ void bias_forward_f32(float* __restrict__ x, const float* __restrict__ bias, long long n,
                                            int C) {
    GRID_STRIDE(i, n) x[i] += bias[i % C];
}

// dbias += column sums of dout [N, C]; one thread per column, rows summed in order.
extern "C" __global__ void bias_backward_f32(float* __restrict__ dbias, const float* __restrict__ dout, int N,
                                             int C) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float s = 0.0f;
    for (int r = 0; r < N; ++r) s += dout[(long long)r * C + c];
    dbias[c] += s;
}

// out = a + b.
extern "C" __global__ void residual_forward_f32(float* __restrict__ out, const float* __restrict__ a,
                                                const float* __restrict__ b, long long n) {
    GRID_STRIDE(i, n) out[i] = a[i] + b[i];
}

// dst += src (a residual branch's gradient joining the skip path).
extern "C" __global__ void accumulate_f32(float* __restrict__ dst, const float* __restrict__ src, long long n) {
    GRID_STRIDE(i, n) dst[i] += src[i];
}

// dst *= s (gradient clipping).
extern "C" __global__ void scale_f32(float* __restrict__ dst, float s, long long n) {
    GRID_STRIDE(i, n) dst[i] *= s;
}

// Inverted dropout with the counter-based mask of cpu::dropout (forward and backward are
// the same map): dst[i] = src[i] * (keep(i) ? scale : 0). (k0, k1, thr) come from the host.
extern "C" __global__ void dropout_f32(float* __restrict__ dst, const float* __restrict__ src, long long n, u32 k0,
                                       u32 k1, u32 thr, float scale) {
    GRID_STRIDE(i, n) dst[i] = src[i] * (dropout_keep(k0, k1, thr, (u32)i) ? scale : 0.0f);
}

// Casts for tensor-core operands (round to nearest even) and back.
extern "C" __global__ void cast_f32_to_bf16(bf16_t* __restrict__ dst, const float* __restrict__ src, long long n) {
    GRID_STRIDE(i, n) dst[i] = f32_to_bf16(src[i]);
}

extern "C" __global__ void cast_f32_to_f16(f16_t* __restrict__ dst, const float* __restrict__ src, long long n) {
    GRID_STRIDE(i, n) dst[i] = f32_to_f16(src[i]);
}

extern "C" __global__ void cast_bf16_to_f32(float* __restrict__ dst, const bf16_t* __restrict__ src, long long n) {
    GRID_STRIDE(i, n) dst[i] = bf16_to_f32(src[i]);
}

extern "C" __global__ void cast_f16_to_f32(float* __restrict__ dst, const f16_t* __restrict__ src, long long n) {
    GRID_STRIDE(i, n) dst[i] = f16_to_f32(src[i]);
}
