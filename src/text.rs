//! How input text appears in replies and logs, and the small text helpers
//! replies share.
//!
//! A reason names the problem; where it must quote what the caller sent
//! (a token name, an address), it shows a bounded prefix, so a megabyte
//! argument cannot become a megabyte reply or log line. Times in reasons
//! are dates (local time, as the CLI shows them), never Unix seconds.

/// At most `max` characters of `text`.
pub(crate) fn shown(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
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
