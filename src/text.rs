//! How input text appears in replies and logs.
//!
//! A reason names the problem; where it must quote what the caller sent
//! (a token name, an address), it shows a bounded prefix, so a megabyte
//! argument cannot become a megabyte reply or log line.

/// At most `max` characters of `text`.
pub(crate) fn shown(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn shown_counts_characters_not_bytes() {
        assert_eq!(super::shown("héllo", 2), "hé");
        assert_eq!(super::shown("ab", 64), "ab");
        assert_eq!(super::shown("", 3), "");
    }
}
