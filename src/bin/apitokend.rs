//! The apitokend daemon binary: argument parsing only; see `apitokend::daemon`.

use std::path::PathBuf;
use std::process::ExitCode;

use apitokend::config::Config;
use apitokend::daemon;
use clap::Parser;

/// WHM-compatible API token daemon.
#[derive(Debug, Parser)]
#[command(name = "apitokend", version, about)]
struct Args {
    /// Configuration file (TOML; every key optional).
    #[arg(long, value_name = "FILE", conflicts_with = "dev_dir")]
    config: Option<PathBuf>,
    /// Validate the configuration, print the effective settings, and exit.
    #[arg(long)]
    check_config: bool,
    /// Run a local playground under DIR (state, accounts, socket); no root paths.
    #[arg(long, value_name = "DIR")]
    dev_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let source = match &args.config {
        Some(path) => daemon::ConfigSource::File(path.clone()),
        None => daemon::ConfigSource::Fixed,
    };
    let config = match (&args.config, &args.dev_dir) {
        (Some(path), _) => Config::load(path).map_err(|e| daemon::StartError(e.to_string())),
        (None, Some(dir)) => daemon::dev_config(dir),
        (None, None) => Ok(Config::default()),
    };
    let result = config.and_then(|config| {
        if args.check_config {
            daemon::check(&config)?;
            print!("{}", config.to_toml());
            Ok(())
        } else {
            daemon::run(&config, source)
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("apitokend: {e}");
            ExitCode::FAILURE
        }
    }
}
