//! `tokken-cli bench ...`: speed figures as JSON lines, each next to this machine's
//! peak measured by our own probe in the same run.

#[cfg(feature = "cuda")]
mod cuda;
mod forward;
mod gemm;
mod tokenizer;
mod train_step;

use clap::Subcommand;
use tokken_engine::Device;

/// Flags of `tokken-cli bench`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    device: crate::device_arg::DeviceArg,
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// f32 / bf16 GEMM on BERT-base shapes vs the measured FMA peak.
    Gemm(gemm::Args),
    /// Analyzer and full-encode throughput on livedoor body lines (vs `mecab` when installed).
    Tokenizer(tokenizer::Args),
    /// BERT forward latency / throughput vs the measured peak.
    Forward(forward::Args),
    /// Seconds per LoRA training step (forward + backward + AdamW) and peak memory.
    TrainStep(train_step::Args),
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let device = args.device.resolve()?;
    let cpu_only = |what: &str| {
        anyhow::ensure!(
            device == Device::Cpu,
            "`bench {what}` runs on the CPU only (GPU GEMM figures: scripts/gpu-check.sh); drop --device {device}"
        );
        Ok(())
    };
    match args.what {
        What::Gemm(a) => {
            cpu_only("gemm")?;
            gemm::run(a)
        }
        What::Tokenizer(a) => {
            cpu_only("tokenizer")?;
            tokenizer::run(a)
        }
        What::Forward(a) => forward::run(a, device),
        What::TrainStep(a) => train_step::run(a, device),
    }
}
