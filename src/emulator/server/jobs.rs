//! The S3 Control job operations, one handler each: what the request changes in the store and
//! the document it answers with. Every handler runs after the common request path has checked
//! the account, the throttle, the injected faults, the query string and the job id.

use axum::body::Body;
use chrono::{DateTime, Utc};

use super::body::read_body;
use crate::emulator::error::ApiError;
use crate::emulator::job::{EmulatorJob, JobStatus, Progress};
use crate::emulator::requests;
use crate::emulator::state::{lock, EmulatorState};
use crate::emulator::store::ListKey;
use crate::emulator::wire;

/// ListJobs pages hold at most this many jobs (also the default); a larger `maxResults` is an
/// InvalidRequestException, as the model's range is 0..1000.
pub const MAX_LIST_RESULTS: usize = 1000;

/// One admitted job-API request.
pub(super) struct JobRequest<'a> {
    pub state: &'a EmulatorState,
    /// The 12-digit `x-amz-account-id`.
    pub account: String,
    /// The job the path names (empty for ListJobs and CreateJob).
    pub id: String,
    pub query: Vec<(String, String)>,
    /// When the request arrived (wall clock).
    pub now: DateTime<Utc>,
}

impl JobRequest<'_> {
    /// The first value of a query parameter.
    fn single(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub(super) fn describe_job(r: &JobRequest<'_>) -> Result<String, ApiError> {
    Ok(wire::describe_job(
        lock(&r.state.store).existing(&r.account, &r.id)?,
    ))
}

pub(super) fn get_job_tagging(r: &JobRequest<'_>) -> Result<String, ApiError> {
    Ok(wire::get_job_tagging(
        lock(&r.state.store).existing(&r.account, &r.id)?,
    ))
}

pub(super) async fn put_job_tagging(r: &JobRequest<'_>, body: Body) -> Result<String, ApiError> {
    let tags = requests::parse_put_job_tagging(&read_body(body).await?)?;
    lock(&r.state.store).put_tags(&r.account, &r.id, tags)?;
    r.state.mark_dirty();
    Ok(wire::put_job_tagging())
}

pub(super) fn delete_job_tagging(r: &JobRequest<'_>) -> Result<String, ApiError> {
    lock(&r.state.store).put_tags(&r.account, &r.id, Vec::new())?;
    r.state.mark_dirty();
    Ok(wire::delete_job_tagging())
}

pub(super) fn update_job_priority(r: &JobRequest<'_>) -> Result<String, ApiError> {
    let raw = r
        .single("priority")
        .ok_or_else(|| ApiError::bad_request("the priority query parameter is required"))?;
    let priority = requests::parse_priority(raw)?;
    lock(&r.state.store)
        .existing_mut(&r.account, &r.id)?
        .priority = priority;
    r.state.mark_dirty();
    r.state.log_priority_update(&r.account, &r.id, priority);
    Ok(wire::update_job_priority(&r.id, priority))
}

pub(super) fn update_job_status(r: &JobRequest<'_>) -> Result<String, ApiError> {
    let raw = r.single("requestedJobStatus").ok_or_else(|| {
        ApiError::bad_request("the requestedJobStatus query parameter is required")
    })?;
    let requested: JobStatus = raw.parse().map_err(|()| {
        ApiError::bad_request(format!("requestedJobStatus `{raw}` is not a job status"))
    })?;
    let reason = r.single("statusUpdateReason").map(str::to_string);
    if reason
        .as_ref()
        .is_some_and(|r| !(1..=256).contains(&r.chars().count()))
    {
        return Err(ApiError::bad_request(
            "statusUpdateReason must be 1..256 characters",
        ));
    }
    let mut store = lock(&r.state.store);
    let job = store.request_status(&r.account, &r.id, requested, reason, r.now)?;
    r.state.mark_dirty();
    Ok(wire::update_job_status(job))
}

pub(super) fn list_jobs(r: &JobRequest<'_>) -> Result<String, ApiError> {
    let mut statuses = 0u16;
    let mut max = MAX_LIST_RESULTS;
    let mut cursor = None;
    for (k, v) in &r.query {
        match k.as_str() {
            "jobStatuses" => {
                let s: JobStatus = v.parse().map_err(|()| {
                    ApiError::invalid_request(format!("jobStatuses `{v}` is not a job status"))
                })?;
                statuses |= s.bit();
            }
            "maxResults" => max = parse_max_results(v)?,
            "nextToken" => {
                cursor = Some(ListKey::from_token(v).ok_or_else(ApiError::invalid_next_token)?);
            }
            _ => {}
        }
    }
    let store = lock(&r.state.store);
    let page = store.list(&r.account, statuses, max, cursor.as_ref(), Utc::now());
    let token = page.next.as_ref().map(ListKey::to_token);
    Ok(wire::list_jobs(&page.jobs, token.as_deref()))
}

/// `maxResults`: 0 means the default, the model's range is 0..1000.
fn parse_max_results(v: &str) -> Result<usize, ApiError> {
    let n: i64 = v
        .parse()
        .map_err(|_| ApiError::invalid_request(format!("maxResults `{v}` is not an integer")))?;
    match usize::try_from(n) {
        Ok(0) => Ok(MAX_LIST_RESULTS),
        Ok(n) if n <= MAX_LIST_RESULTS => Ok(n),
        _ => Err(ApiError::invalid_request(format!(
            "maxResults {n} is outside 0..{MAX_LIST_RESULTS}"
        ))),
    }
}

/// CreateJob: a new job in status New, or the job an earlier request with the same
/// ClientRequestToken and the same body created.
pub(super) async fn create_job(r: &JobRequest<'_>, body: Body) -> Result<String, ApiError> {
    let req = requests::parse_create_job(&read_body(body).await?)?;
    let mut store = lock(&r.state.store);
    if let Some(id) = store.token_job(&r.account, &req.client_request_token, req.fingerprint)? {
        return Ok(wire::create_job(&id));
    }
    let id = store.new_id(&r.account);
    let job = EmulatorJob {
        id: id.clone(),
        account_id: r.account.clone(),
        description: req.description,
        operation: req.operation,
        priority: req.priority,
        status: JobStatus::New,
        creation_time: r.now,
        termination_date: None,
        tags: req.tags,
        progress: Progress {
            total_tasks: 10_000,
            ..Progress::default()
        },
        role_arn: req.role_arn,
        confirmation_required: req.confirmation_required,
        status_update_reason: None,
        failure_reasons: Vec::new(),
        suspended_date: None,
        suspended_cause: None,
        operation_xml: Some(req.operation_xml),
        manifest_xml: req.manifest_xml,
        manifest_generator_xml: req.manifest_generator_xml,
        report_xml: Some(req.report_xml),
        seconds_in_status: 0.0,
    };
    store.insert(job);
    store.remember_token(
        &r.account,
        req.client_request_token,
        req.fingerprint,
        id.clone(),
    );
    r.state.mark_dirty();
    Ok(wire::create_job(&id))
}
