//! Rule conditions and their three-valued evaluation.
//!
//! A condition that reads tags (or `DescribeJob` details) which were not fetched evaluates to
//! `Unknown` in [`Mode::Partial`], so the caller learns whether fetching them could change the
//! outcome. In [`Mode::Complete`] missing tags are treated as no tags and missing details as no
//! role, which is what the planner does once the client has fetched what `needs` asked for.

use std::time::Duration;

use chrono::{DateTime, Utc};
use regex::Regex;
use serde::Serialize;

use super::glob::Glob;
use crate::duration::format_duration;
use crate::model::{Job, JobStatus, Priority};

/// Kleene three-valued logic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Truth {
    True,
    False,
    Unknown,
}

impl Truth {
    fn from_bool(b: bool) -> Truth {
        if b {
            Truth::True
        } else {
            Truth::False
        }
    }

    fn not(self) -> Truth {
        match self {
            Truth::True => Truth::False,
            Truth::False => Truth::True,
            Truth::Unknown => Truth::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Truth::True => "true",
            Truth::False => "false",
            Truth::Unknown => "unknown",
        }
    }
}

/// How to treat inputs the client did not fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Unfetched tags / details make the conditions reading them `Unknown`.
    Partial,
    /// Unfetched tags are no tags; unfetched details are no role.
    Complete,
}

/// Inclusive bounds; at least one is set (checked at load).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds<T> {
    pub min: Option<T>,
    pub max: Option<T>,
}

impl<T: PartialOrd + Copy + std::fmt::Display> Bounds<T> {
    fn holds(&self, v: T) -> bool {
        self.min.is_none_or(|m| v >= m) && self.max.is_none_or(|m| v <= m)
    }

    fn describe(&self, what: &str) -> String {
        match (self.min, self.max) {
            (Some(a), Some(b)) => format!("{a} <= {what} <= {b}"),
            (Some(a), None) => format!("{what} >= {a}"),
            (None, Some(b)) => format!("{what} <= {b}"),
            (None, None) => format!("{what} (any)"),
        }
    }
}

/// One compiled condition.
#[derive(Debug, Clone)]
pub enum Condition {
    Status(Vec<JobStatus>),
    Operation(Vec<String>),
    Account(Vec<String>),
    Region(Vec<String>),
    /// On the job's baseline (its priority before s3prio changed it; the observed priority of a
    /// job s3prio never changed), so a rule cannot un-match itself by changing the priority.
    Priority(Bounds<Priority>),
    PercentDone(Bounds<f64>),
    TotalTasks(Bounds<i64>),
    /// Age from `CreationTime` at least this long. Unknown creation time: false.
    OlderThan(Duration),
    /// Age from `CreationTime` less than this. Unknown creation time: false.
    NewerThan(Duration),
    /// Index into the policy's windows, with its name for display.
    InWindow(usize, String),
    OutsideWindow(usize, String),
    /// Matched against the description, or `""` when the job has none.
    DescriptionGlob(Glob),
    DescriptionRegex(Regex),
    TagEquals(TagKey, String),
    TagIn(TagKey, Vec<String>),
    TagGlob(TagKey, Glob),
    TagExists(TagKey),
    TagAbsent(TagKey),
    /// Glob on `DescribeJob`'s `RoleArn`.
    RoleArn(Glob),
    Any(Vec<Condition>),
    All(Vec<Condition>),
    Not(Box<Condition>),
}

/// What a condition is evaluated against, besides the job.
pub struct EvalContext<'a> {
    pub now: DateTime<Utc>,
    /// Open/closed state of each policy window at `now`.
    pub windows: &'a [bool],
    pub mode: Mode,
    /// The job's baseline; `None` when not known (`Policy::needs`), which makes `priority`
    /// conditions `Unknown`.
    pub baseline: Option<Priority>,
    /// The job's value of each policy tag key, by [`TagKey::slot`], looked up once per job
    /// (empty: look up on use).
    pub tag_values: &'a [Option<&'a str>],
}

/// A tag key in a condition, with its slot among the keys the policy reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagKey {
    pub name: String,
    /// Index into [`EvalContext::tag_values`]; assigned by `Policy::new`.
    pub slot: usize,
}

impl TagKey {
    pub fn new(name: String) -> TagKey {
        TagKey {
            name,
            slot: usize::MAX,
        }
    }
}

impl std::fmt::Display for TagKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

