//! `apitoken`: the command-line client of apitokend (see `apitokend::cli`).

fn main() {
    std::process::exit(apitokend::cli::run());
}
