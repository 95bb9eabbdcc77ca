//! `--device cpu|cuda[:N]`, shared by predict, eval, finetune and bench.
//!
//! With `--features cuda`, `predict` and `eval` run the encoder on the GPU
//! (`tokken_model::cuda::CudaBert`, attached to the classifier with [`DeviceArg::attach`]).
//! Fine-tuning on CUDA is not wired into the trainer yet: [`DeviceArg::resolve_for_training`]
//! refuses it with a message saying so. A CPU build refuses `cuda` when parsing
//! ("CUDA support not built").

use anyhow::bail;
use tokken_engine::Device;
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

    /// The device for fine-tuning: the CPU only for now.
    pub fn resolve_for_training(&self) -> anyhow::Result<Device> {
        let device = self.resolve()?;
        if device != Device::Cpu {
            bail!(
                "--device {device}: fine-tuning does not run on CUDA from the CLI yet (the LoRA \
                 step exists as tokken_model::cuda::CudaLoraStep but the trainer loop does not \
                 call it); use --device cpu"
            );
        }
        Ok(device)
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
