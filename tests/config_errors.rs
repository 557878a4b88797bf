//! One test per validation error and per warning: the message names the right line (and says
//! what is allowed).

use chrono::Datelike;
use s3prio::config::{self, ConfigError};

const TARGET: &str = "[[targets]]\naccount_id = \"123456789012\"\nregion = \"us-east-1\"\n";

/// Parses `src`, expects an error, returns (line, full message).
fn error(src: &str) -> (usize, String) {
    let e: ConfigError = config::parse(src, "bad.toml").expect_err("config should be rejected");
    let line = e.line().expect("located error");
    let text = e.to_string();
    assert!(text.starts_with(&format!("bad.toml:{line}:")), "{text}");
    assert!(text.contains('^'), "caret in:\n{text}");
    (line, text)
}

/// The 1-based line of the first line of `src` containing `needle`.
fn line_of(src: &str, needle: &str) -> usize {
    src.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .expect("needle in source")
}

fn assert_error(src: &str, needle: &str, message_part: &str) {
    let (line, text) = error(src);
    assert_eq!(line, line_of(src, needle), "wrong line in:\n{text}");
    assert!(
        text.contains(message_part),
        "expected {message_part:?} in:\n{text}"
    );
}

#[test]
fn toml_syntax_error() {
    // An unterminated string: the parser's own complaint, at the end of that line.
    let src = format!("{TARGET}[reconcile]\ninterval = \"30s\n");
    let (line, text) = error(&src);
    assert_eq!(line, line_of(&src, "interval"), "wrong line in:\n{text}");
    let col = "interval = \"30s".len() + 1;
    assert!(
        text.starts_with(&format!(
            "bad.toml:{line}:{col}: error: invalid basic string"
        )),
        "expected the TOML syntax error at column {col}:\n{text}"
    );
    assert!(
        text.contains("expected `\"`"),
        "says what is missing:\n{text}"
    );
}

#[test]
fn unknown_key_suggests_the_right_one() {
    let src = format!("[reconcile]\nintervall = \"30s\"\n{TARGET}");
    assert_error(&src, "intervall", "did you mean `interval`?");
}

#[test]
fn unknown_key_in_a_rule_condition() {
    let src = format!("{TARGET}[[rules]]\nname = \"r\"\nwhen = {{ tag = {{ a = \"b\" }} }}\naction = {{ set = 1 }}\n");
    assert_error(&src, "when", "did you mean `tags`?");
}

#[test]
fn wrong_value_type() {
    let src = "[[targets]]\naccount_id = 123456789012\nregion = \"us-east-1\"\n";
    assert_error(src, "account_id", "quoted string");
}

#[test]
fn unknown_enum_value_suggests() {
    let src = format!("{TARGET}[reconcile]\non_manual_change = \"overide\"\n");
    assert_error(&src, "on_manual_change", "did you mean `override`?");
}

#[test]
fn unknown_status() {
    let src = format!("{TARGET}[reconcile]\nmanaged_statuses = [\"Active\", \"Suspnded\"]\n");
    assert_error(&src, "managed_statuses", "did you mean `Suspended`?");
}

#[test]
fn bad_time_zone() {
    let src = format!(
        "{TARGET}\n[windows.biz]\ntimezone = \"America/NewYork\"\nranges = [\"09:00-17:00\"]\n"
    );
    assert_error(&src, "timezone", "did you mean `America/New_York`?");
}

#[test]
fn bad_cron() {
    let src = format!("[reconcile]\ncron = \"0 61 * * * *\"\n{TARGET}");
    assert_error(&src, "cron", "invalid cron expression");
}

#[test]
fn five_field_cron() {
    let src = format!("[reconcile]\ncron = \"*/5 * * * *\"\n{TARGET}");
    assert_error(&src, "cron", "expected 6");
}

#[test]
fn interval_and_cron_together() {
    let src = format!("[reconcile]\ninterval = \"30s\"\ncron = \"0 * * * * *\"\n{TARGET}");
    assert_error(&src, "cron =", "both set");
}

#[test]
fn bad_duration() {
    let src = format!("[reconcile]\ninterval = \"30 seconds\"\n{TARGET}");
    assert_error(&src, "interval", "invalid duration");
}

