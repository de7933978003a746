//! Reading a secret (a token) from standard input, never from argv.
//!
//! Piped input: the first line is the secret. On a terminal: a prompt on
//! stderr, then the line is read with echo off. Signals are off too and the
//! line is edited here byte by byte, so that Ctrl-C restores the terminal
//! before we exit (a signal handler would need code outside safe Rust). Buffers are
//! allocated once at full size and zeroized, so no copy of the secret is
//! left behind by a reallocation.

use std::fmt;
use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::termios::{self, LocalFlags, SetArg, SpecialCharacterIndices, Termios};
use zeroize::Zeroizing;

/// Same cap as the daemon's request line: a longer secret cannot be sent.
pub const MAX_SECRET: usize = 64 * 1024;

#[derive(Debug)]
pub enum ReadError {
    Empty,
    TooLong,
    NotUtf8,
    /// Ctrl-C at the prompt.
    Interrupted,
    Io(io::Error),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Empty => f.write_str("the line is empty"),
            ReadError::TooLong => write!(f, "the line is longer than {MAX_SECRET} bytes"),
            ReadError::NotUtf8 => f.write_str("the line is not valid UTF-8"),
            ReadError::Interrupted => f.write_str("interrupted"),
            ReadError::Io(e) => e.fmt(f),
        }
    }
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// Reads one secret, trimmed; `prompt` is shown only on a terminal.
pub fn read_secret(prompt: &str) -> Result<Zeroizing<String>, ReadError> {
    let stdin = io::stdin();
    let raw = if stdin.is_terminal() {
        read_from_terminal(stdin.as_fd(), &mut stdin.lock(), prompt)?
    } else {
        read_first_line(&mut stdin.lock())?
    };
    finish(&raw)
}

fn finish(raw: &[u8]) -> Result<Zeroizing<String>, ReadError> {
    let text = std::str::from_utf8(raw).map_err(|_| ReadError::NotUtf8)?;
    let text = text.trim();
    if text.is_empty() {
        return Err(ReadError::Empty);
    }
    Ok(Zeroizing::new(text.to_owned()))
}

fn read_first_line(input: &mut impl BufRead) -> Result<Zeroizing<Vec<u8>>, ReadError> {
    let mut buf = Zeroizing::new(Vec::with_capacity(MAX_SECRET + 1));
    input
        .take(MAX_SECRET as u64 + 1)
        .read_until(b'\n', &mut buf)?;
    if buf.last() == Some(&b'\n') {
        buf.pop();
    } else if buf.len() > MAX_SECRET {
        return Err(ReadError::TooLong);
    }
    Ok(buf)
}

/// Puts the saved terminal settings back when dropped, on every path.
struct Restore<'a> {
    fd: BorrowedFd<'a>,
    saved: Termios,
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.fd, SetArg::TCSANOW, &self.saved);
    }
}

fn read_from_terminal(
    fd: BorrowedFd<'_>,
    input: &mut impl Read,
    prompt: &str,
) -> Result<Zeroizing<Vec<u8>>, ReadError> {
    let saved = termios::tcgetattr(fd).map_err(io::Error::from)?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(
        LocalFlags::ECHO
            | LocalFlags::ECHONL
            | LocalFlags::ICANON
            | LocalFlags::ISIG
            | LocalFlags::IEXTEN,
    );
    quiet.control_chars[SpecialCharacterIndices::VMIN as usize] = 1;
    quiet.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;

    let mut stderr = io::stderr();
    let _ = write!(stderr, "{prompt}");
    let _ = stderr.flush();
    let result = {
        let _restore = Restore { fd, saved };
        termios::tcsetattr(fd, SetArg::TCSANOW, &quiet).map_err(io::Error::from)?;
        read_edited_line(input)
    };
    // The user's Enter was not echoed.
    let _ = writeln!(stderr);
    result
}

/// What one key does to the line being typed.
#[derive(Debug, PartialEq, Eq)]
enum Key {
    Char(u8),
    Erase,
    Kill,
    End,
    Interrupt,
    Ignore,
}

fn classify(b: u8) -> Key {
    match b {
        b'\r' | b'\n' | 0x04 => Key::End,
        0x03 => Key::Interrupt,
        0x7f | 0x08 => Key::Erase,
        0x15 => Key::Kill,
        b if b < 0x20 => Key::Ignore,
        b => Key::Char(b),
    }
}

fn read_edited_line(input: &mut impl Read) -> Result<Zeroizing<Vec<u8>>, ReadError> {
    let mut line = Zeroizing::new(Vec::with_capacity(MAX_SECRET));
    let mut byte = [0u8; 1];
    loop {
        match input.read(&mut byte) {
            Ok(0) => return Ok(line),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
        match classify(byte[0]) {
            Key::End => return Ok(line),
            Key::Interrupt => return Err(ReadError::Interrupted),
            Key::Erase => {
                // Drop a whole UTF-8 character: continuation bytes first.
                while line.last().is_some_and(|b| b & 0xC0 == 0x80) {
                    line.pop();
                }
                line.pop();
            }
            Key::Kill => line.clear(),
            Key::Ignore => {}
            Key::Char(_) if line.len() >= MAX_SECRET => return Err(ReadError::TooLong),
            Key::Char(b) => line.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_line(input: &[u8]) -> Result<String, ReadError> {
        let raw = read_first_line(&mut &input[..])?;
        finish(&raw).map(|s| s.to_string())
    }

    fn typed(input: &[u8]) -> Result<String, ReadError> {
        let raw = read_edited_line(&mut &input[..])?;
        finish(&raw).map(|s| s.to_string())
    }

    #[test]
    fn piped_first_line_trimmed() {
        assert_eq!(first_line(b"  ABC123 \nsecond\n").unwrap(), "ABC123");
        assert_eq!(first_line(b"ABC\r\n").unwrap(), "ABC");
        assert_eq!(first_line(b"ABC").unwrap(), "ABC");
    }

    #[test]
    fn piped_empty_or_bad() {
        assert!(matches!(first_line(b""), Err(ReadError::Empty)));
        assert!(matches!(first_line(b"  \nABC\n"), Err(ReadError::Empty)));
        assert!(matches!(first_line(b"\xff\xfe\n"), Err(ReadError::NotUtf8)));
        let long = vec![b'A'; MAX_SECRET + 1];
        assert!(matches!(first_line(&long), Err(ReadError::TooLong)));
        let mut max = vec![b'A'; MAX_SECRET];
        max.push(b'\n');
        assert_eq!(first_line(&max).unwrap().len(), MAX_SECRET);
    }

    #[test]
    fn terminal_line_editing() {
        assert_eq!(typed(b"ABX\x7fC\n").unwrap(), "ABC");
        assert_eq!(typed(b"junk\x15TOKEN\r").unwrap(), "TOKEN");
        assert_eq!(typed(b"T\x1bOK\x04").unwrap(), "TOK");
        assert_eq!(typed("a\u{e9}\x7fb\n".as_bytes()).unwrap(), "ab");
        assert!(matches!(typed(b"TOK\x03EN\n"), Err(ReadError::Interrupted)));
        assert!(matches!(typed(b"\x04"), Err(ReadError::Empty)));
        assert!(matches!(typed(b""), Err(ReadError::Empty)));
    }
}
