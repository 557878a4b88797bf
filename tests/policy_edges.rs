//! The documented edge cases of the policy language (docs/policy.md, "Edge cases"): what a rule
//! does with a job that has no tasks yet, a creation time after the evaluation instant, no
//! creation time at all, and a glob that must match a literal `*`.

use chrono::{DateTime, Utc};
use s3prio::config;
use s3prio::model::{Job, JobStatus, Progress, Tags};
use s3prio::policy::Policy;

const TARGET: &str = "[[targets]]\naccount_id = \"123456789012\"\nregion = \"us-east-1\"\n";
const NOW: &str = "2026-12-01T15:00:00Z";

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("instant")
        .with_timezone(&Utc)
}

fn policy(rules: &str) -> Policy {
    let cfg = config::parse(&format!("{TARGET}\n{rules}"), "edge.toml")
        .unwrap_or_else(|e| panic!("config should load:\n{e}"));
    Policy::clone(&cfg.policy)
}

fn job(f: impl FnOnce(&mut Job)) -> Job {
    let mut j = Job {
        account_id: "123456789012".into(),
        region: "us-east-1".into(),
        id: "edge-job".into(),
        description: Some("report*".into()),
        operation: Some("S3PutObjectCopy".into()),
        priority: 100,
        status: JobStatus::Ready,
        creation_time: Some(utc("2026-12-01T00:00:00Z")),
        termination_date: None,
        progress: Some(Progress {
            total_tasks: 1000,
            tasks_succeeded: 100,
            tasks_failed: 0,
            elapsed_active_seconds: None,
        }),
        tags: Some(Tags::new()),
        details: None,
    };
    f(&mut j);
    j
}

/// Whether a rule with this condition sets the job to 999.
fn matches(cond: &str, j: &Job) -> bool {
    let p = policy(&format!(
        "[[rules]]\nname = \"r\"\nwhen = {{ {cond} }}\naction = {{ set = 999 }}\n"
    ));
    p.evaluate(j, j.priority, utc(NOW)).desired == 999
}

#[test]
fn a_job_with_zero_tasks_is_zero_percent_done() {
    let empty = job(|j| {
        j.progress = Some(Progress {
            total_tasks: 0,
            tasks_succeeded: 0,
            tasks_failed: 0,
            elapsed_active_seconds: None,
        })
    });
    assert!(matches("percent_done = { max = 50 }", &empty));
    assert!(matches("percent_done = { max = 0 }", &empty));
    assert!(!matches("percent_done = { min = 1 }", &empty));
    assert!(matches("total_tasks = { max = 0 }", &empty));
    assert!(!matches("total_tasks = { min = 1 }", &empty));
    // No progress at all matches neither kind of condition.
    let unknown = job(|j| j.progress = None);
    assert!(!matches("percent_done = { max = 50 }", &unknown));
    assert!(!matches("total_tasks = { max = 0 }", &unknown));
}

#[test]
fn a_job_created_after_the_evaluation_instant_has_age_zero() {
    // Planned `--at` an instant before the job existed.
    let future = job(|j| j.creation_time = Some(utc("2026-12-02T00:00:00Z")));
    assert!(!matches("older_than = \"1s\"", &future));
    assert!(matches("older_than = \"0s\"", &future));
    assert!(matches("newer_than = \"1m\"", &future));
    let p = policy(
        "[[rules]]\nname = \"age\"\naction = { age_boost = { every = \"1h\", by = 10, max = 200 } }\n",
    );
    assert_eq!(p.evaluate(&future, 100, utc(NOW)).desired, 100);
    // The same job planned after its creation ages normally: 15 h -> +150.
    let past = job(|_| {});
    assert_eq!(p.evaluate(&past, 100, utc(NOW)).desired, 250);
}

#[test]
fn age_boost_without_a_creation_time_adds_nothing() {
    let unknown = job(|j| j.creation_time = None);
    let p = policy(
        "[[rules]]\nname = \"age\"\naction = { age_boost = { every = \"1h\", by = 10, max = 200 } }\n",
    );
    let e = p.evaluate(&unknown, 100, utc(NOW));
    assert_eq!(e.desired, 100);
    assert_eq!(e.rule.as_deref(), Some("age"), "the rule still decides");
    assert!(!matches("older_than = \"0s\"", &unknown));
    assert!(!matches("newer_than = \"100d\"", &unknown));
}

#[test]
fn a_glob_matches_a_literal_star_when_escaped() {
    let star = job(|j| j.description = Some("report*".into()));
    let other = job(|j| j.description = Some("report-2026".into()));
    // TOML literal string: the glob is `report\*`.
    assert!(matches(r"description_glob = 'report\*'", &star));
    assert!(!matches(r"description_glob = 'report\*'", &other));
    // TOML basic string: `\\` is one backslash.
    assert!(matches(r#"description_glob = "report\\*""#, &star));
    // Unescaped, `*` is a wildcard and matches both.
    assert!(matches("description_glob = \"report*\"", &other));
    // Tag values too.
    let tagged = job(|j| {
        j.tags
            .get_or_insert_with(Tags::new)
            .insert("pattern".into(), "a?b".into());
    });
    assert!(matches(r"tags_glob = { pattern = 'a\?b' }", &tagged));
    let literal_q = job(|j| {
        j.tags
            .get_or_insert_with(Tags::new)
            .insert("pattern".into(), "axb".into());
    });
    assert!(!matches(r"tags_glob = { pattern = 'a\?b' }", &literal_q));
}
