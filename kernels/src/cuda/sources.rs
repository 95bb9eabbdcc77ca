//! The CUDA C++ sources (`kernels/cuda/*.cu`), embedded in the binary so a release build
//! compiles them at run time with NVRTC for whatever GPU it finds.

/// The shared header every source includes; handed to NVRTC as an in-memory header.
pub const COMMON_HEADER: Source = Source {
    file: "common.cuh",
    code: include_str!("../../cuda/common.cuh"),
    kernels: &[],
};

/// One compilation unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Source {
    /// File name inside `kernels/cuda/`.
    pub file: &'static str,
    /// Its text.
    pub code: &'static str,
    /// Its `extern "C"` kernels (the launchers look these up by name).
    pub kernels: &'static [&'static str],
}

macro_rules! source {
    ($file:literal, [$($kernel:literal),* $(,)?]) => {
        Source {
            file: $file,
            code: include_str!(concat!("../../cuda/", $file)),
            kernels: &[$($kernel),*],
        }
    };
}

pub const GEMM: Source = source!(
    "gemm.cu",
    [
        "gemm_nn_bf16",
        "gemm_nt_bf16",
        "gemm_tn_bf16",
        "gemm_nn_f16",
        "gemm_nt_f16",
        "gemm_tn_f16"
    ]
);
pub const GEMM_WGMMA: Source = source!(
    "gemm_wgmma.cu",
    [
        "gemm_wgmma_nn_bf16",
        "gemm_wgmma_nt_bf16",
        "gemm_wgmma_tn_bf16",
        "gemm_wgmma_nn_f16",
        "gemm_wgmma_nt_f16",
        "gemm_wgmma_tn_f16",
        "gemm_wgmma256_nn_bf16",
        "gemm_wgmma256_nt_bf16",
        "gemm_wgmma256_tn_bf16",
        "gemm_wgmma256_nn_f16",
        "gemm_wgmma256_nt_f16",
        "gemm_wgmma256_tn_f16"
    ]
);
pub const SGEMM: Source = source!(
    "sgemm.cu",
    [
        "sgemm_nn_f32",
        "sgemm_nt_f32",
        "sgemm_tn_f32",
        "sgemm_tt_f32",
        "sgemm_nt_bf16_f32",
        "sgemm_nt_f16_f32",
        "sgemm_tn_f32_bf16",
        "sgemm_tn_f32_f16"
    ]
);
pub const ATTENTION: Source = source!(
    "attention.cu",
    [
        "attention_forward_f32",
        "attention_backward_dq_f32",
        "attention_backward_dkv_f32"
    ]
);
pub const ATTENTION_TC: Source = source!(
    "attention_tc.cu",
    [
        "attention_forward_tc_hs16",
        "attention_forward_tc_hs32",
        "attention_forward_tc_hs64",
        "attention_backward_dq_tc_hs16",
        "attention_backward_dq_tc_hs32",
        "attention_backward_dq_tc_hs64",
        "attention_backward_dkv_tc_hs16",
        "attention_backward_dkv_tc_hs32",
        "attention_backward_dkv_tc_hs64"
    ]
);
pub const LAYERNORM: Source = source!(
    "layernorm.cu",
    [
        "layernorm_forward_f32",
        "layernorm_backward_f32",
        "layernorm_param_reduce_f32"
    ]
);
pub const ELEMENTWISE: Source = source!(
    "elementwise.cu",
    [
        "gelu_forward_f32",
        "gelu_backward_f32",
        "bias_gelu_forward_f32",
        "bias_forward_f32",
        "bias_backward_f32",
        "residual_forward_f32",
        "accumulate_f32",
        "scale_f32",
        "dropout_f32",
        "cast_f32_to_bf16",
        "cast_f32_to_f16",
        "cast_bf16_to_f32",
        "cast_f16_to_f32"
    ]
);
pub const EMBEDDING: Source = source!(
    "embedding.cu",
    ["embedding_forward_f32", "embedding_scatter_add_f32"]
);
pub const XENT: Source = source!(
    "xent.cu",
    ["xent_norm_f64", "xent_rows_f32", "xent_reduce_f64"]
);
pub const ADAMW: Source = source!(
    "adamw.cu",
    [
        "adamw_multi_f32",
        "grad_sq_partial_f64",
        "grad_norm_finish_f64"
    ]
);

pub const STRIDED: Source = source!("strided.cu", ["copy_cols_f32"]);

/// Every compilation unit (the NVRTC test checks this matches the directory listing).
pub const ALL: [Source; 11] = [
    GEMM,
    GEMM_WGMMA,
    SGEMM,
    ATTENTION,
    ATTENTION_TC,
    LAYERNORM,
    ELEMENTWISE,
    EMBEDDING,
    XENT,
    ADAMW,
    STRIDED,
];