#[test]
fn overlapping_ranges() {
    let src = format!("{TARGET}\n[windows.biz]\ntimezone = \"UTC\"\nranges = [\n  \"09:00-12:00\",\n  \"11:00-13:00\",\n]\n");
    assert_error(&src, "11:00-13:00", "overlaps");
}

#[test]
fn overlapping_ranges_across_midnight() {
    let src = format!("{TARGET}\n[windows.night]\ntimezone = \"UTC\"\nranges = [\"22:00-06:00\", \"05:00-07:00\"]\n");
    assert_error(&src, "ranges", "overlaps");
}

#[test]
fn empty_range() {
    let src = format!("{TARGET}\n[windows.w]\ntimezone = \"UTC\"\nranges = [\"09:00-09:00\"]\n");
    assert_error(&src, "ranges", "empty");
}

#[test]
fn no_ranges() {
    let src = format!("{TARGET}\n[windows.w]\ntimezone = \"UTC\"\nranges = []\n");
    assert_error(&src, "ranges", "never open");
}

#[test]
fn bad_day() {
    let src = format!("{TARGET}\n[windows.w]\ntimezone = \"UTC\"\ndays = [\"Mon\", \"Fryday\"]\nranges = [\"09:00-17:00\"]\n");
    assert_error(&src, "days", "did you mean `Friday`?");
}

#[test]
fn bad_excluded_date() {
    let src = format!("{TARGET}\n[windows.w]\ntimezone = \"UTC\"\nranges = [\"09:00-17:00\"]\nexclude_dates = [\"2026-02-30\"]\n");
    assert_error(&src, "exclude_dates", "not a date");
}

#[test]
fn priority_out_of_range() {
    let src = format!("{TARGET}\n[[rules]]\nname = \"r\"\naction = {{ set = 2147483648 }}\n");
    assert_error(&src, "set =", "out of range");
    let src = format!("{TARGET}\n[[rules]]\nname = \"r\"\n\n[rules.action]\nat_least = -1\n");
    assert_error(&src, "at_least", "0 to 2147483647");
}

#[test]
fn unknown_window_in_rule() {
    let src = format!(
        "{TARGET}\n[windows.business-hours]\ntimezone = \"UTC\"\nranges = [\"09:00-17:00\"]\n\n[[rules]]\nname = \"a\"\naction = {{ set = 1 }}\n\n[[rules]]\nname = \"b\"\nwhen = {{ in_window = \"busines-hours\" }}\naction = {{ set = 2 }}\n"
    );
    assert_error(&src, "busines-hours", "did you mean `business-hours`?");
}

#[test]
fn duplicate_rule_names() {
    let src = format!("{TARGET}\n[[rules]]\nname = \"same\"\naction = {{ set = 1 }}\n\n[[rules]]\nname = \"other\"\naction = {{ set = 2 }}\n\n[[rules]]\nname = \"same\" # again\naction = {{ set = 3 }}\n");
    assert_error(&src, "# again", "duplicate rule name `same`");
}

#[test]
fn two_values_in_one_action() {
    let src = format!("{TARGET}\n[[rules]]\nname = \"r\"\n[rules.action]\nset = 1\nraise = 2\n");
    assert_error(&src, "raise", "one value");
}

#[test]
fn empty_action() {
    let src = format!("{TARGET}\n[[rules]]\nname = \"r\"\naction = {{}}\n");
    assert_error(&src, "action", "empty action");
}

#[test]
fn relative_action_without_a_baseline_store() {
    let src = format!(
        "[baseline]\nstore = []\n{TARGET}\n[[rules]]\nname = \"r\"\naction = {{ raise = 10 }}\n"
    );
    assert_error(&src, "raise", "enable a store");
}

#[test]
fn file_store_without_state_file() {
    let src = format!("[baseline]\nstore = [\"file\"]\n{TARGET}");
    assert_error(&src, "store", "state_file");
}

#[test]
fn bad_account_id() {
    let src = "[[targets]]\naccount_id = \"12345\"\nregion = \"us-east-1\"\n";
    assert_error(src, "account_id", "12 digits");
}

