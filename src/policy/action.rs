//! Rule actions: what a matching rule does to a job's desired priority.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::duration::format_duration;
use crate::model::{Job, Priority, MAX_PRIORITY};

/// The value part of an action. A rule whose action has one decides the desired priority
/// (first match wins); a rule with only bounds is a clamp rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueAction {
    /// `set = N`: exactly N.
    Set(Priority),
    /// `raise = N`: baseline + N.
    Raise(Priority),
    /// `lower = N`: baseline - N.
    Lower(Priority),
    /// `age_boost = { every, by, max }`: baseline + min(max, by x whole `every`s since creation).
    AgeBoost {
        every: Duration,
        by: Priority,
        max: Priority,
    },
    /// `baseline = true`: the baseline (stops later rules from deciding).
    Baseline,
}

/// A compiled action: an optional value and optional inclusive bounds applied after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    pub value: Option<ValueAction>,
    pub at_least: Option<Priority>,
    pub at_most: Option<Priority>,
}

impl ValueAction {
    /// The value for `job`, before bounds, saturated to 0..=MAX_PRIORITY.
    pub fn apply(&self, job: &Job, baseline: Priority, now: DateTime<Utc>) -> Priority {
        let base = i64::from(baseline);
        let v = match *self {
            ValueAction::Set(n) => i64::from(n),
            ValueAction::Raise(n) => base + i64::from(n),
            ValueAction::Lower(n) => base - i64::from(n),
            ValueAction::AgeBoost { every, by, max } => {
                base + i64::from(age_boost(job, now, every, by, max))
            }
            ValueAction::Baseline => base,
        };
        saturate(v)
    }

    pub fn is_relative(&self) -> bool {
        matches!(
            self,
            ValueAction::Raise(_) | ValueAction::Lower(_) | ValueAction::AgeBoost { .. }
        )
    }

    pub fn describe(&self) -> String {
        match *self {
            ValueAction::Set(n) => format!("set {n}"),
            ValueAction::Raise(n) => format!("raise {n}"),
            ValueAction::Lower(n) => format!("lower {n}"),
            ValueAction::AgeBoost { every, by, max } => {
                format!(
                    "age_boost +{by} every {} (max +{max})",
                    format_duration(every)
                )
            }
            ValueAction::Baseline => "baseline".to_string(),
        }
    }
}

impl Action {
    /// Applies the bounds (at_least first, then at_most, so at_most wins if they ever cross).
    pub fn clamp(&self, v: Priority) -> Priority {
        let v = self.at_least.map_or(v, |lo| v.max(lo));
        self.at_most.map_or(v, |hi| v.min(hi))
    }

    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(v) = &self.value {
            parts.push(v.describe());
        }
        if let Some(n) = self.at_least {
            parts.push(format!("at_least {n}"));
        }
        if let Some(n) = self.at_most {
            parts.push(format!("at_most {n}"));
        }
        parts.join(", ")
    }
}

/// `by` for every whole `every` of age, capped at `max`; 0 when the creation time is unknown.
fn age_boost(
    job: &Job,
    now: DateTime<Utc>,
    every: Duration,
    by: Priority,
    max: Priority,
) -> Priority {
    let Some(created) = job.creation_time else {
        return 0;
    };
    let age_ms = (now - created).num_milliseconds().max(0);
    let every_ms = i64::try_from(every.as_millis()).unwrap_or(i64::MAX).max(1);
    let steps = age_ms / every_ms;
    let boost = steps.saturating_mul(i64::from(by)).min(i64::from(max));
    saturate(boost)
}

/// Clamps to the priorities S3 Control accepts.
pub fn saturate(v: i64) -> Priority {
    // The clamp makes the conversion lossless.
    v.clamp(0, i64::from(MAX_PRIORITY)) as Priority
}
