//! Shell-style globs (`*` any run of characters, `?` one character), matched against the whole
//! string, case-sensitively. A backslash makes the next character literal: `\*` matches a `*`,
//! `\?` a `?`, `\\` a backslash (in a TOML basic string write `"\\*"`, or use a literal string
//! `'\*'`).

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
    Literal(String),
    /// `prefix*`: a prefix test.
    Prefix(String),
    Regex(Regex),
}

/// One piece of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Char(char),
    AnyRun,
    AnyOne,
}

fn tokens(pattern: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        out.push(match c {
            '*' => Token::AnyRun,
            '?' => Token::AnyOne,
            '\\' => match chars.next() {
                Some(next) => Token::Char(next),
                None => {
                    return Err(format!(
                        "glob `{pattern}` ends with a lone `\\`; write `\\\\` for a backslash, `\\*` for a literal `*`"
                    ))
                }
            },
            c => Token::Char(c),
        });
    }
    Ok(out)
}

impl Glob {
    pub fn new(pattern: &str) -> Result<Glob, String> {
        let toks = tokens(pattern)?;
        let literal = |ts: &[Token]| -> Option<String> {
            ts.iter()
                .map(|t| match t {
                    Token::Char(c) => Some(*c),
                    _ => None,
                })
                .collect()
        };
        let matcher = if let Some(s) = literal(&toks) {
            GlobMatcher::Literal(s)
        } else if let Some(prefix) = toks
            .split_last()
            .filter(|(last, _)| **last == Token::AnyRun)
            .and_then(|(_, rest)| literal(rest))
        {
            GlobMatcher::Prefix(prefix)
        } else {
            let mut re = String::with_capacity(pattern.len() + 8);
            re.push_str("^(?s:");
            for t in &toks {
                match t {
                    Token::AnyRun => re.push_str(".*"),
                    Token::AnyOne => re.push('.'),
                    Token::Char(c) => re.push_str(&regex::escape(c.encode_utf8(&mut [0u8; 4]))),
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
            GlobMatcher::Literal(l) => s == l,
            GlobMatcher::Prefix(p) => s.starts_with(p.as_str()),
            GlobMatcher::Regex(re) => re.is_match(s),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// The one string the glob matches, when it has no wildcard (escapes resolved).
    pub fn literal(&self) -> Option<&str> {
        match &self.matcher {
            GlobMatcher::Literal(l) => Some(l),
            _ => None,
        }
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

    #[test]
    fn backslash_makes_wildcards_literal() {
        assert!(m(r"50\% off\*", "50% off*"));
        assert!(
            !m(r"50\% off\*", "50% off!"),
            "an escaped * is not a wildcard"
        );
        assert!(m(r"a\*b*", "a*bcd"));
        assert!(!m(r"a\*b*", "axbcd"));
        assert!(m(r"why\?", "why?"));
        assert!(!m(r"why\?", "whyo"));
        assert!(m(r"back\\slash", r"back\slash"));
        assert_eq!(Glob::new(r"a\*").expect("valid").literal(), Some("a*"));
        assert!(Glob::new("dangling\\").is_err());
    }
}
