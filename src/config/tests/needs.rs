//! What a policy needs fetched, when its windows next change, and `explain`.

use super::*;
use crate::policy::{Needs, RuleOutcome};

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
