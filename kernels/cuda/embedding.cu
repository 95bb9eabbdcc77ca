// BERT input embeddings, f32, mirroring kernels/src/cpu/embedding.rs:
// out[b, t] = word[ids] + position[t] + token_type[type_ids]; the backward scatter-adds
// dout into the table gradients. Ids are validated by the launcher (host side).
#include "common.cuh"

// out: [B*T, C]; ids, type_ids: [B*T]; word: [V, C]; position: [P, C]; token_type: [TV, C].
extern "C" __global__ void embedding_forward_f32(float* __restrict__ out, const unsigned int* __restrict__ ids,
                                                 const unsigned int* __restrict__ type_ids,
                                                 const float* __restrict__ word, const float* __restrict__ position,
                                                 const float* __restrict__ token_type, int BT, int T, int C) {
    const long long n = (long long)BT * C;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < n; e += (long long)gridDim.x * blockDim.x) {
        const int tok = (int)(e / C), c = (int)(e % C);
        out[e] = word[(long long)ids[tok] * C + c] + position[(long long)(tok % T) * C + c] +
                 token_type[(long long)type_ids[tok] * C + c];
    }
}

// table[row_of(tok), c] += dout[tok, c] for every token, in token order: one thread per
// column, so no atomics and the same summation order as the CPU kernel. `rows` is the
// per-token row (ids, type_ids) or null for positions (row = tok % T).
extern "C" __global__ void embedding_scatter_add_f32(float* __restrict__ table, const float* __restrict__ dout,
                                                     const unsigned int* __restrict__ rows, int BT, int T, int C) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    for (int tok = 0; tok < BT; ++tok) {
        const long long r = rows ? (long long)rows[tok] : (long long)(tok % T);
        table[r * C + c] += dout[(long long)tok * C + c];
    }
}
