//! `tokken-cli bench tokenizer` (being built).

/// Flags of `tokken-cli bench tokenizer`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`bench tokenizer` is not built yet")
}
