//! Generates the man pages and shell completions that the .deb and .rpm ship,
//! from the same clap definitions the two binaries parse
//! (`apitokend::daemon::cmdline::command` and `apitokend::cli::args::command`).
//!
//! Usage: `apitokend-gendocs OUTDIR`. Writes
//!
//! ```text
//! OUTDIR/man/man8/apitokend.8, apitokend-web.8
//! OUTDIR/man/man1/apitoken.1, apitoken-<subcommand>.1
//! OUTDIR/completions/bash/{apitokend,apitokend-web,apitoken}
//! OUTDIR/completions/zsh/{_apitokend,_apitokend-web,_apitoken}
//! OUTDIR/completions/fish/{apitokend,apitokend-web,apitoken}.fish
//! ```
//!
//! The pages carry no date, so the output depends only on the source.
//! Run by `packaging/build.sh`; never installed.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use apitokend::cli::help;
use clap_complete::Shell;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, italic, roman};

const DAEMON: &str = "apitokend";
const WEB: &str = "apitokend-web";
const CLI: &str = "apitoken";
const MANUAL: &str = "apitokend";

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(out), None) = (args.next(), args.next()) else {
        eprintln!("usage: apitokend-gendocs OUTDIR");
        return ExitCode::from(2);
    };
    match generate(Path::new(&out)) {
        Ok(written) => {
            for path in written {
                println!("{}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("apitokend-gendocs: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Writes every page and completion under `out`; returns the files written.
fn generate(out: &Path) -> io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let version = env!("CARGO_PKG_VERSION");
    let source = format!("apitokend {version}");

    // apitokend(8)
    let man8 = out.join("man/man8");
    fs::create_dir_all(&man8)?;
    let daemon = apitokend::daemon::cmdline::command();
    let page = Man::new(daemon.clone())
        .section("8")
        .source(source.clone())
        .manual(MANUAL);
    written.push(write_file(&man8.join(page.get_filename()), |w| {
        daemon_page(&page, w)
    })?);

    // apitokend-web(8)
    let web = apitokend::web::command();
    let page = Man::new(web.clone())
        .section("8")
        .source(source.clone())
        .manual(MANUAL);
    written.push(write_file(&man8.join(page.get_filename()), |w| {
        web_page(&page, w)
    })?);

    // apitoken(1) and one page per subcommand (apitoken-create(1), ...).
    let man1 = out.join("man/man1");
    fs::create_dir_all(&man1)?;
    let mut cli = apitokend::cli::args::command().disable_help_subcommand(true);
    cli.build();
    let page = Man::new(cli.clone()).source(source.clone()).manual(MANUAL);
    written.push(write_file(&man1.join(page.get_filename()), |w| {
        cli_page(&page, &cli, w)
    })?);
    for sub in cli.get_subcommands().filter(|s| !s.is_hide_set()) {
        let page = Man::new(sub.clone()).source(source.clone()).manual(MANUAL);
        let name = sub.get_name().to_owned();
        written.push(write_file(&man1.join(page.get_filename()), |w| {
            subcommand_page(&page, &name, w)
        })?);
    }

    // Completions for both binaries.
    for (shell, dir, file) in [
        (Shell::Bash, "bash", "{}"),
        (Shell::Zsh, "zsh", "_{}"),
        (Shell::Fish, "fish", "{}.fish"),
    ] {
        let dir = out.join("completions").join(dir);
        fs::create_dir_all(&dir)?;
        for (name, mut cmd) in [
            (DAEMON, apitokend::daemon::cmdline::command()),
            (WEB, apitokend::web::command()),
            (CLI, apitokend::cli::args::command()),
        ] {
            let path = dir.join(file.replace("{}", name));
            written.push(write_file(&path, |w| {
                clap_complete::generate(shell, &mut cmd, name, w);
                Ok(())
            })?);
        }
    }
    Ok(written)
}

fn write_file(
    path: &Path,
    body: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<PathBuf> {
    let mut w = BufWriter::new(File::create(path)?);
    body(&mut w)?;
    w.flush()?;
    Ok(path.to_path_buf())
}

/// apitokend(8): clap's sections, then FILES, SIGNALS and SEE ALSO.
fn daemon_page(page: &Man, w: &mut dyn Write) -> io::Result<()> {
    page.render_title(w)?;
    page.render_name_section(w)?;
    page.render_synopsis_section(w)?;
    page.render_description_section(w)?;
    let mut roff = Roff::default();
    roff.control("PP", []);
    roff.text([roman(
        "Under systemd, apitokend.socket (control socket) and \
         apitokend-verify.socket (verify socket, group apitokend-verify) \
         create both sockets and pass them to apitokend.service by name; \
         the daemon is started on the first connection.",
    )]);
    roff.to_writer(w)?;
    page.render_options_section(w)?;

    let mut roff = Roff::default();
    examples(
        &mut roff,
        apitokend::daemon::cmdline::EXAMPLES
            .iter()
            .map(|(what, command)| (*what, *command)),
    );
    roff.control("SH", ["FILES"]);
    for (path, what) in [
        (
            "/etc/apitokend/apitokend.toml",
            "Configuration; every key is optional. The shipped file shows each \
             default, commented out, and sets only functions_file and acls_file \
             (relative to the file's directory).",
        ),
        (
            "/etc/apitokend/functions.conf",
            "WHM API 1 function to privilege table.",
        ),
        (
            "/etc/apitokend/acls.conf",
            "Privileges that tokens may carry.",
        ),
        (
            "/var/cpanel/apitokend",
            "State directory (mode 0700): the LMDB token store and the lock file.",
        ),
        (
            "/var/cpanel/apitokend/pepper",
            "32 random bytes (mode 0600) created at first start. Back it up \
             with the store: without it no token verifies.",
        ),
        (
            "/run/apitokend/control.sock",
            "Control socket (mode 0666; the peer's uid decides what it may do).",
        ),
        (
            "/run/apitokend/verify.sock",
            "Verify socket (mode 0660, group apitokend-verify).",
        ),
    ] {
        roff.control("TP", []);
        roff.text([italic(path)]);
        roff.text([roman(what)]);
    }
    roff.control("SH", ["SIGNALS"]);
    roff.control("TP", []);
    roff.text([bold("SIGHUP")]);
    roff.text([roman(
        "Re-read the configuration and the data files (systemctl reload apitokend); \
         keys that need a restart are reported in the log.",
    )]);
    roff.control("TP", []);
    roff.text([bold("SIGTERM"), roman(", "), bold("SIGINT")]);
    roff.text([roman(
        "Stop accepting, answer the requests already received, and exit 0.",
    )]);
    roff.control("SH", ["SEE ALSO"]);
    roff.text([
        bold("apitoken"),
        roman("(1), "),
        bold("systemd.socket"),
        roman("(5), "),
        bold("pam"),
        roman("(8)"),
    ]);
    roff.to_writer(w)?;
    page.render_version_section(w)
}

/// apitokend-web(8): clap's sections, then FILES, SIGNALS and SEE ALSO.
fn web_page(page: &Man, w: &mut dyn Write) -> io::Result<()> {
    page.render_title(w)?;
    page.render_name_section(w)?;
    page.render_synopsis_section(w)?;
    page.render_description_section(w)?;
    let mut roff = Roff::default();
    roff.control("PP", []);
    roff.text([roman(
        "It serves WHM API 1 over HTTPS (port 2087 by default) with \
         Authorization: whm user:token, an auth gate for nginx auth_request \
         (GET /auth) on a Unix socket, and optionally forwards other \
         functions to an upstream. It never handles a request as root: \
         started by root it switches to the account [web] user \
         (apitokend-web) before reading any request. Every decision is the \
         daemon's, asked over its sockets.",
    )]);
    roff.to_writer(w)?;
    page.render_options_section(w)?;
    let mut roff = Roff::default();
    examples(
        &mut roff,
        apitokend::web::EXAMPLES
            .iter()
            .map(|(what, command)| (*what, *command)),
    );
    roff.control("SH", ["FILES"]);
    for (path, what) in [
        (
            "/etc/apitokend/apitokend.toml",
            "The daemon's configuration; the front reads its [web] section.",
        ),
        (
            "/var/lib/apitokend-web",
            "State directory (mode 0700): the self-signed certificate and its \
             key (mode 0600), made at first start when tls_cert is unset.",
        ),
    ] {
        roff.control("TP", []);
        roff.text([italic(path)]);
        roff.text([roman(what)]);
    }
    roff.control("SH", ["SIGNALS"]);
    roff.control("TP", []);
    roff.text([bold("SIGHUP")]);
    roff.text([roman(
        "Re-read the certificate and key (systemctl reload apitokend-web); \
         a broken pair keeps the running one.",
    )]);
    roff.control("TP", []);
    roff.text([bold("SIGTERM"), roman(", "), bold("SIGINT")]);
    roff.text([roman(
        "Stop accepting, finish requests in flight, and exit 0.",
    )]);
    roff.control("SH", ["SEE ALSO"]);
    roff.text([
        bold("apitokend"),
        roman("(8), "),
        bold("nginx"),
        roman("(8)"),
    ]);
    roff.to_writer(w)?;
    page.render_version_section(w)
}

/// apitoken(1): clap's sections, the after-help text as NOTES, SEE ALSO.
fn cli_page(page: &Man, cmd: &clap::Command, w: &mut dyn Write) -> io::Result<()> {
    page.render_title(w)?;
    page.render_name_section(w)?;
    page.render_synopsis_section(w)?;
    page.render_description_section(w)?;
    page.render_options_section(w)?;
    page.render_subcommands_section(w)?;

    let mut roff = Roff::default();
    cli_examples(&mut roff, "");
    roff.control("SH", ["EXIT STATUS"]);
    roff.text([roman(help::EXIT_STATUS)]);
    roff.control("SH", ["ENVIRONMENT"]);
    for (var, what) in [
        (
            "APITOKEND_SOCKET",
            "Control socket, when --socket is not given.",
        ),
        (
            "APITOKEND_VERIFY_SOCKET",
            "Verify socket, when --verify-socket is not given.",
        ),
        (
            "NO_COLOR",
            "When set and not empty, no colour (unless --color always).",
        ),
        (
            "COLUMNS",
            "Width to fit the list table to, instead of the terminal's.",
        ),
    ] {
        roff.control("TP", []);
        roff.text([bold(var)]);
        roff.text([roman(what)]);
    }
    roff.control("SH", ["SEE ALSO"]);
    let mut refs = Vec::new();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = sub.get_display_name().unwrap_or_else(|| sub.get_name());
        refs.push(bold(name.to_owned()));
        refs.push(roman("(1), "));
    }
    refs.push(bold(DAEMON));
    refs.push(roman("(8)"));
    roff.text(refs);
    roff.to_writer(w)?;
    page.render_version_section(w)
}

/// EXAMPLES: each a sentence, then the command line as a literal block.
fn examples<'a>(roff: &mut Roff, list: impl Iterator<Item = (&'a str, &'a str)>) {
    let mut list = list.peekable();
    if list.peek().is_none() {
        return;
    }
    roff.control("SH", ["EXAMPLES"]);
    for (what, command) in list {
        roff.control("PP", []);
        roff.text([roman(what)]);
        roff.control("PP", []);
        roff.control("RS", ["4"]);
        roff.control("nf", []);
        roff.text([bold(command)]);
        roff.control("fi", []);
        roff.control("RE", []);
    }
}

fn cli_examples(roff: &mut Roff, name: &str) {
    examples(
        roff,
        help::examples(name).iter().map(|e| (e.what, e.command)),
    );
}

/// apitoken-SUB(1): clap's sections (DESCRIPTION holds the rules), the
/// examples `--help` shows, and SEE ALSO apitoken(1).
fn subcommand_page(page: &Man, name: &str, w: &mut dyn Write) -> io::Result<()> {
    page.render_title(w)?;
    page.render_name_section(w)?;
    page.render_synopsis_section(w)?;
    page.render_description_section(w)?;
    page.render_options_section(w)?;
    let mut roff = Roff::default();
    cli_examples(&mut roff, name);
    roff.control("SH", ["SEE ALSO"]);
    roff.text([bold(CLI), roman("(1)")]);
    // No VERSION section: subcommands carry no version of their own.
    roff.to_writer(w)
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;

    /// Every page states its rules and shows examples.
    #[test]
    fn every_page_has_a_description_and_examples() {
        let out = std::env::temp_dir().join(format!("apitokend-gendocs-{}", std::process::id()));
        let written = generate(&out).unwrap_or_else(|e| panic!("{e}"));
        let pages: Vec<&PathBuf> = written
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "1" || e == "8"))
            .collect();
        assert!(pages.len() >= 13, "{pages:?}");
        for page in pages {
            let text = fs::read_to_string(page).unwrap_or_default();
            for section in [".SH DESCRIPTION", ".SH EXAMPLES"] {
                assert!(
                    text.contains(section),
                    "{section} missing in {}",
                    page.display()
                );
            }
        }
        let _ = fs::remove_dir_all(&out);
    }
}
