//! One test per validation error: the message names the right line (and says what is allowed).

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
    let src = format!("{TARGET}[reconcile]\ninterval = \"30s\n");
    assert_error(&src, "interval", "error:");
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
