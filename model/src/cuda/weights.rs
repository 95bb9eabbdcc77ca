//! The frozen encoder on the device, uploaded once: dense weights `[N, K]` as bf16 bits
//! (what the tensor-core GEMM reads), biases, LayerNorm parameters and embedding tables as
//! f32. The pooler and classifier stay on the host (see [`super::bert`]).

use cudarc::driver::CudaSlice;
use tokken_kernels::cuda::CudaDevice;

use super::glue::{alloc_error, bf16_bits, upload_f32};
use crate::config::{BertConfig, HiddenAct};
use crate::error::{ModelError, Result};
use crate::params::{BertParams, LayerNormParams, LinearParams};

/// A frozen dense layer `y = x · Wᵀ + b`.
pub struct DeviceLinear {
    /// [N, K] bf16 bits
    pub w: CudaSlice<u16>,
    /// [N]
    pub b: CudaSlice<f32>,
    /// N (out features)
    pub n: usize,
    /// K (in features)
    pub k: usize,
}

/// LayerNorm weight and bias, `[C]` each.
pub struct DeviceLayerNorm {
    pub w: CudaSlice<f32>,
    pub b: CudaSlice<f32>,
}

/// `encoder.layer.{l}` (names as [`crate::params::LayerParams`]).
pub struct DeviceLayer {
    /// q | k | v fused: [3C, C]
    pub qkv: DeviceLinear,
    /// [C, C]
    pub attention_output: DeviceLinear,
    pub attention_layer_norm: DeviceLayerNorm,
    /// [I, C]
    pub intermediate: DeviceLinear,
    /// [C, I]
    pub output: DeviceLinear,
    pub output_layer_norm: DeviceLayerNorm,
}

/// Embedding tables and the layers of a BERT encoder on one device.
pub struct DeviceEncoder {
    pub config: BertConfig,
    /// [V, C]
    pub word: CudaSlice<f32>,
    /// [P, C]
    pub position: CudaSlice<f32>,
    /// [TV, C]
    pub token_type: CudaSlice<f32>,
    pub embeddings_layer_norm: DeviceLayerNorm,
    pub layers: Vec<DeviceLayer>,
}

fn linear(dev: &CudaDevice, lin: &LinearParams) -> Result<DeviceLinear> {
    Ok(DeviceLinear {
        w: dev.upload(&bf16_bits(&lin.weight)?)?,
        b: upload_f32(dev, &lin.bias)?,
        n: lin.out_features,
        k: lin.in_features,
    })
}

fn layer_norm(dev: &CudaDevice, ln: &LayerNormParams) -> Result<DeviceLayerNorm> {
    Ok(DeviceLayerNorm {
        w: upload_f32(dev, &ln.weight)?,
        b: upload_f32(dev, &ln.bias)?,
    })
}

/// What the CUDA kernels support: exact GELU (HF `gelu`), hidden and intermediate sizes
/// that are multiples of 8 (tensor-core GEMM rows), head size at most 128 (attention).
pub fn check_supported(cfg: &BertConfig) -> Result<()> {
    let unsupported = |what: String| {
        Err(ModelError::Other(format!(
            "this model cannot run on CUDA: {what}; use --device cpu"
        )))
    };
    if cfg.hidden_act != HiddenAct::Gelu {
        return unsupported(format!(
            "hidden_act `{}` (only `gelu` has a CUDA kernel)",
            cfg.hidden_act.name()
        ));
    }
    let (c, i) = (cfg.hidden_size, cfg.intermediate_size);
    if c % 8 != 0 || i % 8 != 0 {
        return unsupported(format!(
            "hidden_size {c} and intermediate_size {i} must be multiples of 8"
        ));
    }
    if cfg.head_size() > 128 {
        return unsupported(format!("head size {} exceeds 128", cfg.head_size()));
    }
    Ok(())
}

impl DeviceEncoder {
    /// Uploads `params`' embeddings and layers (dense weights converted to bf16 once).
    pub fn upload(dev: &CudaDevice, params: &BertParams) -> Result<DeviceEncoder> {
        check_supported(&params.config)?;
        Self::upload_tensors(dev, params).map_err(|e| {
            alloc_error(
                e,
                "the encoder's weights on the GPU",
                "--device cpu, or a GPU with more free memory",
            )
        })
    }

    fn upload_tensors(dev: &CudaDevice, params: &BertParams) -> Result<DeviceEncoder> {
        let e = &params.embeddings;
        Ok(DeviceEncoder {
            config: params.config.clone(),
            word: upload_f32(dev, &e.word_embeddings)?,
            position: upload_f32(dev, &e.position_embeddings)?,
            token_type: upload_f32(dev, &e.token_type_embeddings)?,
            embeddings_layer_norm: layer_norm(dev, &e.layer_norm)?,
            layers: params
                .layers
                .iter()
                .map(|l| {
                    Ok(DeviceLayer {
                        qkv: linear(dev, &l.qkv)?,
                        attention_output: linear(dev, &l.attention_output)?,
                        attention_layer_norm: layer_norm(dev, &l.attention_layer_norm)?,
                        intermediate: linear(dev, &l.intermediate)?,
                        output: linear(dev, &l.output)?,
                        output_layer_norm: layer_norm(dev, &l.output_layer_norm)?,
                    })
                })
                .collect::<Result<Vec<_>>>()?,
        })
    }
}
