//! How input text appears in replies and logs, and the small text helpers
//! replies share.
//!
//! A reason names the problem; where it must quote what the caller sent
//! (a token name, an address), it shows a bounded prefix, so a megabyte
//! argument cannot become a megabyte reply or log line. Anything shaped
//! like a token (a run of at least [`TOKEN_LEN`] capital letters and
//! digits) is never quoted, wherever it was put: a caller who pastes a
//! token into the wrong field must not find it in a reply or a log. Times
//! in reasons are dates (local time, as the CLI shows them), never Unix
//! seconds.

use std::borrow::Cow;

use apitokend_proto::TOKEN_LEN;

/// What replaces token-shaped text.
pub(crate) const HIDDEN: &str = "[hidden]";

/// At most `max` characters of `text`, token-shaped runs hidden.
pub(crate) fn shown(text: &str, max: usize) -> String {
    hide_tokens(text).chars().take(max).collect()
}

/// `text` with every run of [`TOKEN_LEN`] or more of `0-9A-Z` replaced by
/// [`HIDDEN`].
pub(crate) fn hide_tokens(text: &str) -> Cow<'_, str> {
    if text.len() < TOKEN_LEN {
        return Cow::Borrowed(text);
    }
    let token_char = |b: u8| b.is_ascii_digit() || b.is_ascii_uppercase();
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let (mut run_start, mut copied) = (0, 0);
    for i in 0..=bytes.len() {
        if i < bytes.len() && token_char(bytes[i]) {
            continue;
        }
        // A run of token characters ends at i (ASCII: char boundaries).
        if i - run_start >= TOKEN_LEN {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(&text[copied..run_start]);
            o.push_str(HIDDEN);
            copied = i;
        }
        run_start = i + 1;
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut o) => {
            o.push_str(&text[copied..]);
            Cow::Owned(o)
        }
    }
}

/// A Unix time as `YYYY-MM-DD hh:mm:ss` in the machine's local time (the
/// CLI's format), or the number itself when out of range.
pub(crate) fn local_time(t: i64) -> String {
    use chrono::TimeZone;
    match chrono::Local.timestamp_opt(t, 0).earliest() {
        Some(d) => d.format("%Y-%m-%d %H:%M:%S").to_string(),
        None => t.to_string(),
    }
}

/// Edit distance (insertions, deletions, substitutions, adjacent swaps).
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = d;
        }
    }
    rows[a.len()][b.len()]
}

/// Up to three `candidates` close to `word` (a typo's likely intent),
/// closest first; none when nothing is close.
pub(crate) fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    // Longer than any name we keep: not worth comparing (and bounded work).
    if word.chars().count() > 128 {
        return Vec::new();
    }
    let word = word.to_lowercase();
    let limit = (word.chars().count() / 3).clamp(1, 3);
    let scored: Vec<(usize, bool, &str)> = candidates
        .filter(|c| c.len() <= 128)
        .map(|c| {
            (
                distance(&word, c),
                word.len() >= 4 && c.starts_with(&word),
                c,
            )
        })
        .collect();
    // The nearest ones only: one typo away beats three typos away.
    let best = scored
        .iter()
        .map(|(d, _, _)| *d)
        .min()
        .unwrap_or(usize::MAX);
    let mut near: Vec<(usize, &str)> = scored
        .into_iter()
        .filter(|(d, prefix, _)| (*d <= limit && *d == best) || *prefix)
        .map(|(d, _, c)| (d, c))
        .collect();
    near.sort();
    near.into_iter().take(3).map(|(_, c)| c).collect()
}

/// `“a”, “b” or “c”` for a reason's "did you mean" tail.
pub(crate) fn did_you_mean(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("“{n}”")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => format!(" (did you mean {last}?)"),
        Some((last, rest)) => format!(" (did you mean {} or {last}?)", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_counts_characters_not_bytes() {
        assert_eq!(shown("héllo", 2), "hé");
        assert_eq!(shown("ab", 64), "ab");
        assert_eq!(shown("", 3), "");
    }

    #[test]
    fn token_shaped_runs_are_hidden_anywhere() {
        let t = "UWU28DCA23NKY76CN17MDPKM3O7EFQY8";
        let cases = [
            (t.to_owned(), HIDDEN.to_owned()),
            (
                format!("{{\"token\":\"{t}\"}}"),
                format!("{{\"token\":\"{HIDDEN}\"}}"),
            ),
            (format!("é{t}X é"), format!("é{HIDDEN} é")),
            // One short of a token, lower case, separated: kept.
            (t[1..].to_owned(), t[1..].to_owned()),
            (t.to_lowercase(), t.to_lowercase()),
            (
                format!("{}-{}", &t[..16], &t[16..]),
                format!("{}-{}", &t[..16], &t[16..]),
            ),
            ("list-accts".to_owned(), "list-accts".to_owned()),
        ];
        for (given, want) in cases {
            assert_eq!(hide_tokens(&given), want, "{given}");
        }
        // Hidden before it is cut, so a prefix of a token never shows.
        assert_eq!(shown(&format!("ab{t}"), 10), format!("ab{HIDDEN}"));
    }

    #[test]
    fn closest_names() {
        let names = ["list-accts", "list-pkgs", "create-acct", "passwd", "ssl"];
        let near = |w: &str| closest(w, names.iter().copied());
        assert_eq!(near("list-acct"), ["list-accts"]);
        assert_eq!(near("lsit-accts"), ["list-accts"]);
        assert_eq!(near("LIST-ACCTS"), ["list-accts"]);
        assert_eq!(near("paswd"), ["passwd"]);
        assert_eq!(near("list"), ["list-pkgs", "list-accts"]);
        assert!(near("reboot").is_empty());
        assert!(near(&"x".repeat(500)).is_empty());
        assert_eq!(did_you_mean(&["a"]), " (did you mean “a”?)");
        assert_eq!(
            did_you_mean(&["a", "b", "c"]),
            " (did you mean “a”, “b” or “c”?)"
        );
        assert_eq!(did_you_mean(&[]), "");
    }
}