#[test]
fn duplicate_targets() {
    let src = format!(
        "{TARGET}\n[[targets]]\naccount_id = \"123456789012\"\nregion = \"us-east-1\" # dup\n"
    );
    assert_error(&src, "# dup", "duplicate target");
}

#[test]
fn no_targets() {
    let (line, text) = error("[reconcile]\ninterval = \"30s\"\n");
    assert_eq!(line, 1, "{text}");
    assert!(text.contains("no targets"), "{text}");
}

#[test]
fn bad_rate_limit() {
    let src = format!("{TARGET}[targets.rate_limit]\nrequests_per_second = 0\n");
    assert_error(&src, "requests_per_second", "positive rate");
}

#[test]
fn bad_listen_address() {
    let src = format!("[http]\nlisten = \"localhost\"\n{TARGET}");
    assert_error(&src, "listen", "IP:PORT");
}

#[test]
fn bad_regex() {
    let src = format!("{TARGET}\n[[rules]]\nname = \"r\"\nwhen = {{ description_regex = \"([a-z\" }}\naction = {{ set = 1 }}\n");
    assert_error(&src, "description_regex", "invalid regular expression");
}

#[test]
fn unknown_operation() {
    let src = format!("{TARGET}\n[[rules]]\nname = \"r\"\n\n[rules.when]\noperation = [\n  \"S3PutObjectCpy\",\n]\n\n[rules.action]\nset = 1\n");
    assert_error(&src, "S3PutObjectCpy", "did you mean `S3PutObjectCopy`?");
}

#[test]
fn bounds_without_min_or_max() {
    let src = format!("{TARGET}\n[[rules]]\nname = \"r\"\nwhen = {{ percent_done = {{}} }}\naction = {{ set = 1 }}\n");
    assert_error(&src, "percent_done", "min");
}

#[test]
fn crossed_clamps() {
    let src =
        format!("{TARGET}\n[[rules]]\nname = \"r\"\naction = {{ at_least = 10, at_most = 5 }}\n");
    assert_error(&src, "at_least", "greater than");
}

#[test]
fn unreadable_file_is_io() {
    let e =
        config::load(std::path::Path::new("/nonexistent/s3prio.toml")).expect_err("missing file");
    assert!(e.is_io());
    assert!(e.to_string().contains("/nonexistent/s3prio.toml"));
}

#[test]
fn example_config_loads() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/s3prio.example.toml");
    let cfg = config::load(std::path::Path::new(path)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.targets.len(), 2);
    assert_eq!(cfg.targets[1].name, "123456789012/eu-central-1");
    assert!(cfg.policy.uses_tags() && cfg.policy.uses_details());
    let schema = config::json_schema();
    assert!(schema["properties"]["rules"].is_object(), "{schema}");
}

// ---------------------------------------------------------------------------------------------
// Clearer messages.

#[test]
fn wrong_type_names_the_key_path_and_gives_an_example() {
    let src = format!("{TARGET}\n[[rules]]\nname = \"r\"\naction = {{ set = \"900\" }}\n");
    let (line, text) = error(&src);
    assert_eq!(line, line_of(&src, "set ="), "{text}");
    assert!(
        text.contains("`rules[0].action.set` must be an integer, e.g. `set = 900`"),
        "{text}"
    );
    assert!(!text.contains("expected i64"), "{text}");
}

#[test]
fn wrong_type_in_a_list_and_a_boolean() {
    let src = format!("{TARGET}[reconcile]\ndry_run = \"yes\"\n");
    assert_error(
        &src,
        "dry_run",
        "`reconcile.dry_run` must be true or false, e.g. `dry_run = true`",
    );
    let src = format!("{TARGET}\n[windows.w]\ntimezone = \"UTC\"\nranges = \"09:00-17:00\"\n");
    assert_error(
        &src,
        "ranges",
        "`windows.w.ranges` must be an array, e.g. `ranges = [\"09:00-17:00\"]`",
    );
}

