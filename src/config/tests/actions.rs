//! Every action, and the precedence of deciding and clamp rules.

use super::*;
use crate::model::Priority;
use crate::policy::Evaluation;

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
