//! `explain`: every rule in order with each condition's result, like Slurm's `sprio`.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::condition::{Condition, EvalContext, Truth};
use super::{Evaluation, Policy};
use crate::model::{Job, JobStatus, Priority};

#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub account_id: String,
    pub region: String,
    pub job_id: String,
    pub status: JobStatus,
    pub observed: Priority,
    pub baseline: Priority,
    /// The job's status is one the policy manages.
    pub managed: bool,
    /// The job carries the ignore tag.
    pub ignored: bool,
    pub at: DateTime<Utc>,
    pub windows: Vec<WindowState>,
    pub rules: Vec<RuleTrace>,
    pub desired: Priority,
    pub rule: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct WindowState {
    pub name: String,
    pub timezone: String,
    pub open: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleTrace {
    pub name: String,
    /// `decide` or `clamp`.
    pub kind: &'static str,
    pub matched: bool,
    pub conditions: Vec<ConditionTrace>,
    pub action: String,
    pub outcome: RuleOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RuleOutcome {
    /// Conditions do not hold.
    NoMatch,
    /// The first matching deciding rule: it computed this value.
    Decided { value: Priority },
    /// A deciding rule after the one that decided: not consulted.
    NotReached { decided_by: String },
    /// A matching clamp rule, applied to the value.
    Clamped { from: Priority, to: Priority },
}

#[derive(Debug, Clone, Serialize)]
pub struct ConditionTrace {
    pub condition: String,
    pub result: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<ConditionTrace>,
}

fn trace(c: &Condition, job: &Job, cx: &EvalContext<'_>) -> ConditionTrace {
    ConditionTrace {
        condition: c.describe(),
        result: c.eval(job, cx) == Truth::True,
        children: c.children().iter().map(|k| trace(k, job, cx)).collect(),
    }
}

pub(super) fn build(
    policy: &Policy,
    job: &Job,
    baseline: Priority,
    cx: &EvalContext<'_>,
    decider: &Option<usize>,
    clamps: &[(usize, Priority, Priority)],
    evaluation: Evaluation,
) -> Explanation {
    let decided_by = decider
        .and_then(|i| policy.rules.get(i))
        .map(|r| r.name.clone());
    let rules = policy
        .rules
        .iter()
        .enumerate()
        .map(|(i, rule)| {
            let conditions: Vec<ConditionTrace> =
                rule.when.iter().map(|c| trace(c, job, cx)).collect();
            let matched = conditions.iter().all(|c| c.result);
            let outcome = if let Some(&(_, from, to)) = clamps.iter().find(|(k, _, _)| *k == i) {
                RuleOutcome::Clamped { from, to }
            } else if *decider == Some(i) {
                RuleOutcome::Decided {
                    value: clamps.first().map_or(evaluation.desired, |c| c.1),
                }
            } else if let (true, true, Some(by)) = (
                rule.is_deciding(),
                decider.is_some_and(|d| d < i),
                &decided_by,
            ) {
                RuleOutcome::NotReached {
                    decided_by: by.clone(),
                }
            } else {
                RuleOutcome::NoMatch
            };
            RuleTrace {
                name: rule.name.clone(),
                kind: if rule.is_deciding() {
                    "decide"
                } else {
                    "clamp"
                },
                matched,
                conditions,
                action: rule.action.describe(),
                outcome,
            }
        })
        .collect();
    let windows = policy
        .windows
        .iter()
        .map(|w| WindowState {
            name: w.name.clone(),
            timezone: w.tz.name().to_string(),
            open: w.contains(cx.now),
        })
        .collect();
    Explanation {
        account_id: job.account_id.to_string(),
        region: job.region.to_string(),
        job_id: job.id.clone(),
        status: job.status,
        observed: job.priority,
        baseline,
        managed: policy.manages(job.status),
        ignored: policy.is_ignored(job),
        at: cx.now,
        windows,
        rules,
        desired: evaluation.desired,
        rule: evaluation.rule,
        reason: evaluation.reason,
    }
}

impl Explanation {
    /// The human rendering (`s3prio explain`).
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "job {} ({}/{}) status {}, priority {}, baseline {}, at {}",
            self.job_id,
            self.account_id,
            self.region,
            self.status,
            self.observed,
            self.baseline,
            self.at.to_rfc3339_opts(SecondsFormat::Secs, true)
        );
        if !self.windows.is_empty() {
            let ws: Vec<String> = self
                .windows
                .iter()
                .map(|w| {
                    format!(
                        "{} ({}) {}",
                        w.name,
                        w.timezone,
                        if w.open { "open" } else { "closed" }
                    )
                })
                .collect();
            let _ = writeln!(out, "windows: {}", ws.join(", "));
        }
        let _ = writeln!(out);
        self.render_rules(&mut out);
        let _ = writeln!(out);
        if !self.managed {
            let _ = writeln!(
                out,
                "note: status {} is not managed: the job is left alone",
                self.status
            );
        }
        if self.ignored {
            let _ = writeln!(
                out,
                "note: the job carries the ignore tag: it is left alone"
            );
        }
        let _ = writeln!(out, "desired priority: {} ({})", self.desired, self.reason);
        out
    }

    /// The rule table: one line per rule, then its conditions.
    fn render_rules(&self, out: &mut String) {
        let name_w = self
            .rules
            .iter()
            .map(|r| r.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let _ = writeln!(
            out,
            "  #  {:<name_w$}  KIND    MATCH  ACTION -> OUTCOME",
            "RULE"
        );
        for (i, r) in self.rules.iter().enumerate() {
            let _ = writeln!(
                out,
                "{:>3}  {:<name_w$}  {:<6}  {:<5}  {} -> {}",
                i + 1,
                r.name,
                r.kind,
                if r.matched { "yes" } else { "no" },
                r.action,
                r.outcome.describe()
            );
            if r.conditions.is_empty() {
                let _ = writeln!(out, "       [x] (no conditions: always matches)");
            }
            for c in &r.conditions {
                render_condition(out, c, 7);
            }
        }
    }
}

impl RuleOutcome {
    /// `decided 900`, `clamped 900 -> 800`, ...: the outcome column of `explain`.
    fn describe(&self) -> String {
        match self {
            RuleOutcome::NoMatch => "no match".to_string(),
            RuleOutcome::Decided { value } => format!("decided {value}"),
            RuleOutcome::NotReached { decided_by } => {
                format!("not reached ({decided_by} decided)")
            }
            RuleOutcome::Clamped { from, to } if from == to => format!("clamp holds ({to})"),
            RuleOutcome::Clamped { from, to } => format!("clamped {from} -> {to}"),
        }
    }
}

fn render_condition(out: &mut String, c: &ConditionTrace, indent: usize) {
    let _ = writeln!(
        out,
        "{:indent$}[{}] {}",
        "",
        if c.result { "x" } else { " " },
        c.condition
    );
    for k in &c.children {
        render_condition(out, k, indent + 4);
    }
}
