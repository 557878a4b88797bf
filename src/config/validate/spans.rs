//! Where an error is in the source text: key paths to byte spans and back.

use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::super::error::PathSeg;
use super::SemErr;

/// The key path of the value at byte range `span` (a TOML error's location): the value whose
/// span is exactly `span`, else the innermost one containing it.
pub(in crate::config) fn path_at(src: &str, span: &Range<usize>) -> Vec<PathSeg> {
    let Ok(doc) = DeTable::parse(src) else {
        return Vec::new();
    };
    let mut exact = None;
    let mut containing: Vec<PathSeg> = Vec::new();
    let mut path = Vec::new();
    search_table(doc.get_ref(), span, &mut path, &mut exact, &mut containing);
    exact.unwrap_or(containing)
}

fn search_table(
    t: &DeTable<'_>,
    span: &Range<usize>,
    path: &mut Vec<PathSeg>,
    exact: &mut Option<Vec<PathSeg>>,
    containing: &mut Vec<PathSeg>,
) {
    for (k, v) in t.iter() {
        path.push(PathSeg::Key(k.get_ref().to_string()));
        search_value(v, span, path, exact, containing);
        path.pop();
    }
}

fn search_value(
    v: &Spanned<DeValue<'_>>,
    span: &Range<usize>,
    path: &mut Vec<PathSeg>,
    exact: &mut Option<Vec<PathSeg>>,
    containing: &mut Vec<PathSeg>,
) {
    if exact.is_some() {
        return;
    }
    let vs = v.span();
    if vs == *span && !vs.is_empty() {
        *exact = Some(path.clone());
        return;
    }
    if vs.start <= span.start && span.end <= vs.end && path.len() > containing.len() {
        *containing = path.clone();
    }
    match v.get_ref() {
        DeValue::Table(t) => search_table(t, span, path, exact, containing),
        DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                path.push(PathSeg::Index(i));
                search_value(item, span, path, exact, containing);
                path.pop();
            }
        }
        _ => {}
    }
}

/// The byte span of the value (or key) at the error's path, falling back to the nearest
/// ancestor that exists in the file.
pub(in crate::config) fn span_of(src: &str, e: &SemErr) -> Range<usize> {
    let Ok(doc) = DeTable::parse(src) else {
        return 0..0;
    };
    let mut best: Range<usize> = 0..0;
    let mut table: Option<&DeTable<'_>> = Some(doc.get_ref());
    let mut value: Option<&Spanned<DeValue<'_>>> = None;
    for (n, seg) in e.path.iter().enumerate() {
        let last = n + 1 == e.path.len();
        match seg {
            PathSeg::Key(k) => {
                let container = table.or_else(|| value.and_then(|v| v.get_ref().as_table()));
                let Some((key, v)) = container.and_then(|t| t.get_key_value(k.as_str())) else {
                    break;
                };
                best = if last && e.at_key {
                    key.span()
                } else if last {
                    v.span()
                } else {
                    key.span()
                };
                value = Some(v);
                table = None;
            }
            PathSeg::Index(i) => {
                let Some(item) = value
                    .and_then(|v| v.get_ref().as_array())
                    .and_then(|a| a.get(*i))
                else {
                    break;
                };
                // An array-of-tables item's span is its body; a value item's span is the value.
                if !item.span().is_empty() {
                    best = item.span();
                }
                value = Some(item);
            }
        }
    }
    best
}
