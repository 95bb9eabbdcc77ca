//! `tokken-cli bench gemm` (being built).

/// Flags of `tokken-cli bench gemm`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`bench gemm` is not built yet")
}
