//! `--device cpu|cuda[:N]`, shared by predict, eval, finetune and bench.
//!
//! With `--features cuda`, `predict` and `eval` run the encoder on the GPU
//! (`tokken_model::cuda::CudaBert`, attached to the classifier with [`DeviceArg::attach`])
//! and `finetune` runs each LoRA or head-only forward + backward there
//! (`tokken_model::cuda::CudaLoraStep`, [`DeviceArg::attach_trainer`]; full fine-tuning is
//! refused with a message). A CPU build
//! refuses `cuda` when parsing ("CUDA support not built").

use tokken_engine::Device;
use tokken_model::trainer::Trainer;
use tokken_model::Classifier;

/// The compute device flag.
#[derive(clap::Args, Debug, Clone)]
pub struct DeviceArg {
    /// Where to compute: cpu, cuda (device 0) or cuda:N.
    #[arg(
        long,
        global = true,
        value_name = "cpu|cuda[:N]",
        default_value = "cpu"
    )]
    pub device: String,
}

impl DeviceArg {
    /// The device for inference (predict, eval), after checking it can be used.
    pub fn resolve(&self) -> anyhow::Result<Device> {
        let device: Device = self.device.parse()?;
        device.check_available()?;
        Ok(device)
    }

    /// `trainer` computing its micro-batches on `device` (unchanged on the CPU). On CUDA
    /// the frozen base runs in bf16 whatever `--dtype` says, and so does the eval set between
    /// epochs (`Trainer::evaluate`).
    #[cfg_attr(not(feature = "cuda"), allow(unused_variables))]
    pub fn attach_trainer(&self, device: Device, trainer: &mut Trainer) -> anyhow::Result<()> {
        match device {
            Device::Cpu => Ok(()),
            #[cfg(feature = "cuda")]
            Device::Cuda(n) => {
                use anyhow::Context;
                let dev = tokken_model::cuda::open_device(n)?;
                let step = tokken_model::cuda::CudaLoraStep::new(dev, &mut trainer.model)
                    .with_context(|| format!("setting up training on cuda:{n}"))?;
                trainer.cuda = Some(step);
                Ok(())
            }
        }
    }

    /// `clf` running its forward on `device` (unchanged on the CPU).
    pub fn attach(&self, device: Device, clf: Classifier) -> anyhow::Result<Classifier> {
        match device {
            Device::Cpu => Ok(clf),
            #[cfg(feature = "cuda")]
            Device::Cuda(n) => {
                use anyhow::Context;
                let dev = tokken_model::cuda::open_device(n)?;
                let gpu = tokken_model::cuda::CudaBert::new(dev, clf.params())
                    .with_context(|| format!("uploading the model to cuda:{n}"))?;
                Ok(clf.with_backend(Box::new(gpu)))
            }
        }
    }
}
