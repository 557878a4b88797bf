//! Policy behaviour: every condition and action, precedence, needs, windows, explain.

use chrono::{DateTime, Utc};

use super::*;
use crate::model::{JobDetails, Progress, Tags};

/// 2026-12-01 is a Tuesday: 15:00Z is 10:00 in New York (business hours), 03:00Z is 22:00 Monday.
pub(crate) const DAY: &str = "2026-12-01T15:00:00Z";
pub(crate) const NIGHT: &str = "2026-12-01T03:00:00Z";

pub(crate) fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("valid instant")
        .with_timezone(&Utc)
}

pub(crate) const HEADER: &str = r#"
[[targets]]
account_id = "123456789012"
region = "us-east-1"

[windows.biz]
timezone = "America/New_York"
days = ["Mon-Fri"]
ranges = ["09:00-17:00"]
exclude_dates = ["2026-12-25"]
"#;

pub(crate) fn policy(rules: &str) -> Policy {
    let src = format!("{HEADER}\n{rules}");
    let cfg = crate::config::parse(&src, "test.toml")
        .unwrap_or_else(|e| panic!("config should load:\n{e}"));
    Policy::clone(&cfg.policy)
}

pub(crate) fn job() -> Job {
    Job {
        account_id: "123456789012".into(),
        region: "us-east-1".into(),
        id: "j".into(),
        description: Some("nightly-copy".into()),
        operation: Some("S3PutObjectCopy".into()),
        priority: 100,
        status: JobStatus::Active,
        creation_time: Some(utc("2026-12-01T00:00:00Z")),
        termination_date: None,
        progress: Some(Progress {
            total_tasks: 1000,
            tasks_succeeded: 200,
            tasks_failed: 50,
            elapsed_active_seconds: None,
        }),
        tags: Some(Tags::new()),
        details: Some(JobDetails { role_arn: None }),
    }
}

fn tag(mut j: Job, k: &str, v: &str) -> Job {
    j.tags
        .get_or_insert_with(Tags::new)
        .insert(k.into(), v.into());
    j
}

fn with(f: impl FnOnce(&mut Job)) -> Job {
    let mut j = job();
    f(&mut j);
    j
}

/// Whether a rule with condition `cond` matches `job` at `at`.
fn matches(cond: &str, job: &Job, at: &str) -> bool {
    let p = policy(&format!(
        "[[rules]]\nname = \"r\"\nwhen = {{ {cond} }}\naction = {{ set = 999 }}\n"
    ));
    p.evaluate(job, job.priority, utc(at)).desired == 999
}

