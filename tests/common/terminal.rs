//! Running a command with its standard output on a pseudo-terminal, so
//! what it does on a real terminal (colour, fitting to the width) is
//! tested as a user meets it.

use std::io::Read;
use std::process::{Command, Stdio};

use nix::pty::{Winsize, openpty};

/// What a command printed on the terminal (`\r\n` read back as `\n`), its
/// stderr (a pipe) and its exit status.
#[derive(Debug)]
pub struct OnTerminal {
    pub code: i32,
    pub screen: String,
    pub stderr: String,
}

/// Runs `cmd` with stdout on a `cols`-wide terminal, stdin closed.
pub fn run_on_terminal(mut cmd: Command, cols: u16) -> OnTerminal {
    let size = Winsize {
        ws_row: 50,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = openpty(&size, None).unwrap();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(pty.slave))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // `cmd` holds our copy of the terminal's slave side: once it is gone,
    // the master reads EIO when the child exits.
    drop(cmd);
    let mut master = std::fs::File::from(pty.master);
    let mut screen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match master.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => screen.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // EIO: the terminal's other side is closed.
            Err(_) => break,
        }
    }
    let out = child.wait_with_output().unwrap();
    OnTerminal {
        code: out.status.code().unwrap_or(-1),
        screen: String::from_utf8(screen).unwrap().replace("\r\n", "\n"),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}
