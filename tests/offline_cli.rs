//! The offline commands, run as the built binary.

use std::process::{Command, Output};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/s3prio.example.toml");
const JOBS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/jobs.example.json");

fn s3prio(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_s3prio"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn check_accepts_the_example() {
    let out = s3prio(&["check", "--config", EXAMPLE]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout(&out);
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.contains("2 targets") && line.contains("4 windows") && line.contains("7 rules"),
        "{line}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "the example has no warnings"
    );
}

#[test]
fn check_rejects_a_broken_config_with_its_location() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("broken.toml");
    std::fs::write(&path, "[[targets]]\naccount_id = \"123456789012\"\nregion = \"us-east-1\"\n\n[windows.biz]\ntimezone = \"Europe/Berln\"\nranges = [\"09:00-17:00\"]\n").expect("write");
    let out = s3prio(&["check", "--config", path.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken.toml:6:12: error: unknown time zone"),
        "{err}"
    );
    assert!(err.contains("did you mean `Europe/Berlin`?"), "{err}");
}

/// (job id, from, to) of each change in a JSON plan.
fn changes(at: &str) -> Vec<(String, i64, i64)> {
    let out = s3prio(&[
        "plan", "--config", EXAMPLE, "--jobs", JOBS, "--at", at, "--format", "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON plan");
    plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["job_id"].as_str().unwrap_or_default().to_string(),
                c["from"].as_i64().unwrap_or(-1),
                c["to"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

fn change_of<'a>(changes: &'a [(String, i64, i64)], id: &str) -> Option<&'a (String, i64, i64)> {
    changes.iter().find(|c| c.0 == id)
}

#[test]
fn plan_raises_urgent_jobs_in_business_hours() {
    // 10:00 in New York on a Tuesday.
    let day = changes("2026-12-01T15:00:00Z");
    assert_eq!(
        change_of(&day, "urgent-new").map(|c| (c.1, c.2)),
        Some((100, 900))
    );
    assert_eq!(
        change_of(&day, "urgent-eu").map(|c| (c.1, c.2)),
        Some((50, 800)),
        "capped by eu-cap"
    );
    assert_eq!(change_of(&day, "urgent-raised"), None, "already at 900");
    assert_eq!(change_of(&day, "ignored-urgent"), None);
    assert_eq!(change_of(&day, "manually-set"), None, "hands-off");
    assert_eq!(change_of(&day, "done-copy"), None, "unmanaged status");
}

#[test]
fn plan_returns_urgent_jobs_to_baseline_after_hours() {
    // 22:00 in New York on the Monday before.
    let night = changes("2026-12-01T03:00:00Z");
    assert_eq!(
        change_of(&night, "urgent-raised").map(|c| (c.1, c.2)),
        Some((900, 250))
    );
    for id in ["urgent-new", "urgent-eu"] {
        assert_eq!(change_of(&night, id), None, "{id} stays at its baseline");
    }
}

#[test]
fn plan_table_output() {
    let out = s3prio(&[
        "plan",
        "--config",
        EXAMPLE,
        "--jobs",
        JOBS,
        "--at",
        "2026-12-01T15:00:00Z",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.contains("urgent-business-hours") && text.contains("hands-off"),
        "{text}"
    );
}

#[test]
fn explain_shows_every_rule() {
    let out = s3prio(&[
        "explain",
        "--config",
        EXAMPLE,
        "--jobs",
        JOBS,
        "--at",
        "2026-12-01T15:00:00Z",
        "etl-nightly",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    for needle in [
        "urgent-business-hours",
        "data-team-copies",
        "decided 350",
        "[x] role_arn matches",
        "desired priority: 350",
        "eu-cap",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    let missing = s3prio(&[
        "explain",
        "--config",
        EXAMPLE,
        "--jobs",
        JOBS,
        "no-such-job",
    ]);
    assert_eq!(missing.status.code(), Some(1));
}

#[test]
fn schema_is_json_schema() {
    let out = s3prio(&["schema"]);
    assert_eq!(out.status.code(), Some(0));
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(
        schema["$schema"]
            .as_str()
            .is_some_and(|s| s.contains("json-schema.org")),
        "{schema}"
    );
    assert!(schema["properties"]["windows"].is_object());
}

#[test]
fn plan_table_says_when_a_window_next_changes() {
    // 10:00 in New York on Tuesday 2026-12-01: business hours close at 17:00 EST (22:00Z), but
    // Berlin's overnight window opens first, at 22:00 CET (21:00Z).
    let out = s3prio(&[
        "plan",
        "--config",
        EXAMPLE,
        "--jobs",
        JOBS,
        "--at",
        "2026-12-01T15:00:00Z",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.contains(
            "next window change: overnight opens at 2026-12-01T21:00:00Z (Tue 2026-12-01 22:00 CET Europe/Berlin)"
        ),
        "{text}"
    );
}

/// `check --calendar` output of the example config, by window: (UTC instant, what) per line.
fn calendar(from: &str, days: u32) -> std::collections::BTreeMap<String, Vec<(String, String)>> {
    let days = days.to_string();
    let out = s3prio(&[
        "check",
        "--config",
        EXAMPLE,
        "--calendar",
        "--from",
        from,
        "--days",
        &days,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    let mut windows = std::collections::BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("window ") {
            let name = rest.split(' ').next().unwrap_or_default().to_string();
            windows.insert(name.clone(), Vec::new());
            current = Some(name);
        } else if let (Some(name), Some(entry)) = (&current, line.strip_prefix("  ")) {
            // "Fri 2026-03-06 09:00 EST   2026-03-06T14:00:00Z  opens (09:00-17:00)"
            let utc = entry
                .split_whitespace()
                .find(|w| w.ends_with('Z') && w.contains('T'))
                .unwrap_or_default()
                .to_string();
            let what = entry
                .split_once(&format!("{utc}  "))
                .map(|(_, w)| w.to_string())
                .unwrap_or_else(|| entry.trim().to_string());
            windows.get_mut(name).expect("section").push((utc, what));
        }
    }
    windows
}

fn entries(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

const BIZ: &str = "opens (09:00-17:00)";
const BIZ_CLOSE: &str = "closes (09:00-17:00)";
const NIGHT: &str = "opens (22:00-06:00)";
const NIGHT_CLOSE: &str = "closes (22:00-06:00)";
const LH: &str = "opens (01:45-02:15)";
const LH_CLOSE: &str = "closes (01:45-02:15)";

/// The example config over the DST weekends of 2026 and 2027, against instants computed by
/// hand from the zones' rules: US (second Sunday of March, first of November, 02:00 local), EU
/// (last Sunday of March and October, 01:00 UTC), Lord Howe (first Sunday of April and October,
/// 02:00 local, 30 minutes).
#[test]
fn calendar_over_the_dst_weekends_of_2026_and_2027() {
    // New York, spring 2026: Friday EST (UTC-5), Monday EDT (UTC-4).
    let c = calendar("2026-03-06T00:00:00Z", 4);
    assert_eq!(
        c["business-hours"],
        entries(&[
            ("2026-03-06T14:00:00Z", BIZ),
            ("2026-03-06T22:00:00Z", BIZ_CLOSE),
            (
                "2026-03-08T07:00:00Z",
                "DST: clocks go forward 1h, 02:00 EST -> 03:00 EDT"
            ),
            ("2026-03-09T13:00:00Z", BIZ),
            ("2026-03-09T21:00:00Z", BIZ_CLOSE),
        ])
    );
    // New York, fall 2026 and both of 2027.
    for (from, fri, dst, mon, dst_text) in [
        (
            "2026-10-30T00:00:00Z",
            ("2026-10-30T13:00:00Z", "2026-10-30T21:00:00Z"),
            "2026-11-01T06:00:00Z",
            ("2026-11-02T14:00:00Z", "2026-11-02T22:00:00Z"),
            "DST: clocks go back 1h, 02:00 EDT -> 01:00 EST",
        ),
        (
            "2027-03-12T00:00:00Z",
            ("2027-03-12T14:00:00Z", "2027-03-12T22:00:00Z"),
            "2027-03-14T07:00:00Z",
            ("2027-03-15T13:00:00Z", "2027-03-15T21:00:00Z"),
            "DST: clocks go forward 1h, 02:00 EST -> 03:00 EDT",
        ),
        (
            "2027-11-05T00:00:00Z",
            ("2027-11-05T13:00:00Z", "2027-11-05T21:00:00Z"),
            "2027-11-07T06:00:00Z",
            ("2027-11-08T14:00:00Z", "2027-11-08T22:00:00Z"),
            "DST: clocks go back 1h, 02:00 EDT -> 01:00 EST",
        ),
    ] {
        assert_eq!(
            calendar(from, 4)["business-hours"],
            entries(&[
                (fri.0, BIZ),
                (fri.1, BIZ_CLOSE),
                (dst, dst_text),
                (mon.0, BIZ),
                (mon.1, BIZ_CLOSE),
            ]),
            "New York from {from}"
        );
    }

    // Berlin, Mon-Fri 22:00-06:00: Thursday's night is open at the start; Friday's night ends
    // Saturday 06:00; Monday's night is the first after the shift.
    for (from, nights, dst, dst_text) in [
        (
            "2026-03-27T00:00:00Z",
            [
                ("2026-03-26T21:00:00Z", "2026-03-27T05:00:00Z"),
                ("2026-03-27T21:00:00Z", "2026-03-28T05:00:00Z"),
                ("2026-03-30T20:00:00Z", "2026-03-31T04:00:00Z"),
            ],
            "2026-03-29T01:00:00Z",
            "DST: clocks go forward 1h, 02:00 CET -> 03:00 CEST",
        ),
        (
            "2026-10-23T00:00:00Z",
            [
                ("2026-10-22T20:00:00Z", "2026-10-23T04:00:00Z"),
                ("2026-10-23T20:00:00Z", "2026-10-24T04:00:00Z"),
                ("2026-10-26T21:00:00Z", "2026-10-27T05:00:00Z"),
            ],
            "2026-10-25T01:00:00Z",
            "DST: clocks go back 1h, 03:00 CEST -> 02:00 CET",
        ),
        (
            "2027-03-26T00:00:00Z",
            [
                ("2027-03-25T21:00:00Z", "2027-03-26T05:00:00Z"),
                ("2027-03-26T21:00:00Z", "2027-03-27T05:00:00Z"),
                ("2027-03-29T20:00:00Z", "2027-03-30T04:00:00Z"),
            ],
            "2027-03-28T01:00:00Z",
            "DST: clocks go forward 1h, 02:00 CET -> 03:00 CEST",
        ),
        (
            "2027-10-29T00:00:00Z",
            [
                ("2027-10-28T20:00:00Z", "2027-10-29T04:00:00Z"),
                ("2027-10-29T20:00:00Z", "2027-10-30T04:00:00Z"),
                ("2027-11-01T21:00:00Z", "2027-11-02T05:00:00Z"),
            ],
            "2027-10-31T01:00:00Z",
            "DST: clocks go back 1h, 03:00 CEST -> 02:00 CET",
        ),
    ] {
        assert_eq!(
            calendar(from, 4)["overnight"],
            entries(&[
                (nights[0].0, NIGHT),
                (nights[0].1, NIGHT_CLOSE),
                (nights[1].0, NIGHT),
                (nights[1].1, NIGHT_CLOSE),
                (dst, dst_text),
                (nights[2].0, NIGHT),
                (nights[2].1, NIGHT_CLOSE),
            ]),
            "Berlin from {from}"
        );
    }

    // Lord Howe, every day 01:45-02:15. Fall back (+11 -> +10:30): Sunday's window opens at the
    // first 01:45 and stays open an hour. Spring forward (+10:30 -> +11): 02:15 never comes;
    // Sunday's window closes at the jump.
    for (from, days, dst, dst_text, sunday_close_note) in [
        (
            "2026-04-03T12:00:00Z",
            [
                ("2026-04-03T14:45:00Z", "2026-04-03T15:15:00Z"),
                ("2026-04-04T14:45:00Z", "2026-04-04T15:45:00Z"),
                ("2026-04-05T15:15:00Z", "2026-04-05T15:45:00Z"),
            ],
            "2026-04-04T15:00:00Z",
            "DST: clocks go back 30m, 02:00 +11 -> 01:30 +1030",
            None,
        ),
        (
            "2026-10-02T12:00:00Z",
            [
                ("2026-10-02T15:15:00Z", "2026-10-02T15:45:00Z"),
                ("2026-10-03T15:15:00Z", "2026-10-03T15:30:00Z"),
                ("2026-10-04T14:45:00Z", "2026-10-04T15:15:00Z"),
            ],
            "2026-10-03T15:30:00Z",
            "DST: clocks go forward 30m, 02:00 +1030 -> 02:30 +11",
            Some(" [DST: 02:15 is skipped tonight; this is the jump past it]"),
        ),
        (
            "2027-04-02T12:00:00Z",
            [
                ("2027-04-02T14:45:00Z", "2027-04-02T15:15:00Z"),
                ("2027-04-03T14:45:00Z", "2027-04-03T15:45:00Z"),
                ("2027-04-04T15:15:00Z", "2027-04-04T15:45:00Z"),
            ],
            "2027-04-03T15:00:00Z",
            "DST: clocks go back 30m, 02:00 +11 -> 01:30 +1030",
            None,
        ),
        (
            "2027-10-01T12:00:00Z",
            [
                ("2027-10-01T15:15:00Z", "2027-10-01T15:45:00Z"),
                ("2027-10-02T15:15:00Z", "2027-10-02T15:30:00Z"),
                ("2027-10-03T14:45:00Z", "2027-10-03T15:15:00Z"),
            ],
            "2027-10-02T15:30:00Z",
            "DST: clocks go forward 30m, 02:00 +1030 -> 02:30 +11",
            Some(" [DST: 02:15 is skipped tonight; this is the jump past it]"),
        ),
    ] {
        let got = &calendar(from, 3)["lord-howe-backup"];
        let fall = sunday_close_note.is_none();
        let sunday_open = if fall {
            format!("{LH} [DST: 01:45 comes twice tonight; this is the first]")
        } else {
            LH.to_string()
        };
        let sunday_close = format!("{LH_CLOSE}{}", sunday_close_note.unwrap_or(""));
        let mut expected = vec![
            (days[0].0.to_string(), LH.to_string()),
            (days[0].1.to_string(), LH_CLOSE.to_string()),
            (days[1].0.to_string(), sunday_open),
        ];
        // Fall back: the shift happens while open; spring forward: the window closes at the
        // instant of the shift (closings are listed before the shift at the same instant).
        if fall {
            expected.push((dst.to_string(), dst_text.to_string()));
            expected.push((days[1].1.to_string(), sunday_close));
        } else {
            expected.push((days[1].1.to_string(), sunday_close));
            expected.push((dst.to_string(), dst_text.to_string()));
        }
        expected.push((days[2].0.to_string(), LH.to_string()));
        expected.push((days[2].1.to_string(), LH_CLOSE.to_string()));
        assert_eq!(got, &expected, "Lord Howe from {from}");
    }
}

#[test]
fn calendar_marks_excluded_dates() {
    // Thanksgiving 2026 (Thursday 26 November) is excluded from business hours.
    let c = calendar("2026-11-25T00:00:00Z", 3);
    assert_eq!(
        c["business-hours"],
        entries(&[
            ("2026-11-25T14:00:00Z", BIZ),
            ("2026-11-25T22:00:00Z", BIZ_CLOSE),
            (
                "2026-11-26T05:00:00Z",
                "excluded date: 09:00-17:00 does not open"
            ),
            ("2026-11-27T14:00:00Z", BIZ),
            ("2026-11-27T22:00:00Z", BIZ_CLOSE),
        ])
    );
}

#[test]
fn warnings_go_to_stderr_and_strict_fails_on_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("shadowed.toml");
    std::fs::write(
        &path,
        "[[targets]]\naccount_id = \"123456789012\"\nregion = \"us-east-1\"\n\n[[rules]]\nname = \"all\"\naction = { set = 1 }\n\n[[rules]]\nname = \"never\"\nwhen = { status = [\"Active\"] }\naction = { set = 2 }\n",
    )
    .expect("write");
    let p = path.to_str().expect("utf-8 path");
    let out = s3prio(&["check", "--config", p]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!("{p}:10: warning: rule `never` can never decide")),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(stdout(&out).contains(": OK: "));
    let strict = s3prio(&["check", "--config", p, "--strict"]);
    assert_eq!(strict.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&strict.stderr).contains("warning: rule `never`"));
    // Strict with no warnings passes.
    assert_eq!(
        s3prio(&["check", "--config", EXAMPLE, "--strict"])
            .status
            .code(),
        Some(0)
    );
}