#[test]
fn a_table_where_an_array_of_tables_belongs() {
    let src = format!("{TARGET}\n[rules.urgent]\nname = \"urgent\"\naction = {{ set = 900 }}\n");
    let (line, text) = error(&src);
    assert!(
        text.contains("use `[[rules]]` (an array of tables)"),
        "{text}"
    );
    assert!(
        line == line_of(&src, "[rules.urgent]") || line == line_of(&src, "name = \"urgent\""),
        "line {line}:\n{text}"
    );
}

#[test]
fn weekdays_suggests_a_span_not_a_day() {
    let src = format!(
        "{TARGET}\n[windows.w]\ntimezone = \"UTC\"\ndays = [\"Weekdays\"]\nranges = [\"09:00-17:00\"]\n"
    );
    let (_, text) = error(&src);
    assert_error(&src, "Weekdays", "did you mean \"Mon-Fri\"?");
    assert!(!text.contains("`Wed`"), "{text}");
    let src = format!(
        "{TARGET}\n[windows.w]\ntimezone = \"UTC\"\ndays = [\"weekend\"]\nranges = [\"09:00-17:00\"]\n"
    );
    assert_error(&src, "weekend", "did you mean \"Sat-Sun\"?");
}

#[test]
fn an_error_about_the_whole_file_has_no_empty_path() {
    let (_, text) = error("[reconcile]\ninterval = \"30s\"\n");
    assert!(text.contains("no targets"), "{text}");
    assert!(!text.contains("(at ``)"), "{text}");
}

#[test]
fn empty_all_is_always_true() {
    let src = format!(
        "{TARGET}\n[[rules]]\nname = \"r\"\nwhen = {{ all = [] }}\naction = {{ set = 1 }}\n"
    );
    let (_, text) = error(&src);
    assert_error(&src, "all = []", "an empty `all` is always true; remove it");
    assert!(!text.contains("can never hold"), "{text}");
    let src = format!(
        "{TARGET}\n[[rules]]\nname = \"r\"\nwhen = {{ any = [] }}\naction = {{ set = 1 }}\n"
    );
    assert_error(&src, "any = []", "an empty `any` can never hold");
}

#[test]
fn overlap_check_honours_days() {
    // Friday night never meets Friday morning when Saturday is not active.
    let ok = format!("{TARGET}\n[windows.night]\ntimezone = \"UTC\"\ndays = [\"Fri\"]\nranges = [\"22:00-06:00\", \"05:00-07:00\"]\n");
    config::parse(&ok, "ok.toml").unwrap_or_else(|e| panic!("{e}"));
    let bad = format!("{TARGET}\n[windows.night]\ntimezone = \"UTC\"\ndays = [\"Fri\", \"Sat\"]\nranges = [\"22:00-06:00\", \"05:00-07:00\"]\n");
    assert_error(&bad, "ranges", "overlaps");
}

#[test]
fn glob_with_a_lone_backslash() {
    let src = format!("{TARGET}\n[[rules]]\nname = \"r\"\nwhen = {{ description_glob = 'half\\' }}\naction = {{ set = 1 }}\n");
    assert_error(&src, "description_glob", "lone `\\`");
}

// ---------------------------------------------------------------------------------------------
// Warnings: valid, loaded, but reported with their line.

const REFERENCE: &str = "2026-01-01T00:00:00Z";

fn warnings(src: &str) -> Vec<String> {
    let at = chrono::DateTime::parse_from_rfc3339(REFERENCE)
        .expect("instant")
        .with_timezone(&chrono::Utc);
    let (_, warnings) = config::parse_with_warnings(src, "warn.toml", at)
        .unwrap_or_else(|e| panic!("config should load:\n{e}"));
    warnings.iter().map(|w| w.to_string()).collect()
}

/// Exactly one warning, on the line of `needle`, containing `text`.
fn assert_warning(src: &str, needle: &str, text: &str) {
    let w = warnings(src);
    assert_eq!(w.len(), 1, "{w:#?}");
    let prefix = format!("warn.toml:{}: warning: ", line_of(src, needle));
    assert!(w[0].starts_with(&prefix), "expected {prefix:?}: {}", w[0]);
    assert!(w[0].contains(text), "expected {text:?} in: {}", w[0]);
    assert_eq!(w[0].lines().count(), 1, "one line: {}", w[0]);
}

