//! Located config errors: `FILE:LINE:COL: error: ...`, the source line, a caret and help.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

/// One step of a key path into the TOML document (`rules[2].action.raise`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

/// Renders a key path the way a user would write it: `rules[2].action.raise`.
pub fn display_path(path: &[PathSeg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            PathSeg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                let bare = !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if bare {
                    s.push_str(k);
                } else {
                    s.push_str(&format!("{k:?}"));
                }
            }
            PathSeg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// An error at a place in a text file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub origin: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
    pub source_line: String,
    /// Width of the caret underline, in characters (at least 1).
    pub underline: usize,
    pub help: Option<String>,
}

impl Located {
    /// Locates byte range `span` of `src` (clamped to the text).
    pub fn new(
        origin: &str,
        src: &str,
        span: Range<usize>,
        message: String,
        help: Option<String>,
    ) -> Located {
        let start = floor_char_boundary(src, span.start.min(src.len()));
        let end = floor_char_boundary(src, span.end.clamp(start, src.len()));
        let line_start = src[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = src[start..].find('\n').map_or(src.len(), |i| start + i);
        let line = src[..start].matches('\n').count() + 1;
        let column = src[line_start..start].chars().count() + 1;
        let source_line = src[line_start..line_end].trim_end_matches('\r').to_string();
        let underline = src[start..end.min(line_end)].chars().count().max(1);
        Located {
            origin: origin.to_string(),
            line,
            column,
            message,
            source_line,
            underline,
            help,
        }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}:{}:{}: error: {}",
            self.origin, self.line, self.column, self.message
        )?;
        let num = self.line.to_string();
        let pad = " ".repeat(num.len());
        writeln!(f, "{pad} |")?;
        writeln!(f, "{num} | {}", self.source_line)?;
        let lead: String = self
            .source_line
            .chars()
            .take(self.column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        write!(f, "{pad} | {lead}{}", "^".repeat(self.underline))?;
        if let Some(help) = &self.help {
            write!(f, "\n{pad} = help: {help}")?;
        }
        Ok(())
    }
}

/// Something valid in a config that is probably not what was meant: printed by `check` as
/// one line, `FILE:LINE: warning: MESSAGE; HELP`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub origin: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
    pub help: Option<String>,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: warning: {}",
            self.origin, self.line, self.message
        )?;
        if let Some(help) = &self.help {
            write!(f, "; {help}")?;
        }
        Ok(())
    }
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: error: cannot read the config file: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Syntax, schema or validation error at a place in the file.
    #[error("{0}")]
    Invalid(Box<Located>),
}

impl ConfigError {
    /// The file could not be read (as opposed to: it was read and is wrong).
    pub fn is_io(&self) -> bool {
        matches!(self, ConfigError::Io { .. })
    }

    pub fn location(&self) -> Option<&Located> {
        match self {
            ConfigError::Invalid(l) => Some(l),
            ConfigError::Io { .. } => None,
        }
    }

    /// 1-based line of the error, when it has one.
    pub fn line(&self) -> Option<usize> {
        self.location().map(|l| l.line)
    }
}

/// Suggests the closest of `candidates` to `word`, if one is close enough.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_line_column_and_caret() {
        let src = "a = 1\nzone = \"Mars/Olympus\"\n";
        let start = src.find("\"Mars").expect("present");
        let l = Located::new(
            "c.toml",
            src,
            start..start + 14,
            "unknown time zone".into(),
            Some("use an IANA name".into()),
        );
        assert_eq!((l.line, l.column), (2, 8));
        let text = l.to_string();
        assert!(
            text.starts_with("c.toml:2:8: error: unknown time zone\n"),
            "{text}"
        );
        assert!(text.contains("2 | zone = \"Mars/Olympus\"\n"), "{text}");
        assert!(text.contains("  |        ^^^^^^^^^^^^^^\n"), "{text}");
        assert!(text.ends_with("= help: use an IANA name"), "{text}");
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("intervall", ["interval", "cron"]),
            Some("interval")
        );
        assert_eq!(did_you_mean("zzz", ["interval", "cron"]), None);
        assert_eq!(
            display_path(&[
                PathSeg::Key("rules".into()),
                PathSeg::Index(2),
                PathSeg::Key("when".into())
            ]),
            "rules[2].when"
        );
    }
}
