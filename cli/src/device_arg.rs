//! `--device cpu|cuda[:N]`, shared by predict, eval, finetune and bench.
//!
//! The CUDA kernels exist (tokken-kernels, feature `cuda`) but the model's forward and
//! backward do not run on them yet, so a CUDA device is validated (built? present?) and then
//! refused with a clear message rather than silently running on the CPU.

use anyhow::bail;
use tokken_engine::Device;

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
    /// The device, after checking it can be used for this command.
    pub fn resolve(&self) -> anyhow::Result<Device> {
        let device: Device = self.device.parse()?;
        device.check_available()?;
        if device != Device::Cpu {
            bail!(
                "--device {device}: the model does not run on CUDA yet (the CUDA kernels are built \
                 and tested on their own, see docs/STATUS.md); use --device cpu"
            );
        }
        Ok(device)
    }
}
