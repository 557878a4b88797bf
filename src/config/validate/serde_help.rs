//! Help for serde / TOML syntax errors: "did you mean" for misspelt keys and values, and for a
//! value of the wrong type, the key path and an example.

use super::super::error::{did_you_mean, display_path, PathSeg};

/// Help for a serde / TOML syntax error message; "did you mean" for misspelt keys and values,
/// and for a value of the wrong type, the key path and an example. `path` is where the error
/// is (empty when unknown).
pub(in crate::config) fn explain_serde_error(
    message: &str,
    path: &[PathSeg],
) -> (String, Option<String>) {
    let message = message.trim().to_string();
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        if let Some(explained) = explain_type_error(rest, path) {
            return explained;
        }
    }
    let ticked = |s: &str| -> Vec<String> {
        s.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    for kind in ["unknown field", "unknown variant"] {
        if let Some(rest) = message.strip_prefix(kind) {
            let words = ticked(rest);
            let (Some(bad), expected) = (words.first(), words.get(1..).unwrap_or_default()) else {
                break;
            };
            let what = if kind == "unknown field" {
                "keys"
            } else {
                "values"
            };
            let allowed = if expected.is_empty() {
                format!("no {what} are allowed here")
            } else {
                format!("allowed {what}: {}", expected.join(", "))
            };
            let help = match did_you_mean(bad, expected.iter().map(String::as_str)) {
                Some(h) => format!("did you mean `{h}`? {allowed}"),
                None => allowed,
            };
            let message = message
                .split(", expected")
                .next()
                .unwrap_or(&message)
                .to_string();
            return (message, Some(help));
        }
    }
    let help = if message.starts_with("invalid type") && message.contains("expected a string") {
        Some("write this value as a quoted string".to_string())
    } else if let Some(rest) = message.strip_prefix("missing field") {
        ticked(rest)
            .first()
            .map(|f| format!("add `{f} = ...` to this table"))
    } else {
        None
    };
    (message, help)
}

/// `found, expected what` (serde's "invalid type" text) as "`path` must be ..., e.g. ...".
fn explain_type_error(rest: &str, path: &[PathSeg]) -> Option<(String, Option<String>)> {
    let (found, expected) = rest.rsplit_once(", expected ")?;
    let key = path.iter().rev().find_map(|s| match s {
        PathSeg::Key(k) => Some(k.as_str()),
        PathSeg::Index(_) => None,
    })?;
    let shown = display_path(path);
    // The value as written, without serde's quoting: `string "900"`, "integer `7`".
    let literal = found
        .split_once(' ')
        .map(|(_, v)| v.trim_matches(|c| c == '`' || c == '"'))
        .unwrap_or("");
    let expected = expected.trim();
    let example_for = |value: String| {
        if matches!(path.last(), Some(PathSeg::Index(_))) {
            format!("`{key} = [{value}]`")
        } else {
            format!("`{key} = {value}`")
        }
    };
    let (what, example) = match expected {
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" | "an integer" => {
            let n = literal
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map_or_else(|| "1".to_string(), |v| format!("{}", v.trunc() as i64));
            ("an integer", example_for(n))
        }
        "f32" | "f64" | "a float" => {
            let n = literal
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map_or_else(|| "0.5".to_string(), |v| format!("{v}"));
            ("a number", example_for(n))
        }
        "a string" | "string" | "a borrowed string" => {
            let v = if literal.is_empty() || found == "sequence" || found == "map" {
                "...".to_string()
            } else {
                literal.to_string()
            };
            ("a quoted string", example_for(format!("{v:?}")))
        }
        "a boolean" | "bool" => ("true or false", example_for("true".to_string())),
        "a sequence" | "a list" => {
            if found == "map" && path.len() == 1 {
                return Some((
                    format!("`{shown}` must be an array of tables"),
                    Some(format!(
                        "use `[[{key}]]` (an array of tables): each `[[{key}]]` header starts one entry; `[{key}.NAME]` makes a table instead"
                    )),
                ));
            }
            let item = match found.split_once(' ') {
                Some(("string", _)) => format!("{literal:?}"),
                Some(_) => literal.to_string(),
                None => "...".to_string(),
            };
            ("an array", format!("`{key} = [{item}]`"))
        }
        e if e.starts_with("struct ") || e == "a map" || e == "a table" => (
            "a table",
            format!("`{key} = {{ ... }}` or a `[...{key}]` section"),
        ),
        _ => return None,
    };
    Some((
        format!("`{shown}` must be {what}, e.g. {example}"),
        Some(format!("found {found}")),
    ))
}
