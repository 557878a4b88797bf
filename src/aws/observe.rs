//! Reading jobs: `ListJobs` (all pages), `GetJobTagging`, `DescribeJob`, converted to
//! [`crate::model`] types. Malformed entries are skipped with a warning, never a panic.

use aws_sdk_s3control::types::{JobListDescriptor, JobProgressSummary, JobStatus as SdkStatus};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::call::{CallContext, CallError, Permits};
use crate::model::{Job, JobDetails, JobStatus, ObservedJob, Progress, Tags};

/// Most jobs `ListJobs` returns per page.
pub const PAGE_SIZE: i32 = 1000;

/// The most jobs one listing may hold: twice the largest account benchmarked (100,000 jobs
/// in about 62 MiB). A listing that goes past it is taken for one that never ends.
pub const MAX_LISTED_JOBS: usize = 200_000;

/// The most pages one listing may take: [`MAX_LISTED_JOBS`] at an average of 100 jobs a page.
/// A service that keeps answering with new tokens and few jobs is stopped here.
pub const MAX_LIST_PAGES: usize = 2_000;

fn to_chrono(t: Option<&aws_smithy_types::DateTime>) -> Option<DateTime<Utc>> {
    let t = t?;
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

fn progress(p: Option<&JobProgressSummary>) -> Option<Progress> {
    let p = p?;
    Some(Progress {
        total_tasks: p.total_number_of_tasks().unwrap_or(0),
        tasks_succeeded: p.number_of_tasks_succeeded().unwrap_or(0),
        tasks_failed: p.number_of_tasks_failed().unwrap_or(0),
        elapsed_active_seconds: p.timers().and_then(|t| t.elapsed_time_in_active_seconds()),
    })
}

fn listed_job(account_id: &Arc<str>, region: &Arc<str>, d: &JobListDescriptor) -> Option<Job> {
    let id = d.job_id()?;
    let status = d.status()?.as_str().parse::<JobStatus>().ok()?;
    Some(Job {
        account_id: account_id.clone(),
        region: region.clone(),
        id: id.to_string(),
        description: d.description().map(str::to_string),
        operation: d.operation().map(|o| o.as_str().to_string()),
        priority: d.priority(),
        status,
        creation_time: to_chrono(d.creation_time()),
        termination_date: to_chrono(d.termination_date()),
        progress: progress(d.progress_summary()),
        tags: None,
        details: None,
    })
}

/// All jobs of the account in `statuses`, following `NextToken` to the last page (no memory
/// attached yet). `expected`: how many the last listing had.
///
/// A listing that does not end is an error, not a truncated list (a partial listing would
/// look like jobs that finished): a token seen before (A, B, A, ...), or more than
/// [`MAX_LIST_PAGES`] pages or [`MAX_LISTED_JOBS`] entries.
pub async fn list_jobs(
    client: &aws_sdk_s3control::Client,
    ctx: &CallContext,
    account_id: &str,
    region: &str,
    statuses: &[JobStatus],
    expected: usize,
) -> Result<Vec<ObservedJob>, CallError> {
    let filter: Vec<SdkStatus> = statuses
        .iter()
        .map(|s| SdkStatus::from(s.as_str()))
        .collect();
    // Sized from the last listing: growing a vector of 100,000 jobs by doubling would hold two
    // copies at the peak.
    let mut jobs = Vec::with_capacity(expected + expected / 16);
    let mut token: Option<String> = None;
    let mut skipped = 0usize;
    let (account, reg): (Arc<str>, Arc<str>) = (account_id.into(), region.into());
    let mut pages = 0usize;
    // Hashes of the tokens seen: bounded memory whatever their length.
    let mut seen_tokens = std::collections::HashMap::new();
    let paging = |pages: usize, reason: String| CallError::Paging {
        operation: "ListJobs",
        pages,
        reason,
    };
    loop {
        let page = ctx
            .call("ListJobs", false, || {
                client
                    .list_jobs()
                    .account_id(account_id)
                    .set_job_statuses(Some(filter.clone()))
                    .max_results(PAGE_SIZE)
                    .set_next_token(token.clone())
                    .send()
            })
            .await?;
        pages += 1;
        if jobs.len() + skipped + page.jobs().len() > MAX_LISTED_JOBS {
            return Err(paging(
                pages,
                format!("the listing passed {MAX_LISTED_JOBS} jobs, more than one listing can hold; the service is taken to be misbehaving. If the account really has that many jobs in the managed statuses, narrow `managed_statuses` or split the target"),
            ));
        }
        for d in page.jobs() {
            match listed_job(&account, &reg, d) {
                Some(job) => jobs.push(ObservedJob { job, memory: None }),
                None => skipped += 1,
            }
        }
        let next = match page.next_token() {
            Some(next) if !next.is_empty() => next,
            _ => break,
        };
        if let Some(first) = seen_tokens.insert(token_hash(next), pages) {
            return Err(paging(
                pages,
                format!(
                    "page {pages} returned the NextToken page {first} returned: the listing loops"
                ),
            ));
        }
        if pages >= MAX_LIST_PAGES {
            return Err(paging(
                pages,
                format!("the listing did not end within {MAX_LIST_PAGES} pages; the service is taken to be misbehaving"),
            ));
        }
        token = Some(next.to_string());
    }
    if skipped > 0 {
        tracing::warn!(
            target_name = %ctx.target,
            skipped,
            "ListJobs returned entries without a job id or with an unknown status; they were skipped"
        );
    }
    Ok(jobs)
}

fn token_hash(token: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    token.hash(&mut h);
    h.finish()
}

/// The job's tags (`GetJobTagging`).
pub async fn job_tags(
    client: &aws_sdk_s3control::Client,
    ctx: &CallContext,
    account_id: &str,
    job_id: &str,
    first: Option<Permits>,
) -> Result<Tags, CallError> {
    let out = ctx
        .call_with("GetJobTagging", false, first, || {
            client
                .get_job_tagging()
                .account_id(account_id)
                .job_id(job_id)
                .send()
        })
        .await?;
    Ok(out
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect())
}

/// The fields only `DescribeJob` returns.
pub async fn job_details(
    client: &aws_sdk_s3control::Client,
    ctx: &CallContext,
    account_id: &str,
    job_id: &str,
    first: Option<Permits>,
) -> Result<JobDetails, CallError> {
    let out = ctx
        .call_with("DescribeJob", false, first, || {
            client
                .describe_job()
                .account_id(account_id)
                .job_id(job_id)
                .send()
        })
        .await?;
    Ok(JobDetails {
        role_arn: out.job().and_then(|j| j.role_arn()).map(str::to_string),
    })
}

/// Replaces the job's tag set (`PutJobTagging`).
pub async fn put_tags(
    client: &aws_sdk_s3control::Client,
    ctx: &CallContext,
    account_id: &str,
    job_id: &str,
    tags: &Tags,
    first: Option<Permits>,
) -> Result<(), CallError> {
    let s3tags: Vec<aws_sdk_s3control::types::S3Tag> = tags
        .iter()
        .filter_map(|(k, v)| {
            aws_sdk_s3control::types::S3Tag::builder()
                .key(k)
                .value(v)
                .build()
                .ok()
        })
        .collect();
    ctx.call_with("PutJobTagging", true, first, || {
        client
            .put_job_tagging()
            .account_id(account_id)
            .job_id(job_id)
            .set_tags(Some(s3tags.clone()))
            .send()
    })
    .await?;
    Ok(())
}

/// Sets the job's priority (`UpdateJobPriority`); returns the priority the service reports.
pub async fn update_priority(
    client: &aws_sdk_s3control::Client,
    ctx: &CallContext,
    account_id: &str,
    job_id: &str,
    priority: i32,
    first: Option<Permits>,
) -> Result<i32, CallError> {
    let out = ctx
        .call_with("UpdateJobPriority", true, first, || {
            client
                .update_job_priority()
                .account_id(account_id)
                .job_id(job_id)
                .priority(priority)
                .send()
        })
        .await?;
    Ok(out.priority())
}

/// The name of the operation a `DescribeJob` reports (its one member that is set).
fn operation_name(op: &aws_sdk_s3control::types::JobOperation) -> Option<&'static str> {
    let names = [
        (op.lambda_invoke().is_some(), "LambdaInvoke"),
        (op.s3_put_object_copy().is_some(), "S3PutObjectCopy"),
        (op.s3_put_object_acl().is_some(), "S3PutObjectAcl"),
        (op.s3_put_object_tagging().is_some(), "S3PutObjectTagging"),
        (
            op.s3_delete_object_tagging().is_some(),
            "S3DeleteObjectTagging",
        ),
        (
            op.s3_initiate_restore_object().is_some(),
            "S3InitiateRestoreObject",
        ),
        (
            op.s3_put_object_legal_hold().is_some(),
            "S3PutObjectLegalHold",
        ),
        (
            op.s3_put_object_retention().is_some(),
            "S3PutObjectRetention",
        ),
        (op.s3_replicate_object().is_some(), "S3ReplicateObject"),
        (
            op.s3_compute_object_checksum().is_some(),
            "S3ComputeObjectChecksum",
        ),
        (
            op.s3_update_object_encryption().is_some(),
            "S3UpdateObjectEncryption",
        ),
    ];
    names
        .into_iter()
        .find_map(|(set, name)| set.then_some(name))
}

