// Multi-tensor AdamW (torch.optim.AdamW, amsgrad=False) and the global gradient norm,
// mirroring kernels/src/cpu/{adamw,grad_norm}.rs. The host computes the step scalars in
// f64 exactly as cpu::adamw_step does and passes them rounded to f32.
//
// A launch covers many tensors: `tensors` is a device array of TensorRef and `chunks` maps
// each block to (tensor, first element); every block handles MT_CHUNK elements.
#include "common.cuh"

#define MT_CHUNK 16384

struct TensorRef {
    float* param;
    const float* grad;
    float* m;
    float* v;
    long long len;
};

struct ChunkRef {
    int tensor;
    long long start;
};

struct AdamWScalars {
    float decay;        // 1 - lr * weight_decay
    float one_minus_b1; // 1 - beta1
    float b2;           // beta2
    float one_minus_b2; // 1 - beta2
    float bias_c2_sqrt; // sqrt(1 - beta2^t)
    float eps;
    float step_size; // lr / (1 - beta1^t)
};

extern "C" __global__ void __launch_bounds__(256)
    adamw_multi_f32(const TensorRef* __restrict__ tensors, const ChunkRef* __restrict__ chunks, AdamWScalars k) {
    const ChunkRef ch = chunks[blockIdx.x];
    const TensorRef t = tensors[ch.tensor];
    const long long end = min(ch.start + (long long)MT_CHUNK, t.len);
    for (long long i = ch.start + threadIdx.x; i < end; i += blockDim.x) {
        const float g = t.grad[i];
        float p = t.param[i] * k.decay;
        float m = t.m[i];
        m += k.one_minus_b1 * (g - m);
        float v = t.v[i] * k.b2 + k.one_minus_b2 * (g * g);
        const float denom = sqrtf(v) / k.bias_c2_sqrt + k.eps;
        p += -k.step_size * (m / denom);
        t.param[i] = p;
        t.m[i] = m;
        t.v[i] = v;
    }
}

// partial[block] = sum of g^2 over the block's chunk, in f64 (only `grad` and `len` of
// each TensorRef are read). grad_norm_finish_f64 then sums the partials in block order.
extern "C" __global__ void __launch_bounds__(256)
    grad_sq_partial_f64(double* __restrict__ partial, const TensorRef* __restrict__ tensors,
                        const ChunkRef* __restrict__ chunks) {
    __shared__ double scratch[32];
    const ChunkRef ch = chunks[blockIdx.x];
    const TensorRef t = tensors[ch.tensor];
    const long long end = min(ch.start + (long long)MT_CHUNK, t.len);
    double s = 0.0;
    for (long long i = ch.start + threadIdx.x; i < end; i += blockDim.x) {
        const double g = (double)t.grad[i];
        s += g * g;
    }
    s = block_sum_f64(s, scratch);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// norm[0] = sqrt(sum partial). One block of 256 threads.
extern "C" __global__ void __launch_bounds__(256)
    grad_norm_finish_f64(float* __restrict__ norm, const double* __restrict__ partial, int nblocks) {
    __shared__ double scratch[32];
    double s = 0.0;
    for (int i = threadIdx.x; i < nblocks; i += blockDim.x) s += partial[i];
    s = block_sum_f64(s, scratch);
    if (threadIdx.x == 0) norm[0] = (float)sqrt(s);
}
