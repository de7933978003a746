//! The apitokend-web binary: argument parsing only; see `apitokend::web`.

use std::process::ExitCode;

use apitokend::config::Config;
use apitokend::web::WebArgs;
use clap::Parser;

fn main() -> ExitCode {
    let args = WebArgs::parse();
    let config = match &args.config {
        Some(path) => Config::load(path).map_err(|e| e.to_string()),
        None => Ok(Config::default()),
    };
    let result = config.and_then(|config| {
        if args.check_config {
            let shown = toml::to_string(&config.web).unwrap_or_default();
            print!("[web]\n{shown}");
            Ok(())
        } else {
            apitokend::web::start(config, args.exit_with_stdin)
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("apitokend-web: {e}");
            ExitCode::FAILURE
        }
    }
}
