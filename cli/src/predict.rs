//! `tokken-cli predict` (being built).

/// Flags of `tokken-cli predict`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`predict` is not built yet")
}