impl Condition {
    pub fn eval(&self, job: &Job, cx: &EvalContext<'_>) -> Truth {
        let b = Truth::from_bool;
        match self {
            Condition::Status(set) => b(set.contains(&job.status)),
            Condition::Operation(set) => b(job.operation.as_ref().is_some_and(|o| set.contains(o))),
            Condition::Account(set) => b(set.iter().any(|a| **a == *job.account_id)),
            Condition::Region(set) => b(set.iter().any(|r| **r == *job.region)),
            Condition::Priority(bounds) => {
                cx.baseline.map_or(Truth::Unknown, |p| b(bounds.holds(p)))
            }
            Condition::PercentDone(bounds) => {
                b(job.progress.is_some_and(|p| bounds.holds(p.percent_done())))
            }
            Condition::TotalTasks(bounds) => {
                b(job.progress.is_some_and(|p| bounds.holds(p.total_tasks)))
            }
            Condition::OlderThan(d) => b(age(job, cx.now).is_some_and(|a| a >= *d)),
            Condition::NewerThan(d) => b(age(job, cx.now).is_some_and(|a| a < *d)),
            Condition::InWindow(i, _) => b(cx.windows.get(*i).copied().unwrap_or(false)),
            Condition::OutsideWindow(i, _) => b(!cx.windows.get(*i).copied().unwrap_or(false)),
            Condition::DescriptionGlob(g) => {
                b(g.is_match(job.description.as_deref().unwrap_or("")))
            }
            Condition::DescriptionRegex(r) => {
                b(r.is_match(job.description.as_deref().unwrap_or("")))
            }
            Condition::TagEquals(k, v) => {
                tag(job, cx, k).map_or(Truth::Unknown, |t| b(t == Some(v.as_str())))
            }
            Condition::TagIn(k, vs) => tag(job, cx, k).map_or(Truth::Unknown, |t| {
                b(t.is_some_and(|v| vs.iter().any(|x| x == v)))
            }),
            Condition::TagGlob(k, g) => {
                tag(job, cx, k).map_or(Truth::Unknown, |t| b(t.is_some_and(|v| g.is_match(v))))
            }
            Condition::TagExists(k) => tag(job, cx, k).map_or(Truth::Unknown, |t| b(t.is_some())),
            Condition::TagAbsent(k) => tag(job, cx, k).map_or(Truth::Unknown, |t| b(t.is_none())),
            Condition::RoleArn(g) => match (&job.details, cx.mode) {
                (Some(d), _) => b(d.role_arn.as_deref().is_some_and(|r| g.is_match(r))),
                (None, Mode::Complete) => Truth::False,
                (None, Mode::Partial) => Truth::Unknown,
            },
            Condition::All(cs) => {
                let mut acc = Truth::True;
                for c in cs {
                    match c.eval(job, cx) {
                        Truth::False => return Truth::False,
                        Truth::Unknown => acc = Truth::Unknown,
                        Truth::True => {}
                    }
                }
                acc
            }
            Condition::Any(cs) => {
                let mut acc = Truth::False;
                for c in cs {
                    match c.eval(job, cx) {
                        Truth::True => return Truth::True,
                        Truth::Unknown => acc = Truth::Unknown,
                        Truth::False => {}
                    }
                }
                acc
            }
            Condition::Not(c) => c.eval(job, cx).not(),
        }
    }

    /// Which unfetched inputs make this condition `Unknown` for `job` (call when it is).
    pub fn unknown_inputs(&self, job: &Job, cx: &EvalContext<'_>) -> (bool, bool) {
        match self {
            Condition::All(cs) | Condition::Any(cs) => cs
                .iter()
                .filter(|c| c.eval(job, cx) == Truth::Unknown)
                .fold((false, false), |acc, c| {
                    let (t, d) = c.unknown_inputs(job, cx);
                    (acc.0 || t, acc.1 || d)
                }),
            Condition::Not(c) => c.unknown_inputs(job, cx),
            leaf => {
                let unknown = leaf.eval(job, cx) == Truth::Unknown;
                (
                    unknown && leaf.reads_tags(),
                    unknown && matches!(leaf, Condition::RoleArn(_)),
                )
            }
        }
    }

    fn reads_tags(&self) -> bool {
        matches!(
            self,
            Condition::TagEquals(..)
                | Condition::TagIn(..)
                | Condition::TagGlob(..)
                | Condition::TagExists(_)
                | Condition::TagAbsent(_)
        )
    }

    /// Whether this condition (or a nested one) reads tags / details.
    pub fn uses(&self) -> (bool, bool) {
        match self {
            Condition::All(cs) | Condition::Any(cs) => cs.iter().fold((false, false), |acc, c| {
                let (t, d) = c.uses();
                (acc.0 || t, acc.1 || d)
            }),
            Condition::Not(c) => c.uses(),
            leaf => (leaf.reads_tags(), matches!(leaf, Condition::RoleArn(_))),
        }
    }

