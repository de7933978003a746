//! Newline framing with a size cap, independent of any I/O style.
//!
//! The daemon (async) and the blocking client both feed bytes into a
//! [`LineFramer`] and get whole lines back. An over-long line is reported
//! once, as soon as it passes the cap, and the rest of it is discarded up to
//! its newline, so the stream stays in sync and the connection stays usable.
//! Buffers are zeroized because request lines may carry a plaintext token.

use zeroize::Zeroizing;

/// One complete unit read from the stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A line without its terminating `\n` (a trailing `\r` is kept).
    Line(Zeroizing<Vec<u8>>),
    /// A line passed the cap; its bytes were dropped.
    TooLong,
}

#[derive(Debug)]
pub struct LineFramer {
    buf: Zeroizing<Vec<u8>>,
    max: usize,
    discarding: bool,
}

impl LineFramer {
    pub fn new(max: usize) -> Self {
        LineFramer {
            buf: Zeroizing::new(Vec::new()),
            max,
            discarding: false,
        }
    }

    /// Feeds `data`, appending every frame it completes to `out`.
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<Frame>) {
        while !data.is_empty() {
            let newline = data.iter().position(|&b| b == b'\n');
            let (chunk, rest, ended) = match newline {
                Some(i) => (&data[..i], &data[i + 1..], true),
                None => (data, &data[data.len()..], false),
            };
            data = rest;
            if !self.discarding {
                if self.buf.len() + chunk.len() > self.max {
                    self.buf.clear();
                    self.discarding = true;
                    out.push(Frame::TooLong);
                } else {
                    self.buf.extend_from_slice(chunk);
                }
            }
            if ended {
                if self.discarding {
                    self.discarding = false;
                } else {
                    let line = std::mem::take(&mut *self.buf);
                    out.push(Frame::Line(Zeroizing::new(line)));
                }
            }
        }
    }

    /// Bytes of an unfinished line held so far.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// True while the rest of an over-long line is being skipped.
    pub fn is_discarding(&self) -> bool {
        self.discarding
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(max: usize, chunks: &[&[u8]]) -> Vec<Frame> {
        let mut f = LineFramer::new(max);
        let mut out = Vec::new();
        for c in chunks {
            f.push(c, &mut out);
        }
        out
    }

    fn line(s: &str) -> Frame {
        Frame::Line(Zeroizing::new(s.as_bytes().to_vec()))
    }

    #[test]
    fn splits_lines_across_chunks() {
        let out = lines(100, &[b"ab", b"c\nde", b"\n\n"]);
        assert_eq!(out, vec![line("abc"), line("de"), line("")]);
    }

    #[test]
    fn over_long_line_reported_once_then_in_sync() {
        let out = lines(4, &[b"12", b"345", b"678", b"9\nok\n"]);
        assert_eq!(out, vec![Frame::TooLong, line("ok")]);
    }

    #[test]
    fn exactly_max_is_accepted() {
        let out = lines(4, &[b"1234\n12345\nx\n"]);
        assert_eq!(out, vec![line("1234"), Frame::TooLong, line("x")]);
    }

    #[test]
    fn pending_counts_partial_line() {
        let mut f = LineFramer::new(10);
        let mut out = Vec::new();
        f.push(b"abc", &mut out);
        assert!(out.is_empty());
        assert_eq!(f.pending(), 3);
    }
}
