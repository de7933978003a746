//! The `apitokend` command line, in the library so man pages and shell
//! completions are generated from the same definition the binary parses.

use std::path::PathBuf;

use clap::{CommandFactory, Parser};

/// WHM-compatible API token daemon: owns the token store and answers
/// management requests and verify(user, token, ip, function).
#[derive(Debug, Parser)]
#[command(name = "apitokend", version, about)]
pub struct DaemonArgs {
    /// Configuration file (TOML; every key optional).
    #[arg(long, value_name = "FILE", conflicts_with = "dev_dir")]
    pub config: Option<PathBuf>,
    /// Validate the configuration, print the effective settings, and exit.
    #[arg(long)]
    pub check_config: bool,
    /// Run a local playground under DIR (state, accounts, sockets; logs on
    /// stderr); no root paths are touched.
    #[arg(long, value_name = "DIR")]
    pub dev_dir: Option<PathBuf>,
}

pub fn command() -> clap::Command {
    DaemonArgs::command()
}
