//! The policy engine: compiled rules, conditions, time windows and actions. Pure: no I/O, and
//! time comes in as an argument.
//!
//! # Precedence
//! Rules are evaluated in file order, starting from the job's baseline.
//! 1. A rule whose action has a value (`set`, `raise`, `lower`, `age_boost`, `baseline`) is a
//!    *deciding* rule: the first deciding rule whose conditions hold computes the value (relative
//!    values from the baseline) and applies its own `at_least` / `at_most`. Later deciding rules
//!    are not consulted. No deciding rule matching means the value is the baseline.
//! 2. A rule whose action has only `at_least` / `at_most` is a *clamp* rule: every clamp rule
//!    whose conditions hold is applied to that value, in file order, wherever it sits in the file.
//! 3. The result is saturated to 0..=2147483647.

mod action;
mod condition;
mod explain;
mod glob;
mod needs;
mod window;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use action::{saturate, Action, ValueAction};
pub use condition::{resolve_tags, Bounds, Condition, EvalContext, Mode, TagKey, Truth};
pub use explain::{ConditionTrace, Explanation, RuleOutcome, RuleTrace, WindowState};
pub use glob::Glob;
pub use needs::Needs;
pub use window::{
    describe_days, first_reading, offset_at, offset_changes, CalendarEntry, CalendarEvent,
    OpenPeriod, Opening, TimeRange, TimeWindow, WallTime,
};

use crate::model::{Job, JobStatus, Priority};

/// How far ahead [`Policy::next_window_change`] looks.
const WINDOW_HORIZON_DAYS: i64 = 8;

/// What to do with a job whose priority a person changed after s3prio did.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ManualChange {
    /// Leave the job alone and report it as hands-off.
    #[default]
    Respect,
    /// Plan it like any other job (the person's change is undone).
    Override,
}

/// The planner settings that travel with the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannerSettings {
    pub managed_statuses: Vec<JobStatus>,
    pub on_manual_change: ManualChange,
    pub max_changes_per_cycle: Option<usize>,
    /// A job whose tag of this key has value `"true"` is never changed (empty: disabled).
    pub ignore_tag: String,
}

impl Default for PlannerSettings {
    fn default() -> Self {
        PlannerSettings {
            managed_statuses: JobStatus::non_terminal(),
            on_manual_change: ManualChange::Respect,
            max_changes_per_cycle: None,
            ignore_tag: "s3prio/ignore".to_string(),
        }
    }
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    /// All of these hold (an empty list always holds).
    pub when: Vec<Condition>,
    pub action: Action,
}

impl Rule {
    pub fn is_deciding(&self) -> bool {
        self.action.value.is_some()
    }

    fn eval(&self, job: &Job, cx: &EvalContext<'_>) -> Truth {
        let mut acc = Truth::True;
        for c in &self.when {
            match c.eval(job, cx) {
                Truth::False => return Truth::False,
                Truth::Unknown => acc = Truth::Unknown,
                Truth::True => {}
            }
        }
        acc
    }
}

/// The outcome of the policy for one job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evaluation {
    pub desired: Priority,
    /// The rule that determined the final value: the last clamp rule that changed it, else the
    /// deciding rule; `None` when no rule matched (the job goes back to its baseline).
    pub rule: Option<String>,
    pub reason: String,
}

/// The compiled policy.
#[derive(Debug, Clone)]
pub struct Policy {
    rules: Vec<Rule>,
    windows: Vec<TimeWindow>,
    settings: PlannerSettings,
    /// Windows some rule refers to (sorted, unique).
    referenced_windows: Vec<usize>,
    managed: [bool; JobStatus::ALL.len()],
    /// `rules[i].action.describe()`, for reasons.
    action_text: Vec<String>,
    /// Distinct tag keys the rules read, by slot.
    tag_keys: Vec<String>,
    uses_tags: bool,
    uses_details: bool,
}

/// An instant at which a window opens or closes.
#[derive(Debug, Clone, Copy)]
pub struct Boundary<'a> {
    pub at: DateTime<Utc>,
    pub window: &'a TimeWindow,
    /// `true`: the window opens at `at`; `false`: it closes.
    pub opens: bool,
}

/// The job-independent inputs for evaluating many jobs at one instant: the instant and whether
/// each window is open then.
pub struct WindowStates {
    now: DateTime<Utc>,
    windows: Vec<bool>,
}

impl WindowStates {
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }
}

/// What the core evaluation decided for one job, before it is turned into text.
pub struct Decision {
    pub desired: Priority,
    decider: Option<usize>,
    /// Clamp rules that matched: (rule index, value before, value after).
    clamps: Vec<(usize, Priority, Priority)>,
}

