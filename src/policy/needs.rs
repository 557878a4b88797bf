//! Which unfetched inputs (tags, `DescribeJob` details) the outcome for a job depends on, so
//! the client fetches only what a rule needs.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Mode, Policy, Truth, WindowStates};
use crate::model::{Job, Priority};

/// Which unfetched inputs the outcome for a job depends on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Needs {
    /// `GetJobTagging`.
    pub tags: bool,
    /// `DescribeJob` (`Job.details`).
    pub details: bool,
}

impl Policy {
    /// Whether the outcome for `job` at `now` depends on inputs the client has not fetched
    /// (`job.tags == None`, `job.details == None`). Jobs in unmanaged statuses need nothing.
    ///
    /// This covers the rules only. The ignore tag can stop any change, so before changing a job
    /// whose tags were not read, use [`Policy::needs_for`], which also accounts for it.
    pub fn needs(&self, job: &Job, now: DateTime<Utc>) -> Needs {
        self.needs_at(job, None, &self.at(now))
    }

    /// [`Policy::needs`] with precomputed window states and, when known, the job's baseline
    /// (without it, `priority` conditions count as unknown and needs are conservative).
    pub fn needs_at(&self, job: &Job, baseline: Option<Priority>, at: &WindowStates) -> Needs {
        let mut needs = Needs::default();
        if !self.manages(job.status) || (job.tags.is_some() && job.details.is_some()) {
            return needs;
        }
        let cx = self.context(at, Mode::Partial, baseline, &[]);
        let mut decided = false;
        for rule in &self.rules {
            if decided && rule.is_deciding() {
                continue;
            }
            match rule.eval(job, &cx) {
                Truth::True => decided |= rule.is_deciding(),
                Truth::False => {}
                Truth::Unknown => {
                    for c in &rule.when {
                        if c.eval(job, &cx) == Truth::Unknown {
                            let (t, d) = c.unknown_inputs(job, &cx);
                            needs.tags |= t;
                            needs.details |= d;
                        }
                    }
                }
            }
        }
        needs
    }

    /// [`Policy::needs`] plus the ignore tag: when the job would be changed (its desired priority
    /// differs from its observed one) and its tags were not read, the tags are needed to know
    /// whether it carries the ignore tag.
    pub fn needs_for(&self, job: &Job, baseline: Priority, now: DateTime<Utc>) -> Needs {
        let at = self.at(now);
        let mut needs = self.needs_at(job, Some(baseline), &at);
        if job.tags.is_none()
            && !needs.tags
            && !self.settings.ignore_tag.is_empty()
            && self.manages(job.status)
            && self.desired_at(job, baseline, &at) != job.priority
        {
            needs.tags = true;
        }
        needs
    }
}
