//! The JSON job snapshot read by the offline `plan` / `explain` commands (docs/snapshot.md).
//!
//! ```json
//! { "jobs": [ { "account_id": "123456789012", "region": "us-east-1", "id": "job-1",
//!               "priority": 100, "status": "Active", "tags": { "urgent": "true" },
//!               "baseline": 100, "last_set": 900 } ] }
//! ```

use std::collections::HashSet;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::config::Located;
use crate::model::{Job, JobDetails, JobMemory, JobStatus, ObservedJob, Priority, Progress, Tags};

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{}: error: cannot read the job snapshot: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(Box<Located>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotFile {
    jobs: Vec<SnapshotJob>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotJob {
    account_id: String,
    region: String,
    id: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    operation: Option<String>,
    priority: Priority,
    status: JobStatus,
    #[serde(default)]
    creation_time: Option<DateTime<Utc>>,
    #[serde(default)]
    termination_date: Option<DateTime<Utc>>,
    #[serde(default)]
    progress: Option<Progress>,
    /// Absent: the job has no tags.
    #[serde(default)]
    tags: Tags,
    #[serde(default)]
    role_arn: Option<String>,
    /// What s3prio remembers; absent: nothing (the baseline is the observed priority).
    #[serde(default)]
    baseline: Option<Priority>,
    #[serde(default)]
    last_set: Option<Priority>,
    #[serde(default)]
    prev_set: Option<Priority>,
    #[serde(default)]
    hands_off: bool,
}

/// Reads a snapshot file.
pub fn load(path: &Path) -> Result<Vec<ObservedJob>, SnapshotError> {
    let src = std::fs::read_to_string(path).map_err(|source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&src, &path.display().to_string())
}

/// Parses snapshot text; `origin` names it in errors.
pub fn parse(src: &str, origin: &str) -> Result<Vec<ObservedJob>, SnapshotError> {
    let located = |span: std::ops::Range<usize>, msg: String, help: Option<String>| {
        SnapshotError::Invalid(Box::new(Located::new(origin, src, span, msg, help)))
    };
    let file: SnapshotFile = serde_json::from_str(src).map_err(|e| {
        let offset = offset_of(src, e.line(), e.column());
        let msg = e.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        located(
            offset..offset,
            msg,
            Some("see docs/snapshot.md for the format".to_string()),
        )
    })?;
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(file.jobs.len());
    for (i, j) in file.jobs.into_iter().enumerate() {
        let at = || {
            let needle = format!("\"{}\"", j.id);
            let start = src.find(&needle).unwrap_or(0);
            start..start + needle.len()
        };
        if !seen.insert((j.account_id.clone(), j.region.clone(), j.id.clone())) {
            return Err(located(
                at(),
                format!(
                    "jobs[{i}]: job `{}` is listed twice for {}/{}",
                    j.id, j.account_id, j.region
                ),
                None,
            ));
        }
        if !(0..=crate::model::MAX_PRIORITY).contains(&j.priority) {
            return Err(located(
                at(),
                format!("jobs[{i}]: priority {} is negative", j.priority),
                None,
            ));
        }
        let memory = match j.baseline {
            Some(baseline) => Some(JobMemory {
                baseline,
                last_set: j.last_set,
                prev_set: j.prev_set,
                hands_off: j.hands_off,
            }),
            None if j.last_set.is_some() || j.prev_set.is_some() || j.hands_off => {
                return Err(located(
                    at(),
                    format!("jobs[{i}]: `last_set`, `prev_set` and `hands_off` need a `baseline`"),
                    Some("a job s3prio has changed has a baseline; omit all four for a job it never changed".to_string()),
                ))
            }
            None => None,
        };
        out.push(ObservedJob {
            job: Job {
                account_id: j.account_id.into(),
                region: j.region.into(),
                id: j.id,
                description: j.description,
                operation: j.operation,
                priority: j.priority,
                status: j.status,
                creation_time: j.creation_time,
                termination_date: j.termination_date,
                progress: j.progress,
                tags: Some(j.tags),
                details: Some(JobDetails {
                    role_arn: j.role_arn,
                }),
            },
            memory,
        });
    }
    Ok(out)
}

/// Byte offset of a 1-based line / column (serde_json's column is 1-based, 0 at line start).
fn offset_of(src: &str, line: usize, column: usize) -> usize {
    let line_start: usize = src
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    (line_start + column.saturating_sub(1)).min(src.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_jobs_with_and_without_memory() {
        let src = r#"{ "jobs": [
            { "account_id": "123456789012", "region": "us-east-1", "id": "a", "priority": 900,
              "status": "Active", "tags": { "urgent": "true" }, "baseline": 100, "last_set": 900 },
            { "account_id": "123456789012", "region": "us-east-1", "id": "b", "priority": 5,
              "status": "Suspended", "creation_time": "2026-11-30T12:00:00Z",
              "progress": { "total_tasks": 10, "tasks_succeeded": 4, "tasks_failed": 1 } }
        ] }"#;
        let jobs = parse(src, "s.json").expect("valid snapshot");
        assert_eq!(jobs.len(), 2);
        assert_eq!(
            jobs[0].memory.map(|m| (m.baseline, m.last_set)),
            Some((100, Some(900)))
        );
        assert_eq!(
            jobs[0]
                .job
                .tags
                .as_ref()
                .and_then(|t| t.get("urgent"))
                .map(String::as_str),
            Some("true")
        );
        assert_eq!(jobs[1].memory, None);
        assert_eq!(
            jobs[1].job.tags,
            Some(Tags::new()),
            "absent tags mean no tags"
        );
        assert_eq!(jobs[1].job.progress.map(|p| p.percent_done()), Some(50.0));
    }

    #[test]
    fn errors_are_located() {
        let src = "{ \"jobs\": [\n  { \"account_id\": \"123456789012\", \"region\": \"us-east-1\", \"id\": \"a\",\n    \"priority\": 1, \"status\": \"Runing\" }\n] }";
        let e = parse(src, "s.json").expect_err("bad status");
        let text = e.to_string();
        assert!(text.starts_with("s.json:3:"), "{text}");
        assert!(text.contains("Runing"), "{text}");
        let dup = r#"{ "jobs": [
 { "account_id": "123456789012", "region": "us-east-1", "id": "a", "priority": 1, "status": "Active" },
 { "account_id": "123456789012", "region": "us-east-1", "id": "a", "priority": 1, "status": "Active" } ] }"#;
        assert!(parse(dup, "d.json")
            .expect_err("duplicate")
            .to_string()
            .contains("listed twice"));
        let orphan = r#"{ "jobs": [ { "account_id": "1", "region": "r", "id": "a", "priority": 1, "status": "Active", "last_set": 3 } ] }"#;
        assert!(parse(orphan, "o.json")
            .expect_err("no baseline")
            .to_string()
            .contains("need a `baseline`"));
    }
}
