// Softmax cross-entropy over [N, K] logits, torch nn.CrossEntropyLoss semantics (class
// weights, label smoothing eps, ignore index, mean or sum), mirroring
// kernels/src/cpu/xent.rs:
//   l_i = (1-eps) w_y (-log p_y) + eps/K sum_c w_c (-log p_c)
//   dlogits[i, j] = ((1-eps) w_y (p_j - [j=y]) + eps/K (p_j sum_c w_c - w_j)) / norm
// norm = sum of w_y over non-ignored rows (mean) or 1 (sum). Three launches:
// xent_norm_f64 (norm and sum_c w_c), xent_rows_f32 (dlogits and per-row losses),
// xent_reduce_f64 (loss = sum_i l_i / norm, rows in order).
#include "common.cuh"

// One block of 256 threads. out[0] = sum of weights of the non-ignored targets,
// out[1] = sum_c w_c. weight may be null (all ones).
extern "C" __global__ void xent_norm_f64(double* __restrict__ out, const int* __restrict__ targets,
                                         const float* __restrict__ weight, int N, int K, int ignore_index,
                                         int has_ignore) {
    __shared__ double scratch[32];
    double s = 0.0;
    for (int i = threadIdx.x; i < N; i += blockDim.x) {
        const int y = targets[i];
        if (has_ignore && y == ignore_index) continue;
        s += weight ? (double)weight[y] : 1.0;
    }
    s = block_sum_f64(s, scratch);
    double sw = 0.0;
    for (int c = threadIdx.x; c < K; c += blockDim.x) sw += weight ? (double)weight[c] : 1.0;
    sw = block_sum_f64(sw, scratch);
    if (threadIdx.x == 0) {
        out[0] = s;
        out[1] = sw;
    }
}

// One block (128 threads) per row. norm: [2] from xent_norm_f64; use_mean selects the
// reduction. losses: [N] per-row losses (0 for ignored rows), in f64.
extern "C" __global__ void __launch_bounds__(128)
    xent_rows_f32(float* __restrict__ dlogits, double* __restrict__ losses, const float* __restrict__ logits,
                  const int* __restrict__ targets, const float* __restrict__ weight, const double* __restrict__ norm,
                  int N, int K, float label_smoothing, int ignore_index, int has_ignore, int use_mean) {
    __shared__ float scratch[32];
    __shared__ double scratch64[32];
    const int row = blockIdx.x;
    if (row >= N) return;
    const float* z = logits + (long long)row * K;
    float* d = dlogits + (long long)row * K;
    const int y = targets[row];
    if (has_ignore && y == ignore_index) {
        for (int j = threadIdx.x; j < K; j += blockDim.x) d[j] = 0.0f;
        if (threadIdx.x == 0) losses[row] = 0.0;
        return;
    }
    float mx = NEG_INF;
    for (int j = threadIdx.x; j < K; j += blockDim.x) mx = fmaxf(mx, z[j]);
    mx = block_max(mx, scratch);
    float s = 0.0f;
    for (int j = threadIdx.x; j < K; j += blockDim.x) s += expf(z[j] - mx);
    s = block_sum(s, scratch);
    const float lse = mx + logf(s);
    const double eps = (double)label_smoothing;
    const double nrm = use_mean ? norm[0] : 1.0;
    const double sum_w = norm[1];
    const double wy = weight ? (double)weight[y] : 1.0;
    double smooth = 0.0;
    if (eps > 0.0) {
        for (int c = threadIdx.x; c < K; c += blockDim.x)
            smooth += (weight ? (double)weight[c] : 1.0) * ((double)lse - (double)z[c]);
        smooth = block_sum_f64(smooth, scratch64);
    }
    const float inv_norm = (float)(1.0 / nrm);
    const float a = (float)((1.0 - eps) * wy);
    const float b = (float)(eps / K);
    const float bs = (float)(eps / K * sum_w);
    const float inv = 1.0f / s;
    for (int j = threadIdx.x; j < K; j += blockDim.x) {
        const float p = expf(z[j] - mx) * inv;
        const float onehot = j == y ? 1.0f : 0.0f;
        const float wj = weight ? weight[j] : 1.0f;
        d[j] = (a * (p - onehot) + (bs * p - b * wj)) * inv_norm;
    }
    if (threadIdx.x == 0)
        losses[row] = (1.0 - eps) * wy * ((double)lse - (double)z[y]) + eps / K * smooth;
}

// loss[0] = (sum_i losses[i]) / norm, one thread summing rows in order (N is a batch).
extern "C" __global__ void xent_reduce_f64(float* __restrict__ loss, const double* __restrict__ losses,
                                           const double* __restrict__ norm, int N, int use_mean) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    double s = 0.0;
    for (int i = 0; i < N; ++i) s += losses[i];
    loss[0] = (float)(s / (use_mean ? norm[0] : 1.0));
}