#[test]
fn every_condition_holds_and_fails() {
    let urgent = tag(job(), "urgent", "true");
    let cases: Vec<(&str, Job, Job, &str, &str)> = vec![
        // (condition, job it holds for, job it fails for, instant for the first, for the second)
        (
            r#"tags = { urgent = "true" }"#,
            urgent.clone(),
            tag(job(), "urgent", "false"),
            DAY,
            DAY,
        ),
        (
            r#"tags_in = { team = ["a", "b"] }"#,
            tag(job(), "team", "b"),
            tag(job(), "team", "c"),
            DAY,
            DAY,
        ),
        (
            r#"tags_glob = { project = "etl-*" }"#,
            tag(job(), "project", "etl-x"),
            tag(job(), "project", "x-etl"),
            DAY,
            DAY,
        ),
        (
            r#"tags_exist = ["owner"]"#,
            tag(job(), "owner", ""),
            job(),
            DAY,
            DAY,
        ),
        (
            r#"tags_absent = ["hold"]"#,
            job(),
            tag(job(), "hold", "yes"),
            DAY,
            DAY,
        ),
        (
            r#"description_glob = "nightly-*""#,
            job(),
            with(|j| j.description = Some("weekly".into())),
            DAY,
            DAY,
        ),
        (
            r#"description_regex = '^nightly-\d+$'"#,
            with(|j| j.description = Some("nightly-42".into())),
            job(),
            DAY,
            DAY,
        ),
        (
            r#"operation = ["S3PutObjectCopy"]"#,
            job(),
            with(|j| j.operation = Some("LambdaInvoke".into())),
            DAY,
            DAY,
        ),
        (
            r#"status = ["Active"]"#,
            job(),
            with(|j| j.status = JobStatus::Suspended),
            DAY,
            DAY,
        ),
        (
            r#"older_than = "6h""#,
            job(),
            with(|j| j.creation_time = Some(utc("2026-12-01T12:00:00Z"))),
            DAY,
            DAY,
        ),
        (
            r#"newer_than = "6h""#,
            with(|j| j.creation_time = Some(utc("2026-12-01T12:00:00Z"))),
            job(),
            DAY,
            DAY,
        ),
        (
            r#"percent_done = { min = 20, max = 25 }"#,
            job(),
            with(|j| j.progress = None),
            DAY,
            DAY,
        ),
        (
            r#"percent_done = { min = 30 }"#,
            with(|j| {
                j.progress = Some(Progress {
                    total_tasks: 10,
                    tasks_succeeded: 3,
                    tasks_failed: 0,
                    elapsed_active_seconds: None,
                })
            }),
            job(),
            DAY,
            DAY,
        ),
        (
            r#"total_tasks = { min = 500 }"#,
            job(),
            with(|j| {
                j.progress = Some(Progress {
                    total_tasks: 499,
                    ..Progress::default()
                })
            }),
            DAY,
            DAY,
        ),
        (
            r#"priority = { max = 100 }"#,
            job(),
            with(|j| j.priority = 101),
            DAY,
            DAY,
        ),
        (
            r#"priority = { min = 100, max = 200 }"#,
            job(),
            with(|j| j.priority = 99),
            DAY,
            DAY,
        ),
        (
            r#"account = ["123456789012"]"#,
            job(),
            with(|j| j.account_id = "210987654321".into()),
            DAY,
            DAY,
        ),
        (
            r#"region = ["us-east-1"]"#,
            job(),
            with(|j| j.region = "eu-west-1".into()),
            DAY,
            DAY,
        ),
        (r#"in_window = "biz""#, job(), job(), DAY, NIGHT),
        (r#"outside_window = "biz""#, job(), job(), NIGHT, DAY),
        (
            r#"role_arn = "arn:aws:iam::*:role/batch-*""#,
            with(|j| {
                j.details = Some(JobDetails {
                    role_arn: Some("arn:aws:iam::123456789012:role/batch-ops".into()),
                })
            }),
            with(|j| {
                j.details = Some(JobDetails {
                    role_arn: Some("arn:aws:iam::123456789012:role/admin".into()),
                })
            }),
            DAY,
            DAY,
        ),
        (
            r#"any = [{ status = ["Suspended"] }, { tags = { urgent = "true" } }]"#,
            urgent.clone(),
            job(),
            DAY,
            DAY,
        ),
        (
            r#"all = [{ status = ["Active"] }, { tags = { urgent = "true" } }]"#,
            urgent.clone(),
            tag(with(|j| j.status = JobStatus::Paused), "urgent", "true"),
            DAY,
            DAY,
        ),
        (
            r#"not = { tags = { urgent = "true" } }"#,
            job(),
            urgent.clone(),
            DAY,
            DAY,
        ),
    ];
    for (cond, yes, no, at_yes, at_no) in cases {
        assert!(matches(cond, &yes, at_yes), "`{cond}` should hold");
        assert!(!matches(cond, &no, at_no), "`{cond}` should not hold");
    }
}

#[test]
fn all_conditions_of_a_rule_must_hold() {
    let cond = r#"tags = { urgent = "true" }, in_window = "biz""#;
    assert!(matches(cond, &tag(job(), "urgent", "true"), DAY));
    assert!(!matches(cond, &tag(job(), "urgent", "true"), NIGHT));
    assert!(!matches(cond, &job(), DAY));
}

fn desired(rules: &str, job: &Job, baseline: Priority, at: &str) -> Evaluation {
    policy(rules).evaluate(job, baseline, utc(at))
}

fn one_rule(action: &str) -> String {
    format!("[[rules]]\nname = \"r\"\naction = {{ {action} }}\n")
}

#[test]
fn every_action() {
    let j = with(|j| j.priority = 900); // observed differs from the baseline: actions use the baseline
    let cases: Vec<(&str, Priority, Priority)> = vec![
        ("set = 900", 100, 900),
        ("set = 0", 100, 0),
        ("set = 2147483647", 100, MAX_PRIORITY_T),
        ("raise = 150", 100, 250),
        ("lower = 30", 100, 70),
        ("lower = 150", 100, 0),
        ("raise = 2147483647", 100, MAX_PRIORITY_T),
        ("at_least = 500", 100, 500),
        ("at_least = 500", 700, 700),
        ("at_most = 50", 100, 50),
        ("at_most = 50", 10, 10),
        ("raise = 600, at_most = 650", 100, 650),
        ("lower = 90, at_least = 20", 100, 20),
        ("baseline = true", 123, 123),
        // Created at 00:00, now 15:00: 15 whole hours.
        (
            r#"age_boost = { every = "1h", by = 10, max = 1000 }"#,
            100,
            250,
        ),
        (
            r#"age_boost = { every = "1h", by = 10, max = 100 }"#,
            100,
            200,
        ),
        (
            r#"age_boost = { every = "4h", by = 10, max = 100 }"#,
            100,
            130,
        ),
        (
            r#"age_boost = { every = "1h", by = 2147483647, max = 2147483647 }"#,
            100,
            MAX_PRIORITY_T,
        ),
    ];
    for (action, baseline, want) in cases {
        let e = desired(&one_rule(action), &j, baseline, DAY);
        assert_eq!(e.desired, want, "`{action}` from baseline {baseline}");
        let is_clamp = action.starts_with("at_");
        let credited = !is_clamp || want != baseline;
        assert_eq!(e.rule.as_deref(), credited.then_some("r"), "`{action}`");
    }
    // Age boost with an unknown creation time boosts nothing.
    let unknown = with(|j| j.creation_time = None);
    let e = desired(
        &one_rule(r#"age_boost = { every = "1h", by = 10, max = 100 }"#),
        &unknown,
        100,
        DAY,
    );
    assert_eq!(e.desired, 100);
}

const MAX_PRIORITY_T: Priority = crate::model::MAX_PRIORITY;

#[test]
fn no_match_means_baseline() {
    let rules = r#"
[[rules]]
name = "urgent"
when = { tags = { urgent = "true" } }
action = { set = 900 }
"#;
    let e = desired(rules, &with(|j| j.priority = 900), 100, DAY);
    assert_eq!((e.desired, e.rule), (100, None));
    assert!(e.reason.contains("no rule matched"), "{}", e.reason);
}

#[test]
fn first_matching_deciding_rule_wins() {
    let rules = r#"
[[rules]]
name = "urgent"
when = { tags = { urgent = "true" } }
action = { set = 500 }

[[rules]]
name = "everyone"
action = { set = 700 }

[[rules]]
name = "never-reached"
when = { tags = { urgent = "true" } }
action = { set = 1 }
"#;
    let e = desired(rules, &tag(job(), "urgent", "true"), 100, DAY);
    assert_eq!((e.desired, e.rule.as_deref()), (500, Some("urgent")));
    let e = desired(rules, &job(), 100, DAY);
    assert_eq!((e.desired, e.rule.as_deref()), (700, Some("everyone")));
}

#[test]
fn baseline_action_stops_later_deciding_rules() {
    let rules = r#"
[[rules]]
name = "hold"
when = { tags_exist = ["hold"] }
action = { baseline = true }

[[rules]]
name = "raise"
action = { raise = 10 }
"#;
    assert_eq!(
        desired(rules, &tag(job(), "hold", "x"), 100, DAY).desired,
        100
    );
    assert_eq!(desired(rules, &job(), 100, DAY).desired, 110);
}

#[test]
fn clamp_rules_apply_after_the_deciding_rule_wherever_they_are() {
    let rules = r#"
[[rules]]
name = "cap"
action = { at_most = 600 }

[[rules]]
name = "urgent"
when = { tags = { urgent = "true" } }
action = { set = 900 }

[[rules]]
name = "floor"
when = { status = ["Active"] }
action = { at_least = 800 }
"#;
    // 900 -> cap 600 -> floor 800: clamps in file order.
    let e = desired(rules, &tag(job(), "urgent", "true"), 100, DAY);
    assert_eq!((e.desired, e.rule.as_deref()), (800, Some("floor")));
    assert!(
        e.reason.contains("cap") && e.reason.contains("floor"),
        "{}",
        e.reason
    );
    // No deciding rule: clamps apply to the baseline.
    let e = desired(rules, &job(), 100, DAY);
    assert_eq!((e.desired, e.rule.as_deref()), (800, Some("floor")));
    let e = desired(rules, &with(|j| j.status = JobStatus::Suspended), 700, DAY);
    assert_eq!((e.desired, e.rule.as_deref()), (600, Some("cap")));
    // A clamp that changes nothing does not take the credit.
    let e = desired(rules, &with(|j| j.status = JobStatus::Suspended), 100, DAY);
    assert_eq!((e.desired, e.rule), (100, None));
}

const URGENT_BIZ: &str = r#"
[[rules]]
name = "urgent-business-hours"
when = { tags = { urgent = "true" }, in_window = "biz" }
action = { set = 900 }
"#;

#[test]
fn business_hours_raise_undoes_itself() {
    let p = policy(URGENT_BIZ);
    let j = tag(job(), "urgent", "true");
    assert_eq!(p.evaluate(&j, 100, utc(DAY)).desired, 900);
    assert_eq!(p.evaluate(&j, 100, utc(NIGHT)).desired, 100);
    assert_eq!(
        p.evaluate(&j, 100, utc("2026-12-01T21:59:59Z")).desired,
        900,
        "16:59:59 EST"
    );
    assert_eq!(
        p.evaluate(&j, 100, utc("2026-12-01T22:00:00Z")).desired,
        100,
        "17:00 EST"
    );
    assert_eq!(
        p.evaluate(&j, 100, utc("2026-12-25T15:00:00Z")).desired,
        100,
        "holiday"
    );
    assert_eq!(
        p.evaluate(&j, 100, utc("2026-12-05T15:00:00Z")).desired,
        100,
        "Saturday"
    );
}

#[test]
fn needs_tags_only_when_they_can_change_the_outcome() {
    let p = policy(
        r#"
[[rules]]
name = "suspended-urgent"
when = { status = ["Suspended"], tags = { urgent = "true" } }
action = { set = 900 }
"#,
    );
    assert!(p.uses_tags() && !p.uses_details());
    let untagged = with(|j| j.tags = None);
    let now = utc(DAY);
    assert_eq!(
        p.needs(&untagged, now),
        Needs::default(),
        "decided by status alone"
    );
    let suspended = with(|j| {
        j.tags = None;
        j.status = JobStatus::Suspended;
    });
    assert_eq!(
        p.needs(&suspended, now),
        Needs {
            tags: true,
            details: false
        }
    );
    let tagged = with(|j| j.status = JobStatus::Suspended);
    assert_eq!(p.needs(&tagged, now), Needs::default(), "tags already read");
    let done = with(|j| {
        j.tags = None;
        j.status = JobStatus::Complete;
    });
    assert_eq!(p.needs(&done, now), Needs::default(), "unmanaged status");
}

#[test]
fn needs_stop_at_the_deciding_rule_but_include_clamps() {
    let p = policy(
        r#"
[[rules]]
name = "all"
action = { set = 500 }

[[rules]]
name = "urgent"
when = { tags = { urgent = "true" } }
action = { set = 900 }
"#,
    );
    let bare = with(|j| {
        j.tags = None;
        j.details = None;
    });
    assert_eq!(p.needs(&bare, utc(DAY)), Needs::default());
    let p = policy(
        r#"
[[rules]]
name = "all"
action = { set = 500 }

[[rules]]
name = "batch-roles-capped"
when = { role_arn = "*:role/batch-*" }
action = { at_most = 100 }
"#,
    );
    assert!(p.uses_details() && !p.uses_tags());
    assert_eq!(
        p.needs(&bare, utc(DAY)),
        Needs {
            tags: false,
            details: true
        }
    );
    // Kleene logic: `not` of unknown is unknown; `any` with a true branch is known.
    let p = policy(
        r#"
[[rules]]
name = "r"
when = { any = [{ status = ["Active"] }, { tags = { urgent = "true" } }] }
action = { set = 500 }
"#,
    );
    assert_eq!(p.needs(&bare, utc(DAY)), Needs::default());
    let paused = with(|j| {
        j.tags = None;
        j.status = JobStatus::Paused;
    });
    assert_eq!(
        p.needs(&paused, utc(DAY)),
        Needs {
            tags: true,
            details: false
        }
    );
}

#[test]
fn needs_for_covers_the_ignore_tag() {
    let p = policy(
        "[[rules]]\nname = \"r\"\nwhen = { status = [\"Active\"] }\naction = { set = 500 }\n",
    );
    let untagged = with(|j| j.tags = None);
    let now = utc(DAY);
    assert_eq!(p.needs(&untagged, now), Needs::default());
    assert!(
        p.needs_for(&untagged, 100, now).tags,
        "a change is coming: check the ignore tag"
    );
    let at_target = with(|j| {
        j.tags = None;
        j.priority = 500;
    });
    assert!(
        !p.needs_for(&at_target, 100, now).tags,
        "no change: no need"
    );
}

#[test]
fn unfetched_inputs_count_as_empty_in_evaluate() {
    let p = policy(
        r#"[[rules]]
name = "no-hold"
when = { tags_absent = ["hold"], not = { role_arn = "*admin*" } }
action = { set = 500 }
"#,
    );
    let bare = with(|j| {
        j.tags = None;
        j.details = None;
    });
    assert_eq!(p.evaluate(&bare, 100, utc(DAY)).desired, 500);
}

#[test]
fn next_window_change_only_for_referenced_windows() {
    let p = policy(URGENT_BIZ);
    assert_eq!(
        p.next_window_change(utc(NIGHT)),
        Some(utc("2026-12-01T14:00:00Z"))
    );
    assert_eq!(
        p.next_window_change(utc("2026-12-01T14:00:00Z")),
        Some(utc("2026-12-01T22:00:00Z"))
    );
    let unreferenced = policy("[[rules]]\nname = \"r\"\naction = { set = 1 }\n");
    assert_eq!(unreferenced.next_window_change(utc(NIGHT)), None);
}

#[test]
fn explain_lists_every_rule_and_condition() {
    let p = policy(
        r#"
[[rules]]
name = "urgent-business-hours"
when = { tags = { urgent = "true" }, in_window = "biz" }
action = { set = 900 }

[[rules]]
name = "everyone"
action = { raise = 1 }

[[rules]]
name = "cap"
when = { any = [{ region = ["us-east-1"] }, { status = ["New"] }] }
action = { at_most = 800 }
"#,
    );
    let j = tag(job(), "urgent", "true");
    let x = p.explain(&j, 100, utc(DAY));
    assert_eq!(x.desired, 800);
    assert_eq!(x.rules.len(), 3);
    assert_eq!(x.rules[0].outcome, RuleOutcome::Decided { value: 900 });
    assert_eq!(
        x.rules[1].outcome,
        RuleOutcome::NotReached {
            decided_by: "urgent-business-hours".into()
        }
    );
    assert_eq!(
        x.rules[2].outcome,
        RuleOutcome::Clamped { from: 900, to: 800 }
    );
    assert!(x.rules[0].conditions.iter().all(|c| c.result));
    assert_eq!(x.rules[2].conditions[0].children.len(), 2);
    assert!(
        x.rules[2].conditions[0].children[0].result && !x.rules[2].conditions[0].children[1].result
    );
    let text = x.render_text();
    for needle in [
        "[x] tag urgent = \"true\"",
        "[x] in_window biz",
        "not reached",
        "clamped 900 -> 800",
        "desired priority: 800",
        "biz (America/New_York) open",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    let night = p.explain(&j, 100, utc(NIGHT));
    assert_eq!(night.rules[0].outcome, RuleOutcome::NoMatch);
    assert!(night.render_text().contains("[ ] in_window biz"));
    let json = serde_json::to_value(&x).expect("serializable");
    assert_eq!(json["rules"][0]["outcome"]["outcome"], "decided");
}

#[test]
fn priority_condition_reads_the_baseline_so_rules_cannot_unmatch_themselves() {
    let p = policy(
        "[[rules]]\nname = \"low\"\nwhen = { priority = { max = 500 } }\naction = { set = 900 }\n",
    );
    // s3prio already raised this job from 100 to 900: the rule still holds, no oscillation.
    let raised = with(|j| j.priority = 900);
    assert_eq!(p.evaluate(&raised, 100, utc(DAY)).desired, 900);
    assert_eq!(
        p.evaluate(&raised, 600, utc(DAY)).desired,
        600,
        "baseline 600 is outside the range"
    );
    // Without the baseline (`needs`), the condition is unknown but reads no tags.
    assert_eq!(
        p.needs(&with(|j| j.tags = None), utc(DAY)),
        Needs::default()
    );
}
