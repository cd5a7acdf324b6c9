//! `oryx bench play URL --players N --seconds S`: many RTMP or HTTP-FLV players in one process.

use crate::cli::args::BenchPlayArgs;

pub fn run(args: &BenchPlayArgs) -> anyhow::Result<()> {
    anyhow::bail!("bench play not implemented yet ({})", args.url)
}
