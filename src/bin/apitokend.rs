//! The apitokend daemon binary: argument parsing only; see `apitokend::daemon`.

use std::process::ExitCode;

use apitokend::config::Config;
use apitokend::daemon;
use apitokend::daemon::cmdline::DaemonArgs;
use clap::Parser;

fn main() -> ExitCode {
    let args = DaemonArgs::parse();
    let source = match &args.config {
        Some(path) => daemon::ConfigSource::File(path.clone()),
        None => daemon::ConfigSource::Fixed,
    };
    let config = match (&args.config, &args.dev_dir) {
        (Some(path), _) => Config::load(path).map_err(|e| daemon::StartError(e.to_string())),
        (None, Some(dir)) => daemon::dev_config(dir),
        (None, None) if args.check_config => Ok(Config::default()),
        (None, None) => daemon::refuse_root_paths_as_non_root().map(|()| Config::default()),
    };
    let result = config.and_then(|config| {
        if args.check_config {
            daemon::check(&config)?;
            print!("{}", config.to_toml());
            Ok(())
        } else {
            if args.dev_dir.is_some() {
                eprintln!("{}", daemon::dev_hint(&config));
            }
            // Started before the daemon drops its privileges, so a root
            // playground's front can still switch accounts.
            let front = match &args.dev_dir {
                Some(dir) if !args.no_web => apitokend::web::dev::start(&config, dir),
                _ => None,
            };
            let result = daemon::run(&config, source);
            drop(front);
            result
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
