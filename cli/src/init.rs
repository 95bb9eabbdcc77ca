//! `tokken-cli init` (being built).

/// Flags of `tokken-cli init`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`init` is not built yet")
}
