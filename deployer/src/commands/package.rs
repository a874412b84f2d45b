//! `package`: builds the function as Lambda runs it and writes its zip (the build itself is
//! `crate::package`, shared with `up` and `up --local`).

use crate::config::Config;
use crate::package::{self, Artifact};
use crate::progress::Progress;

/// Builds and zips the function of `config`.
pub fn run(config: &Config, progress: &Progress) -> anyhow::Result<Artifact> {
    package::build_for_config(config, progress)
}