/// One job as `DescribeJob` reports it (everything `ListJobs` has, and its details), without
/// listing the account. `NotFound` when the account has no such job.
pub async fn describe_job(
    client: &aws_sdk_s3control::Client,
    ctx: &CallContext,
    account_id: &str,
    region: &str,
    job_id: &str,
) -> Result<Job, CallError> {
    let out = ctx
        .call("DescribeJob", false, || {
            client
                .describe_job()
                .account_id(account_id)
                .job_id(job_id)
                .send()
        })
        .await?;
    let unreadable = |what: &str| CallError::Failed {
        operation: "DescribeJob",
        kind: super::FailureKind::BadRequest,
        attempts: 1,
        message: format!("the response has no {what} for job {job_id}"),
    };
    let d = out.job().ok_or_else(|| unreadable("job"))?;
    let status = d
        .status()
        .and_then(|s| s.as_str().parse::<JobStatus>().ok())
        .ok_or_else(|| unreadable("known status"))?;
    Ok(Job {
        account_id: account_id.into(),
        region: region.into(),
        id: d.job_id().unwrap_or(job_id).to_string(),
        description: d.description().map(str::to_string),
        operation: d.operation().and_then(operation_name).map(str::to_string),
        priority: d.priority(),
        status,
        creation_time: to_chrono(d.creation_time()),
        termination_date: to_chrono(d.termination_date()),
        progress: progress(d.progress_summary()),
        tags: None,
        details: Some(JobDetails {
            role_arn: d.role_arn().map(str::to_string),
        }),
    })
}
