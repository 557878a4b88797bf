//! Shell-style globs (`*` any run of characters, `?` one character), matched against the whole
//! string, case-sensitively.

use regex::Regex;

/// A compiled glob pattern.
#[derive(Debug, Clone)]
pub struct Glob {
    pattern: String,
    matcher: GlobMatcher,
}

#[derive(Debug, Clone)]
enum GlobMatcher {
    /// No wildcard: plain equality (the common case, and the fastest).
    Literal,
    /// `prefix*`: a prefix test.
    Prefix(String),
    Regex(Regex),
}

impl Glob {
    pub fn new(pattern: &str) -> Result<Glob, String> {
        let wild = |c: char| c == '*' || c == '?';
        let matcher = if !pattern.contains(wild) {
            GlobMatcher::Literal
        } else if let Some(prefix) = pattern.strip_suffix('*').filter(|p| !p.contains(wild)) {
            GlobMatcher::Prefix(prefix.to_string())
        } else {
            let mut re = String::with_capacity(pattern.len() + 8);
            re.push_str("^(?s:");
            for c in pattern.chars() {
                match c {
                    '*' => re.push_str(".*"),
                    '?' => re.push('.'),
                    c => re.push_str(&regex::escape(c.encode_utf8(&mut [0u8; 4]))),
                }
            }
            re.push_str(")$");
            GlobMatcher::Regex(
                Regex::new(&re).map_err(|e| format!("invalid glob `{pattern}`: {e}"))?,
            )
        };
        Ok(Glob {
            pattern: pattern.to_string(),
            matcher,
        })
    }

    pub fn is_match(&self, s: &str) -> bool {
        match &self.matcher {
            GlobMatcher::Literal => s == self.pattern,
            GlobMatcher::Prefix(p) => s.starts_with(p.as_str()),
            GlobMatcher::Regex(re) => re.is_match(s),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    fn m(p: &str, s: &str) -> bool {
        Glob::new(p).expect("valid glob").is_match(s)
    }

    #[test]
    fn wildcards_and_literals() {
        assert!(m("nightly-*", "nightly-backfill"));
        assert!(!m("nightly-*", "weekly-backfill"));
        assert!(m("*-copy", "big-copy"));
        assert!(!m("*-copy", "big-copy2"));
        assert!(m("job-??", "job-42"));
        assert!(!m("job-??", "job-420"));
        assert!(m("a.b", "a.b"));
        assert!(!m("a.b", "axb"), "dots are literal");
        assert!(m("*", ""));
        assert!(m(
            "arn:aws:iam::*:role/batch-*",
            "arn:aws:iam::123456789012:role/batch-ops"
        ));
        assert!(!m("Exact", "exact"), "case-sensitive");
        assert!(m("line*", "line1\nline2"));
    }
}