fn status_index(s: JobStatus) -> usize {
    JobStatus::ALL.iter().position(|x| *x == s).unwrap_or(0)
}

impl Policy {
    /// Builds a policy. Window indexes in conditions must be valid for `windows` (the config
    /// loader guarantees it; an out-of-range index reads as a closed window).
    pub fn new(
        mut rules: Vec<Rule>,
        windows: Vec<TimeWindow>,
        settings: PlannerSettings,
    ) -> Policy {
        let mut tag_keys: Vec<String> = Vec::new();
        for c in rules.iter_mut().flat_map(|r| r.when.iter_mut()) {
            c.tag_keys_mut(&mut |k| {
                k.slot = tag_keys
                    .iter()
                    .position(|x| *x == k.name)
                    .unwrap_or_else(|| {
                        tag_keys.push(k.name.clone());
                        tag_keys.len() - 1
                    });
            });
        }
        let mut referenced = Vec::new();
        let (mut uses_tags, mut uses_details) = (false, false);
        for c in rules.iter().flat_map(|r| &r.when) {
            c.windows(&mut referenced);
            let (t, d) = c.uses();
            uses_tags |= t;
            uses_details |= d;
        }
        referenced.sort_unstable();
        referenced.dedup();
        let mut managed = [false; JobStatus::ALL.len()];
        for s in &settings.managed_statuses {
            managed[status_index(*s)] = true;
        }
        let action_text = rules.iter().map(|r| r.action.describe()).collect();
        Policy {
            rules,
            windows,
            settings,
            referenced_windows: referenced,
            managed,
            action_text,
            tag_keys,
            uses_tags,
            uses_details,
        }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.name.as_str())
    }

    pub fn windows(&self) -> &[TimeWindow] {
        &self.windows
    }

    pub fn settings(&self) -> &PlannerSettings {
        &self.settings
    }

    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    pub fn window_count(&self) -> usize {
        self.windows.len()
    }

    /// Whether jobs in `status` are managed (others are left alone).
    pub fn manages(&self, status: JobStatus) -> bool {
        self.managed[status_index(status)]
    }

    /// Whether some rule reads tags (so `GetJobTagging` may be needed at all).
    pub fn uses_tags(&self) -> bool {
        self.uses_tags
    }

    /// Whether some rule reads `DescribeJob` details.
    pub fn uses_details(&self) -> bool {
        self.uses_details
    }

    /// Whether `job` carries the ignore tag (`<ignore_tag> = "true"`).
    pub fn is_ignored(&self, job: &Job) -> bool {
        !self.settings.ignore_tag.is_empty()
            && job
                .tags
                .as_ref()
                .and_then(|t| t.get(&self.settings.ignore_tag))
                .is_some_and(|v| v == "true")
    }

    /// The job-independent part of evaluation at `now` (window states), computed once per plan.
    pub fn at(&self, now: DateTime<Utc>) -> WindowStates {
        let mut windows = vec![false; self.windows.len()];
        for &i in &self.referenced_windows {
            if let Some(w) = self.windows.get(i) {
                windows[i] = w.contains(now);
            }
        }
        WindowStates { now, windows }
    }

    /// The desired priority of `job` at `now`. Unfetched tags count as no tags and unfetched
    /// details as no role (fetch them first when [`Policy::needs`] says so).
    pub fn evaluate(&self, job: &Job, baseline: Priority, now: DateTime<Utc>) -> Evaluation {
        self.evaluate_at(job, baseline, &self.at(now))
    }

    /// [`Policy::evaluate`] with precomputed window states.
    pub fn evaluate_at(&self, job: &Job, baseline: Priority, at: &WindowStates) -> Evaluation {
        let decision = self.decision(job, baseline, at);
        self.describe(&decision, baseline)
    }

    fn context<'a>(
        &self,
        at: &'a WindowStates,
        mode: Mode,
        baseline: Option<Priority>,
        tag_values: &'a [Option<&'a str>],
    ) -> EvalContext<'a> {
        EvalContext {
            now: at.now,
            windows: &at.windows,
            mode,
            baseline,
            tag_values,
        }
    }

    /// The desired priority with what produced it; turn it into text with [`Policy::describe`]
    /// only when needed (allocates only when a clamp rule matched).
    pub fn decision(&self, job: &Job, baseline: Priority, at: &WindowStates) -> Decision {
        let mut clamps = Vec::new();
        let (desired, decider) = self.apply_rules(job, baseline, at, Some(&mut clamps));
        Decision {
            desired,
            decider,
            clamps,
        }
    }

    /// Only the desired priority: the planner's hot path (no allocation, no text).
    pub fn desired_at(&self, job: &Job, baseline: Priority, at: &WindowStates) -> Priority {
        self.apply_rules(job, baseline, at, None).0
    }

    /// The precedence rules (module docs): the first matching deciding rule, then every matching
    /// clamp rule in file order. Records the clamps applied in `trace` when given.
    fn apply_rules(
        &self,
        job: &Job,
        baseline: Priority,
        at: &WindowStates,
        mut trace: Option<&mut Vec<(usize, Priority, Priority)>>,
    ) -> (Priority, Option<usize>) {
        // Look each tag key up once per job rather than once per condition.
        const SLOTS: usize = 16;
        let mut values: [Option<&str>; SLOTS] = [None; SLOTS];
        let n = self.tag_keys.len().min(SLOTS);
        resolve_tags(job, &self.tag_keys[..n], &mut values[..n]);
        let cx = self.context(at, Mode::Complete, Some(baseline), &values[..n]);
        let mut desired = saturate(i64::from(baseline));
        let mut decider = None;
        for (i, rule) in self.rules.iter().enumerate() {
            if let Some(value) = &rule.action.value {
                if rule.eval(job, &cx) == Truth::True {
                    desired = rule.action.clamp(value.apply(job, baseline, at.now));
                    decider = Some(i);
                    break;
                }
            }
        }
        for (i, rule) in self.rules.iter().enumerate() {
            if !rule.is_deciding() && rule.eval(job, &cx) == Truth::True {
                let before = desired;
                desired = rule.action.clamp(desired);
                if let Some(t) = trace.as_deref_mut() {
                    t.push((i, before, desired));
                }
            }
        }
        (desired, decider)
    }

    /// The [`Evaluation`] (rule and reason) of a [`Policy::decision`].
    pub fn describe(&self, o: &Decision, baseline: Priority) -> Evaluation {
        use std::fmt::Write as _;
        let text = |i: usize| self.action_text.get(i).map_or("", String::as_str);
        let mut reason = String::with_capacity(96);
        let _ = match o.decider.and_then(|i| self.rules.get(i).map(|r| (i, r))) {
            Some((i, r)) => {
                let decided = o.clamps.first().map_or(o.desired, |c| c.1);
                write!(
                    reason,
                    "rule {}: {} from baseline {baseline} = {decided}",
                    r.name,
                    text(i)
                )
            }
            None => write!(reason, "no rule matched: baseline {baseline}"),
        };
        let mut rule = o
            .decider
            .and_then(|i| self.rules.get(i))
            .map(|r| r.name.clone());
        for &(i, before, after) in &o.clamps {
            if let Some(r) = self.rules.get(i) {
                if before != after {
                    let _ = write!(
                        reason,
                        "; clamp rule {}: {} ({before} -> {after})",
                        r.name,
                        text(i)
                    );
                    rule = Some(r.name.clone());
                }
            }
        }
        Evaluation {
            desired: o.desired,
            rule,
            reason,
        }
    }

    /// The next instant strictly after `after` (within 8 days) at which a window that some rule
    /// refers to opens or closes.
    pub fn next_window_change(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.next_boundary(after).map(|b| b.at)
    }

    /// [`Policy::next_window_change`] with the window and whether it opens or closes there
    /// (the earliest window in file order when several change at once).
    pub fn next_boundary(&self, after: DateTime<Utc>) -> Option<Boundary<'_>> {
        self.referenced_windows
            .iter()
            .filter_map(|&i| self.windows.get(i))
            .filter_map(|w| {
                w.next_boundary(after, WINDOW_HORIZON_DAYS)
                    .map(|(at, opens)| Boundary {
                        at,
                        window: w,
                        opens,
                    })
            })
            .min_by_key(|b| b.at)
    }

    /// Whether some rule refers to window `index` (only those wake the daemon).
    pub fn window_is_referenced(&self, index: usize) -> bool {
        self.referenced_windows.binary_search(&index).is_ok()
    }

    /// Every rule in order with each condition's result, the action taken and the outcome.
    pub fn explain(&self, job: &Job, baseline: Priority, now: DateTime<Utc>) -> Explanation {
        let at = self.at(now);
        let decision = self.decision(job, baseline, &at);
        let evaluation = self.describe(&decision, baseline);
        let cx = self.context(&at, Mode::Complete, Some(baseline), &[]);
        explain::build(
            self,
            job,
            baseline,
            &cx,
            &decision.decider,
            &decision.clamps,
            evaluation,
        )
    }
}
