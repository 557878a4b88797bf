//! The HTTP side: the router and the common request path every S3 Control job request takes
//! (request id, outage, latency, account, throttle, faults, query, job id, stats). Routing, the
//! operations, the body limit, the connections and the `/_emulator/` endpoints live in their
//! own files.

mod body;
mod control;
mod jobs;
mod listener;
mod route;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::Utc;
use rand::Rng;
use tokio::time::Instant;

pub use body::MAX_BODY_BYTES;
pub use jobs::MAX_LIST_RESULTS;
pub(crate) use listener::{ConnInfo, EmulatorListener};

use super::error::ApiError;
use super::job::{is_valid_account_id, is_valid_job_id};
use super::org_api;
use super::state::{lock, EmulatorState, Faults};
use super::stats::{OUTCOME_DROPPED, OUTCOME_OK};
use super::wire;
use jobs::JobRequest;
use route::{route, Operation};

pub(crate) fn router(state: Arc<EmulatorState>) -> Router {
    control::routes().fallback(dispatch).with_state(state)
}

fn xml_response(status: u16, body: String, request_id: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, body).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-amz-request-id", v.clone());
        headers.insert("x-amz-id-2", v);
    }
    resp
}

/// Every S3 Control request goes through here.
async fn dispatch(
    State(state): State<Arc<EmulatorState>>,
    ConnectInfo(conn): ConnectInfo<ConnInfo>,
    req: axum::extract::Request,
) -> Response {
    let request_id = state.next_request_id();
    let (parts, body) = req.into_parts();
    let routed = route(&parts.method, parts.uri.path());
    let op = routed
        .as_ref()
        .map(|(op, _)| *op)
        .unwrap_or(Operation::Unknown);
    let job_id = routed.as_ref().ok().and_then(|(_, id)| id.clone());
    let job_id = job_id.as_deref();
    let account = parts
        .headers
        .get("x-amz-account-id")
        .and_then(|v| v.to_str().ok())
        .filter(|a| is_valid_account_id(a));

    if state.is_down() {
        conn.kill();
        state.record(op.name(), account, job_id, OUTCOME_DROPPED);
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let faults = *lock(&state.faults);
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    // Organizations and STS: `POST /`, a path no job operation uses.
    if parts.method == axum::http::Method::POST && parts.uri.path() == "/" {
        return match body::read_body(body).await {
            Ok(bytes) => org_api::handle(&state, &parts.headers, &bytes, &request_id),
            Err(err) => xml_response(
                err.status,
                wire::error_response(&err, &request_id),
                &request_id,
            ),
        };
    }
    attribute(&state, &parts.headers, account, op);
    let outcome = match routed {
        Err(e) => Err(e),
        Ok((op, id)) => handle(&state, &faults, op, id, &parts.headers, &parts.uri, body).await,
    };
    match outcome {
        Ok(Reply::Xml(body)) => {
            state.record(op.name(), account, job_id, OUTCOME_OK);
            xml_response(200, body, &request_id)
        }
        Ok(Reply::Drop) => {
            conn.kill();
            state.record(op.name(), account, job_id, OUTCOME_DROPPED);
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        Err(err) => {
            state.record(op.name(), account, job_id, err.code);
            xml_response(
                err.status,
                wire::error_response(&err, &request_id),
                &request_id,
            )
        }
    }
}

/// Counts a job request signed with credentials this emulator's STS handed out, and whether
/// the role belongs to another account than the request's (a client that mixed up targets);
/// and, for ListJobs, who listed which `ACCOUNT/REGION`.
fn attribute(state: &EmulatorState, headers: &HeaderMap, account: Option<&str>, op: Operation) {
    let Some(key) = org_api::access_key(headers) else {
        return;
    };
    let (role_account, principal) = {
        let org = lock(&state.org);
        (
            org.session_account(&key).map(str::to_string),
            org.principal(&key),
        )
    };
    let mut stats = lock(&state.stats);
    if let Some(role_account) = role_account {
        stats.assumed_role_calls += 1;
        if Some(role_account.as_str()) != account {
            stats.foreign_role_calls += 1;
        }
    }
    if let (Operation::ListJobs, Some(account)) = (op, account) {
        let region = org_api::signed_region(headers).unwrap_or_else(|| "?".into());
        *stats
            .list_jobs_by_principal
            .entry(principal)
            .or_default()
            .entry(format!("{account}/{region}"))
            .or_default() += 1;
    }
}

enum Reply {
    Xml(String),
    Drop,
}

/// A routed job request: admitted (account, throttle, faults), its query and job id checked,
/// then handed to its operation.
async fn handle(
    state: &EmulatorState,
    faults: &Faults,
    op: Operation,
    id: Option<String>,
    headers: &HeaderMap,
    uri: &Uri,
    body: Body,
) -> Result<Reply, ApiError> {
    let account = account_id(op, headers)?;
    throttle(state, faults, &account)?;
    if let Some(reply) = injected_fault(state, faults)? {
        return Ok(reply);
    }
    let query = query_pairs(op, uri)?;
    let id = checked_job_id(id)?;
    let req = JobRequest {
        state,
        account,
        id,
        query,
        now: Utc::now(),
    };
    let xml = match op {
        Operation::ListJobs => jobs::list_jobs(&req)?,
        Operation::CreateJob => jobs::create_job(&req, body).await?,
        Operation::DescribeJob => jobs::describe_job(&req)?,
        Operation::GetJobTagging => jobs::get_job_tagging(&req)?,
        Operation::PutJobTagging => jobs::put_job_tagging(&req, body).await?,
        Operation::DeleteJobTagging => jobs::delete_job_tagging(&req)?,
        Operation::UpdateJobPriority => jobs::update_job_priority(&req)?,
        Operation::UpdateJobStatus => jobs::update_job_status(&req)?,
        Operation::Unknown => return Err(ApiError::unknown_operation("?", uri.path())),
    };
    Ok(Reply::Xml(xml))
}

/// The `x-amz-account-id` header: present and 12 digits.
fn account_id(op: Operation, headers: &HeaderMap) -> Result<String, ApiError> {
    match headers.get("x-amz-account-id").map(|v| v.to_str()) {
        None => Err(op.input_error("missing x-amz-account-id header (a 12-digit account id)")),
        Some(Ok(a)) if is_valid_account_id(a) => Ok(a.to_string()),
        Some(_) => Err(op.input_error("x-amz-account-id must be 12 digits")),
    }
}

/// TooManyRequestsException when the account's token bucket is empty, or when a throttle
/// storm's roll says so.
fn throttle(state: &EmulatorState, faults: &Faults, account: &str) -> Result<(), ApiError> {
    if !lock(&state.buckets).try_acquire(account, Instant::now()) {
        return Err(ApiError::throttled());
    }
    if faults.throttle_fraction > 0.0 {
        let roll: f64 = lock(&state.rng).random();
        if roll < faults.throttle_fraction {
            return Err(ApiError::throttled());
        }
    }
    Ok(())
}

/// One roll decides a dropped connection (`Some(Reply::Drop)`), an InternalServiceException
/// or neither.
fn injected_fault(state: &EmulatorState, faults: &Faults) -> Result<Option<Reply>, ApiError> {
    if faults.drop_rate > 0.0 || faults.fault_rate > 0.0 {
        let roll: f64 = lock(&state.rng).random();
        if roll < faults.drop_rate {
            return Ok(Some(Reply::Drop));
        }
        if roll < faults.drop_rate + faults.fault_rate {
            lock(&state.stats).faults += 1;
            return Err(ApiError::internal());
        }
    }
    Ok(None)
}

fn query_pairs(op: Operation, uri: &Uri) -> Result<Vec<(String, String)>, ApiError> {
    match uri.query() {
        None => Ok(Vec::new()),
        Some(_) => Ok(Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map_err(|e| op.input_error(format!("malformed query string: {e}")))?
            .0),
    }
}

/// The job id from the path, if any, must match the model's pattern; none becomes empty.
fn checked_job_id(id: Option<String>) -> Result<String, ApiError> {
    if let Some(id) = &id {
        if !is_valid_job_id(id) {
            return Err(ApiError::bad_request(format!(
                "job id `{id}` is not valid: 5..36 characters of letters, digits, - and _"
            )));
        }
    }
    Ok(id.unwrap_or_default())
}
