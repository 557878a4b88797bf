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
        line.contains("2 targets") && line.contains("3 windows") && line.contains("7 rules"),
        "{line}"
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
