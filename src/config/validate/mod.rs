//! Raw config -> validated `Config` + compiled `Policy`. Each error carries the key path of the
//! offending value; `span_of` maps it back to the source text.
//!
//! One file per part of the config: the daemon's settings (`settings`), the targets and their
//! pace (`targets`), the time windows (`windows`), the rules and their actions (`rules`), the
//! conditions of a rule (`conditions`); `spans` and `serde_help` locate and explain errors.

mod conditions;
mod rules;
mod serde_help;
mod settings;
mod spans;
mod target_sets;
mod targets;
mod windows;

use std::sync::Arc;
use std::time::Duration;

use super::error::PathSeg;
use super::raw::RawConfig;
use super::Config;
use crate::duration::parse_duration;
use crate::model::MAX_PRIORITY;
use crate::policy::{PlannerSettings, Policy};

pub(super) use serde_help::explain_serde_error;
pub(super) use spans::{path_at, span_of};

/// A validation error at a key path.
#[derive(Debug)]
pub(super) struct SemErr {
    pub path: Vec<PathSeg>,
    /// Point at the key rather than the value (e.g. for a key that must not be there).
    pub at_key: bool,
    pub message: String,
    pub help: Option<String>,
}

type VResult<T> = Result<T, SemErr>;

/// A key path under construction: `P::root().k("rules").i(2).k("action")`.
#[derive(Clone, Debug, Default)]
pub(super) struct P(Vec<PathSeg>);

impl P {
    pub(super) fn root() -> P {
        P(Vec::new())
    }
    pub(super) fn k(&self, key: &str) -> P {
        let mut v = self.0.clone();
        v.push(PathSeg::Key(key.to_string()));
        P(v)
    }
    pub(super) fn i(&self, index: usize) -> P {
        let mut v = self.0.clone();
        v.push(PathSeg::Index(index));
        P(v)
    }
    pub(super) fn err(
        &self,
        message: impl Into<String>,
        help: impl Into<Option<String>>,
    ) -> SemErr {
        SemErr {
            path: self.0.clone(),
            at_key: false,
            message: message.into(),
            help: help.into(),
        }
    }
    fn key_err(&self, message: impl Into<String>, help: impl Into<Option<String>>) -> SemErr {
        SemErr {
            at_key: true,
            ..self.err(message, help)
        }
    }
}

fn duration(p: &P, s: &str, positive: bool) -> VResult<Duration> {
    let d = parse_duration(s).map_err(|e| p.err(format!("invalid duration: {e}"), None))?;
    if positive && d.is_zero() {
        return Err(p.err(
            "duration must be longer than zero",
            Some("e.g. \"30s\"".to_string()),
        ));
    }
    Ok(d)
}

fn opt_duration(p: &P, s: &Option<String>, default: Duration) -> VResult<Duration> {
    s.as_deref().map_or(Ok(default), |s| duration(p, s, true))
}

fn priority(p: &P, v: i64) -> VResult<i32> {
    i32::try_from(v).ok().filter(|v| *v >= 0).ok_or_else(|| {
        p.err(
            format!("priority {v} is out of range"),
            Some(format!("priorities are integers from 0 to {MAX_PRIORITY}")),
        )
    })
}

fn account_id(p: &P, s: &str) -> VResult<()> {
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(p.err(
            format!("`{s}` is not an AWS account id"),
            Some(
                "an account id is exactly 12 digits, written as a string: \"123456789012\""
                    .to_string(),
            ),
        ))
    }
}

pub(super) fn validate(raw: &RawConfig) -> VResult<Config> {
    let root = P::root();
    let baseline = settings::baseline(&root.k("baseline"), &raw.baseline)?;
    let reconcile = settings::reconcile(&root.k("reconcile"), &raw.reconcile)?;
    let http = settings::http(&root.k("http"), &raw.http)?;
    let log = settings::log(&root.k("log"), &raw.log)?;
    let targets = targets::targets(&root, &raw.targets)?;
    let target_sets = target_sets::target_sets(&root, &raw.target_sets)?;
    target_sets::require_some(&root, &targets, &target_sets)?;
    let (windows, window_index) = windows::windows(&root.k("windows"), &raw.windows)?;
    let rules = rules::rules(
        &root.k("rules"),
        &raw.rules,
        &window_index,
        baseline.stores.is_empty(),
    )?;
    let settings = PlannerSettings {
        managed_statuses: reconcile.managed_statuses.clone(),
        on_manual_change: reconcile.on_manual_change,
        max_changes_per_cycle: reconcile.max_changes_per_cycle,
        ignore_tag: reconcile.ignore_tag.clone(),
    };
    Ok(Config {
        reconcile,
        baseline,
        http,
        log,
        targets,
        target_sets,
        policy: Arc::new(Policy::new(rules, windows, settings)),
    })
}