#[test]
fn deciding_rule_after_one_without_conditions() {
    let src = format!(
        "{TARGET}\n[[rules]]\nname = \"everyone\"\naction = {{ set = 10 }}\n\n[[rules]]\nname = \"urgent\"\nwhen = {{ tags = {{ urgent = \"true\" }} }}\naction = {{ set = 900 }}\n"
    );
    assert_warning(
        &src,
        "name = \"urgent\"",
        "rule `urgent` can never decide: the earlier deciding rule `everyone` has no conditions",
    );
}

#[test]
fn deciding_rule_whose_conditions_imply_an_earlier_ones() {
    let src = format!(
        "{TARGET}\n[[rules]]\nname = \"copies\"\nwhen = {{ operation = [\"S3PutObjectCopy\", \"S3ReplicateObject\"] }}\naction = {{ raise = 10 }}\n\n[[rules]]\nname = \"urgent-copies\"\nwhen = {{ operation = [\"S3PutObjectCopy\"], tags = {{ urgent = \"true\" }} }}\naction = {{ set = 900 }}\n\n[[rules]]\nname = \"restores\"\nwhen = {{ operation = [\"S3InitiateRestoreObject\"] }}\naction = {{ set = 5 }}\n"
    );
    assert_warning(
        &src,
        "name = \"urgent-copies\"",
        "rule `urgent-copies` can never decide: every job it matches also matches the earlier deciding rule `copies`",
    );
}

#[test]
fn window_that_never_opens_in_a_year() {
    // Sundays only, and every Sunday of the coming year is a holiday.
    let mut sundays = Vec::new();
    let mut d = chrono::NaiveDate::from_ymd_opt(2026, 1, 4).expect("date");
    while d.year() < 2027 || d.month() == 1 && d.day() < 10 {
        sundays.push(format!("\"{d}\""));
        d += chrono::Duration::days(7);
    }
    let src = format!(
        "{TARGET}\n[windows.sundays]\ntimezone = \"Europe/Berlin\"\ndays = [\"Sun\"]\nranges = [\"10:00-12:00\"]\nexclude_dates = [{}]\n",
        sundays.join(", ")
    );
    assert_warning(
        &src,
        "[windows.sundays]",
        "window `sundays` never opens in the year from 2026-01-01: every active day is an excluded date",
    );
}

#[test]
fn range_inside_the_skipped_hour() {
    let src = format!(
        "{TARGET}\n[windows.maintenance]\ntimezone = \"America/New_York\"\ndays = [\"Sun\"]\nranges = [\n  \"00:00-01:00\",\n  \"02:00-02:45\",\n]\n"
    );
    assert_warning(
        &src,
        "\"02:00-02:45\"",
        "range `02:00-02:45` does not open on 2026-03-08 (Sun)",
    );
}

#[test]
fn set_value_its_own_bound_always_changes() {
    let src =
        format!("{TARGET}\n[[rules]]\nname = \"r\"\n[rules.action]\nset = 900\nat_most = 800\n");
    assert_warning(
        &src,
        "set = 900",
        "rule `r`: `set = 900` is always changed to 800 by its own `at_most`",
    );
}

#[test]
fn clamp_rules_that_contradict_each_other() {
    let src = format!(
        "{TARGET}\n[[rules]]\nname = \"floor\"\nwhen = {{ tags = {{ tier = \"gold\" }} }}\naction = {{ at_least = 500 }}\n\n[[rules]]\nname = \"eu-cap\"\nwhen = {{ region = [\"eu-central-1\"] }}\naction = {{ at_most = 100 }}\n\n[[rules]]\nname = \"global-cap\"\naction = {{ at_most = 300 }}\n"
    );
    // `eu-cap` and `floor` may never meet (neither's conditions imply the other's): no warning.
    // `global-cap` applies to every job `floor` raises.
    assert_warning(
        &src,
        "at_most = 300",
        "clamp rule `global-cap` (`at_most = 300`) contradicts `at_least = 500` of rule `floor`",
    );
}

#[test]
fn the_example_config_has_no_warnings() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/s3prio.example.toml");
    let src = std::fs::read_to_string(path).expect("example");
    assert_eq!(warnings(&src), Vec::<String>::new());
}