    /// Visits every tag key (to assign slots).
    pub fn tag_keys_mut(&mut self, f: &mut impl FnMut(&mut TagKey)) {
        match self {
            Condition::TagEquals(k, _)
            | Condition::TagIn(k, _)
            | Condition::TagGlob(k, _)
            | Condition::TagExists(k)
            | Condition::TagAbsent(k) => f(k),
            Condition::All(cs) | Condition::Any(cs) => {
                cs.iter_mut().for_each(|c| c.tag_keys_mut(f))
            }
            Condition::Not(c) => c.tag_keys_mut(f),
            _ => {}
        }
    }

    /// Window indexes this condition refers to.
    pub fn windows(&self, out: &mut Vec<usize>) {
        match self {
            Condition::InWindow(i, _) | Condition::OutsideWindow(i, _) => out.push(*i),
            Condition::All(cs) | Condition::Any(cs) => cs.iter().for_each(|c| c.windows(out)),
            Condition::Not(c) => c.windows(out),
            _ => {}
        }
    }

    /// A short human description, in the config's own vocabulary.
    pub fn describe(&self) -> String {
        let list = |v: &[String]| v.join(", ");
        match self {
            Condition::Status(s) => {
                format!(
                    "status in [{}]",
                    s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                )
            }
            Condition::Operation(o) => format!("operation in [{}]", list(o)),
            Condition::Account(a) => format!("account in [{}]", list(a)),
            Condition::Region(r) => format!("region in [{}]", list(r)),
            Condition::Priority(b) => b.describe("priority (baseline)"),
            Condition::PercentDone(b) => b.describe("percent_done"),
            Condition::TotalTasks(b) => b.describe("total_tasks"),
            Condition::OlderThan(d) => format!("older_than {}", format_duration(*d)),
            Condition::NewerThan(d) => format!("newer_than {}", format_duration(*d)),
            Condition::InWindow(_, n) => format!("in_window {n}"),
            Condition::OutsideWindow(_, n) => format!("outside_window {n}"),
            Condition::DescriptionGlob(g) => format!("description_glob {:?}", g.as_str()),
            Condition::DescriptionRegex(r) => format!("description_regex '{}'", r.as_str()),
            Condition::TagEquals(k, v) => format!("tag {k} = {v:?}"),
            Condition::TagIn(k, vs) => format!("tag {k} in {vs:?}"),
            Condition::TagGlob(k, g) => format!("tag {k} matches {:?}", g.as_str()),
            Condition::TagExists(k) => format!("tag {k} exists"),
            Condition::TagAbsent(k) => format!("tag {k} absent"),
            Condition::RoleArn(g) => format!("role_arn matches {:?}", g.as_str()),
            Condition::Any(_) => "any of".to_string(),
            Condition::All(_) => "all of".to_string(),
            Condition::Not(_) => "not".to_string(),
        }
    }

    /// Nested conditions (for traces).
    pub fn children(&self) -> &[Condition] {
        match self {
            Condition::All(cs) | Condition::Any(cs) => cs,
            Condition::Not(c) => std::slice::from_ref(c.as_ref()),
            _ => &[],
        }
    }
}

/// The job's value of tag `k`: `None` = unknown (tags not read, partial mode), `Some(None)` =
/// no such tag.
fn tag<'x>(job: &'x Job, cx: &EvalContext<'x>, k: &TagKey) -> Option<Option<&'x str>> {
    match (&job.tags, cx.mode) {
        (Some(t), _) => Some(match cx.tag_values.get(k.slot) {
            Some(v) => *v,
            None => t.get(&k.name).map(String::as_str),
        }),
        (None, Mode::Complete) => Some(None),
        (None, Mode::Partial) => None,
    }
}

/// Fills `out[slot]` with the job's value for each of `keys` (the policy's tag keys, by slot).
pub fn resolve_tags<'x>(job: &'x Job, keys: &[String], out: &mut [Option<&'x str>]) {
    if let Some(t) = &job.tags {
        for (slot, key) in out.iter_mut().zip(keys) {
            *slot = t.get(key).map(String::as_str);
        }
    }
}

/// Age of the job from its creation time; `None` when unknown. A creation time in the future
/// (clock skew) counts as age zero.
fn age(job: &Job, now: DateTime<Utc>) -> Option<Duration> {
    let created = job.creation_time?;
    Some((now - created).to_std().unwrap_or(Duration::ZERO))
}
