//! Every condition key: a job it holds for and one it fails for.

use super::*;
use crate::policy::Needs;

/// A change to the test job.
type Edit = fn(&mut Job);

/// One condition, a job it holds for and one it fails for (each the test job changed by an
/// edit), and the instants of the two checks.
struct Case {
    cond: &'static str,
    holds: Edit,
    fails: Edit,
    at: (&'static str, &'static str),
}

const SAME: Edit = |_| {};
const BOTH_BY_DAY: (&str, &str) = (DAY, DAY);

fn set_tag(j: &mut Job, k: &str, v: &str) {
    j.tags
        .get_or_insert_with(Tags::new)
        .insert(k.into(), v.into());
}

fn progress(total_tasks: i64, tasks_succeeded: i64) -> Option<Progress> {
    Some(Progress {
        total_tasks,
        tasks_succeeded,
        tasks_failed: 0,
        elapsed_active_seconds: None,
    })
}

fn role(j: &mut Job, arn: &str) {
    j.details = Some(JobDetails {
        role_arn: Some(arn.into()),
    });
}

const CASES: &[Case] = &[
    Case {
        cond: r#"tags = { urgent = "true" }"#,
        holds: |j| set_tag(j, "urgent", "true"),
        fails: |j| set_tag(j, "urgent", "false"),
        at: BOTH_BY_DAY,
    },
    Case {
        cond: r#"tags_in = { team = ["a", "b"] }"#,
        holds: |j| set_tag(j, "team", "b"),
        fails: |j| set_tag(j, "team", "c"),
        at: BOTH_BY_DAY,
    },
    Case {
        cond: r#"tags_glob = { project = "etl-*" }"#,
        holds: |j| set_tag(j, "project", "etl-x"),
        fails: |j| set_tag(j, "project", "x-etl"),
        at: BOTH_BY_DAY,
    },
    Case {
        cond: r#"tags_exist = ["owner"]"#,
        holds: |j| set_tag(j, "owner", ""),
        fails: SAME,
        at: BOTH_BY_DAY,
    },
    Case {
        cond: r#"tags_absent = ["hold"]"#,
        holds: SAME,
        fails: |j| set_tag(j, "hold", "yes"),
        at: BOTH_BY_DAY,
    },
    Case {
        cond: r#"description_glob = "nightly-*""#,
        holds: SAME,
        fails: |j| j.description = Some("weekly".into()),
        at: BOTH_BY_DAY,
    },
    Case {
        cond: r#"description_regex = '^nightly-\d+$'"#,
        holds: |j| j.description = Some("nightly-42".into()),
        fails: SAME,
        at: BOTH_BY_DAY,
    },
    Case {
        cond: r#"operation = ["S3PutObjectCopy"]"#,
        holds: SAME,
        fails: |j| j.operation = Some("LambdaInvoke".into()),
        at: BOTH_BY_DAY,
    },
    Case {
        cond: r#"status = ["Active"]"#,
        holds: SAME,
        fails: |j| j.status = JobStatus::Suspended,
        at: BOTH_BY_DAY,
    },
    Case {
        cond: r#"older_than = "6h""#,
        holds: SAME,
        fails: |j| j.creation_time = Some(utc("2026-12-01T12:00:00Z")),
        at: BOTH_BY_DAY,
    },
    Case {
        cond: r#"newer_than = "6h""#,
        holds: |j| j.creation_time = Some(utc("2026-12-01T12:00:00Z")),
        fails: SAME,
        at: BOTH_BY_DAY,
    },
    Case {
        cond: r#"percent_done = { min = 20, max = 25 }"#,
        holds: SAME,
        fails: |j| j.progress = None,
        at: BOTH_BY_DAY,
    },
    Case {
        cond: r#"percent_done = { min = 30 }"#,
        holds: |j| j.progress = progress(10, 3),
        fails: SAME,
        at: BOTH_BY_DAY,
    },
    Case {
        cond: r#"total_tasks = { min = 500 }"#,
        holds: SAME,
        fails: |j| {
            j.progress = Some(Progress {
                total_tasks: 499,
                ..Progress::default()
            })
        },
        at: BOTH_BY_DAY,
    },
    Case {
        cond: r#"priority = { max = 100 }"#,
        holds: SAME,
        fails: |j| j.priority = 101,
        at: BOTH_BY_DAY,
    },
    Case {
        cond: r#"priority = { min = 100, max = 200 }"#,
        holds: SAME,
        fails: |j| j.priority = 99,
        at: BOTH_BY_DAY,
    },
    Case {
        cond: r#"account = ["123456789012"]"#,
        holds: SAME,
        fails: |j| j.account_id = "210987654321".into(),
        at: BOTH_BY_DAY,
    },
    Case {
        cond: r#"region = ["us-east-1"]"#,
        holds: SAME,
        fails: |j| j.region = "eu-west-1".into(),
        at: BOTH_BY_DAY,
    },
    Case {
        cond: r#"in_window = "biz""#,
        holds: SAME,
        fails: SAME,
        at: (DAY, NIGHT),
    },
    Case {
        cond: r#"outside_window = "biz""#,
        holds: SAME,
        fails: SAME,
        at: (NIGHT, DAY),
    },
    Case {
        cond: r#"role_arn = "arn:aws:iam::*:role/batch-*""#,
        holds: |j| role(j, "arn:aws:iam::123456789012:role/batch-ops"),
        fails: |j| role(j, "arn:aws:iam::123456789012:role/admin"),
        at: BOTH_BY_DAY,
    },
    Case {
        cond: r#"any = [{ status = ["Suspended"] }, { tags = { urgent = "true" } }]"#,
        holds: |j| set_tag(j, "urgent", "true"),
        fails: SAME,
        at: BOTH_BY_DAY,
    },
    Case {
        cond: r#"all = [{ status = ["Active"] }, { tags = { urgent = "true" } }]"#,
        holds: |j| set_tag(j, "urgent", "true"),
        fails: |j| {
            j.status = JobStatus::Paused;
            set_tag(j, "urgent", "true");
        },
        at: BOTH_BY_DAY,
    },
    Case {
        cond: r#"not = { tags = { urgent = "true" } }"#,
        holds: SAME,
        fails: |j| set_tag(j, "urgent", "true"),
        at: BOTH_BY_DAY,
    },
];

#[test]
fn every_condition_holds_and_fails() {
    for case in CASES {
        let (cond, (at_yes, at_no)) = (case.cond, case.at);
        let (yes, no) = (with(case.holds), with(case.fails));
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
