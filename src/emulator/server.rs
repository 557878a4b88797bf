//! The HTTP side: a listener that can drop connections, the S3 Control job routes, the
//! common request path (request id, outage, latency, account, throttle, faults, stats) and the
//! `/_emulator/` introspection endpoints.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::{IncomingStream, Listener};
use axum::Router;
use chrono::Utc;
use rand::rngs::SmallRng;
use rand::Rng;
use serde::{Deserialize, Deserializer, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use super::error::ApiError;
use super::job::{is_valid_account_id, is_valid_job_id, EmulatorJob, JobStatus, Progress};
use super::requests;
use super::stats::{Stats, OUTCOME_DROPPED, OUTCOME_OK};
use super::store::{ListKey, Store};
use super::throttle::{AccountBuckets, Throttle};
use super::wire;

/// Request bodies above this size are refused with EntityTooLarge (413).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// ListJobs pages hold at most this many jobs (also the default); a larger `maxResults` is an
/// InvalidRequestException, as the model's range is 0..1000.
pub const MAX_LIST_RESULTS: usize = 1000;

/// One successful UpdateJobPriority, for benchmarks that measure when the last change landed.
#[derive(Debug, Clone, PartialEq)]
pub struct PriorityUpdate {
    pub account_id: String,
    pub job_id: String,
    pub priority: i32,
    pub at: Instant,
    pub wall: SystemTime,
}

/// One request as the emulator saw it, for benchmarks that time what a client did to a job.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    pub at: Instant,
    pub operation: &'static str,
    pub job_id: Option<String>,
    /// `ok`, an error code, or `dropped`.
    pub outcome: String,
}

/// The update log keeps at most this many entries (oldest dropped first).
const MAX_PRIORITY_UPDATES: usize = 1_000_000;

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Faults {
    pub fault_rate: f64,
    /// Fraction of requests answered with TooManyRequestsException whatever the bucket says
    /// (a throttle storm).
    pub throttle_fraction: f64,
    pub drop_rate: f64,
    pub latency: Duration,
    pub down: bool,
    pub down_until: Option<Instant>,
}

/// Everything the request handlers, background tasks and the handle share.
pub(crate) struct Shared {
    pub store: Mutex<Store>,
    pub buckets: Mutex<AccountBuckets>,
    pub stats: Mutex<Stats>,
    pub faults: Mutex<Faults>,
    pub rng: Mutex<SmallRng>,
    pub priority_updates: Mutex<Vec<PriorityUpdate>>,
    /// Every job-API request, when turned on (`EmulatorHandle::start_request_log`).
    pub request_log: Mutex<Option<Vec<RequestRecord>>>,
    pub request_counter: AtomicU64,
    pub seed: u64,
    /// Set by every change to the jobs; cleared when the state file is written.
    pub dirty: AtomicBool,
}

/// Locks a mutex, recovering the data if a previous holder panicked: one failed request must
/// not take the emulator down with it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    pub fn is_down(&self) -> bool {
        let f = lock(&self.faults);
        f.down || f.down_until.is_some_and(|t| Instant::now() < t)
    }

    fn next_request_id(&self) -> String {
        let n = self.request_counter.fetch_add(1, Ordering::Relaxed);
        // splitmix64: ids look random but are unique per emulator.
        let mut z = n
            .wrapping_add(self.seed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        format!("{:016X}", z ^ (z >> 31))
    }

    pub fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::Relaxed);
    }

    fn record(&self, op: Operation, job_id: Option<&str>, outcome: &str) {
        lock(&self.stats).record(op.name(), outcome);
        if let Some(log) = lock(&self.request_log).as_mut() {
            if log.len() < MAX_PRIORITY_UPDATES {
                log.push(RequestRecord {
                    at: Instant::now(),
                    operation: op.name(),
                    job_id: job_id.map(str::to_string),
                    outcome: outcome.to_string(),
                });
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Listener: connections the emulator can drop on purpose.

/// Per-connection info handed to the handlers: the peer and a switch that kills the connection.
#[derive(Debug, Clone)]
pub(crate) struct ConnInfo {
    kill: Arc<AtomicBool>,
}

impl ConnInfo {
    fn kill(&self) {
        self.kill.store(true, Ordering::Relaxed);
    }
}

/// A TCP stream that fails every read and write once its connection is killed, so the server
/// closes it without answering (what a client sees when a load balancer drops it).
pub(crate) struct KillableStream {
    inner: TcpStream,
    kill: Arc<AtomicBool>,
}

fn killed() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "connection dropped by the emulator",
    )
}

impl AsyncRead for KillableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.kill.load(Ordering::Relaxed) {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.kill.load(Ordering::Relaxed) {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

pub(crate) struct EmulatorListener {
    pub inner: TcpListener,
    pub shared: Arc<Shared>,
}

impl Listener for EmulatorListener {
    type Io = KillableStream;
    type Addr = ConnInfo;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, _peer)) => {
                    if self.shared.is_down() {
                        // Outage: close at once, before reading a byte.
                        lock(&self.shared.stats).dropped += 1;
                        drop(stream);
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    let kill = Arc::new(AtomicBool::new(false));
                    return (
                        KillableStream {
                            inner: stream,
                            kill: kill.clone(),
                        },
                        ConnInfo { kill },
                    );
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::debug!(error = %e, "emulator accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()?;
        Ok(ConnInfo {
            kill: Arc::new(AtomicBool::new(false)),
        })
    }
}

impl axum::extract::connect_info::Connected<IncomingStream<'_, EmulatorListener>> for ConnInfo {
    fn connect_info(stream: IncomingStream<'_, EmulatorListener>) -> Self {
        stream.remote_addr().clone()
    }
}

// ---------------------------------------------------------------------------------------------
// Routing.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    ListJobs,
    CreateJob,
    DescribeJob,
    GetJobTagging,
    PutJobTagging,
    DeleteJobTagging,
    UpdateJobPriority,
    UpdateJobStatus,
    Unknown,
}

impl Operation {
    pub fn name(self) -> &'static str {
        match self {
            Operation::ListJobs => "ListJobs",
            Operation::CreateJob => "CreateJob",
            Operation::DescribeJob => "DescribeJob",
            Operation::GetJobTagging => "GetJobTagging",
            Operation::PutJobTagging => "PutJobTagging",
            Operation::DeleteJobTagging => "DeleteJobTagging",
            Operation::UpdateJobPriority => "UpdateJobPriority",
            Operation::UpdateJobStatus => "UpdateJobStatus",
            Operation::Unknown => "Unknown",
        }
    }

    /// The code for malformed input: ListJobs models InvalidRequestException, the others
    /// BadRequestException.
    fn input_error(self, message: impl Into<String>) -> ApiError {
        match self {
            Operation::ListJobs => ApiError::invalid_request(message),
            _ => ApiError::bad_request(message),
        }
    }
}

fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Method + path -> operation and job id (still percent-encoded ids are decoded here).
fn route(method: &Method, path: &str) -> Result<(Operation, Option<String>), ApiError> {
    let rest = path.strip_prefix("/v20180820/jobs");
    let segments: Option<Vec<&str>> = match rest {
        Some("") | Some("/") => Some(Vec::new()),
        Some(r) if r.starts_with('/') => Some(r[1..].trim_end_matches('/').split('/').collect()),
        _ => None,
    };
    let unknown = || ApiError::unknown_operation(method.as_str(), path);
    let Some(segments) = segments else {
        return Err(unknown());
    };
    let decode = |s: &str| {
        percent_decode(s)
            .ok_or_else(|| ApiError::bad_request("the job id is not valid percent-encoded UTF-8"))
    };
    let (ops, id): (&[(Method, Operation)], Option<String>) = match segments.as_slice() {
        [] => (
            &[
                (Method::GET, Operation::ListJobs),
                (Method::POST, Operation::CreateJob),
            ],
            None,
        ),
        [id] => (&[(Method::GET, Operation::DescribeJob)], Some(decode(id)?)),
        [id, "tagging"] => (
            &[
                (Method::GET, Operation::GetJobTagging),
                (Method::PUT, Operation::PutJobTagging),
                (Method::DELETE, Operation::DeleteJobTagging),
            ],
            Some(decode(id)?),
        ),
        [id, "priority"] => (
            &[(Method::POST, Operation::UpdateJobPriority)],
            Some(decode(id)?),
        ),
        [id, "status"] => (
            &[(Method::POST, Operation::UpdateJobStatus)],
            Some(decode(id)?),
        ),
        _ => return Err(unknown()),
    };
    match ops.iter().find(|(m, _)| m == method) {
        Some((_, op)) => Ok((*op, id)),
        None => Err(ApiError::method_not_allowed(method.as_str(), path)),
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/_emulator/stats", get(stats_handler))
        .route("/_emulator/stats/reset", post(reset_stats_handler))
        .route(
            "/_emulator/control",
            get(control_get_handler).post(control_handler),
        )
        .fallback(dispatch)
        .with_state(shared)
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
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnInfo>,
    req: axum::extract::Request,
) -> Response {
    let request_id = shared.next_request_id();
    let (parts, body) = req.into_parts();
    let routed = route(&parts.method, parts.uri.path());
    let op = routed
        .as_ref()
        .map(|(op, _)| *op)
        .unwrap_or(Operation::Unknown);
    let job_id = routed.as_ref().ok().and_then(|(_, id)| id.clone());
    let job_id = job_id.as_deref();

    if shared.is_down() {
        conn.kill();
        shared.record(op, job_id, OUTCOME_DROPPED);
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let faults = *lock(&shared.faults);
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    let outcome = match routed {
        Err(e) => Err(e),
        Ok((op, id)) => handle(&shared, &faults, op, id, &parts.headers, &parts.uri, body).await,
    };
    match outcome {
        Ok(Reply::Xml(body)) => {
            shared.record(op, job_id, OUTCOME_OK);
            xml_response(200, body, &request_id)
        }
        Ok(Reply::Drop) => {
            conn.kill();
            shared.record(op, job_id, OUTCOME_DROPPED);
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        Err(err) => {
            shared.record(op, job_id, err.code);
            xml_response(
                err.status,
                wire::error_response(&err, &request_id),
                &request_id,
            )
        }
    }
}

enum Reply {
    Xml(String),
    Drop,
}

async fn handle(
    shared: &Shared,
    faults: &Faults,
    op: Operation,
    id: Option<String>,
    headers: &HeaderMap,
    uri: &Uri,
    body: Body,
) -> Result<Reply, ApiError> {
    let account = match headers.get("x-amz-account-id").map(|v| v.to_str()) {
        None => {
            return Err(op.input_error("missing x-amz-account-id header (a 12-digit account id)"))
        }
        Some(Ok(a)) if is_valid_account_id(a) => a.to_string(),
        Some(_) => return Err(op.input_error("x-amz-account-id must be 12 digits")),
    };
    if !lock(&shared.buckets).try_acquire(&account, Instant::now()) {
        return Err(ApiError::throttled());
    }
    if faults.throttle_fraction > 0.0 {
        let roll: f64 = lock(&shared.rng).random();
        if roll < faults.throttle_fraction {
            return Err(ApiError::throttled());
        }
    }
    if faults.drop_rate > 0.0 || faults.fault_rate > 0.0 {
        let roll: f64 = lock(&shared.rng).random();
        if roll < faults.drop_rate {
            return Ok(Reply::Drop);
        }
        if roll < faults.drop_rate + faults.fault_rate {
            lock(&shared.stats).faults += 1;
            return Err(ApiError::internal());
        }
    }
    let query: Vec<(String, String)> = match uri.query() {
        None => Vec::new(),
        Some(_) => {
            Query::<Vec<(String, String)>>::try_from_uri(uri)
                .map_err(|e| op.input_error(format!("malformed query string: {e}")))?
                .0
        }
    };
    if let Some(id) = &id {
        if !is_valid_job_id(id) {
            return Err(ApiError::bad_request(format!(
                "job id `{id}` is not valid: 5..36 characters of letters, digits, - and _"
            )));
        }
    }
    let id = id.unwrap_or_default();
    let now = Utc::now();
    let xml = match op {
        Operation::ListJobs => list_jobs(shared, &account, &query)?,
        Operation::DescribeJob => wire::describe_job(lock(&shared.store).existing(&account, &id)?),
        Operation::GetJobTagging => {
            wire::get_job_tagging(lock(&shared.store).existing(&account, &id)?)
        }
        Operation::PutJobTagging => {
            let tags = requests::parse_put_job_tagging(&read_body(body).await?)?;
            lock(&shared.store).put_tags(&account, &id, tags)?;
            shared.mark_dirty();
            wire::put_job_tagging()
        }
        Operation::DeleteJobTagging => {
            lock(&shared.store).put_tags(&account, &id, Vec::new())?;
            shared.mark_dirty();
            wire::delete_job_tagging()
        }
        Operation::UpdateJobPriority => {
            let raw = single(&query, "priority")
                .ok_or_else(|| ApiError::bad_request("the priority query parameter is required"))?;
            let priority = requests::parse_priority(raw)?;
            lock(&shared.store).existing_mut(&account, &id)?.priority = priority;
            shared.mark_dirty();
            let mut log = lock(&shared.priority_updates);
            if log.len() >= MAX_PRIORITY_UPDATES {
                log.drain(..MAX_PRIORITY_UPDATES / 10);
            }
            log.push(PriorityUpdate {
                account_id: account.clone(),
                job_id: id.clone(),
                priority,
                at: Instant::now(),
                wall: SystemTime::now(),
            });
            wire::update_job_priority(&id, priority)
        }
        Operation::UpdateJobStatus => {
            let raw = single(&query, "requestedJobStatus").ok_or_else(|| {
                ApiError::bad_request("the requestedJobStatus query parameter is required")
            })?;
            let requested: JobStatus = raw.parse().map_err(|()| {
                ApiError::bad_request(format!("requestedJobStatus `{raw}` is not a job status"))
            })?;
            let reason = single(&query, "statusUpdateReason").map(str::to_string);
            if reason
                .as_ref()
                .is_some_and(|r| !(1..=256).contains(&r.chars().count()))
            {
                return Err(ApiError::bad_request(
                    "statusUpdateReason must be 1..256 characters",
                ));
            }
            let mut store = lock(&shared.store);
            let job = store.request_status(&account, &id, requested, reason, now)?;
            shared.mark_dirty();
            wire::update_job_status(job)
        }
        Operation::CreateJob => {
            let req = requests::parse_create_job(&read_body(body).await?)?;
            wire::create_job(&create_job(shared, &account, req, now)?)
        }
        Operation::Unknown => return Err(ApiError::unknown_operation("?", uri.path())),
    };
    Ok(Reply::Xml(xml))
}

fn single<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Past the limit, the rest of an upload is read and discarded up to this size, so the client
/// gets its EntityTooLarge answer instead of a reset connection.
const MAX_DRAIN_BYTES: usize = 16 * MAX_BODY_BYTES;

async fn read_body(mut body: Body) -> Result<Bytes, ApiError> {
    use axum::body::HttpBody;
    let mut buf: Vec<u8> = Vec::new();
    let mut seen = 0usize;
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            None => break,
            Some(Err(e)) => {
                return Err(ApiError::bad_request(format!(
                    "cannot read the request body: {e}"
                )))
            }
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    seen = seen.saturating_add(data.len());
                    if seen <= MAX_BODY_BYTES {
                        buf.extend_from_slice(&data);
                    } else if seen > MAX_DRAIN_BYTES {
                        break;
                    }
                }
            }
        }
    }
    if seen > MAX_BODY_BYTES {
        return Err(ApiError::too_large(MAX_BODY_BYTES));
    }
    Ok(Bytes::from(buf))
}

fn list_jobs(
    shared: &Shared,
    account: &str,
    query: &[(String, String)],
) -> Result<String, ApiError> {
    let mut statuses = 0u16;
    let mut max = MAX_LIST_RESULTS;
    let mut cursor = None;
    for (k, v) in query {
        match k.as_str() {
            "jobStatuses" => {
                let s: JobStatus = v.parse().map_err(|()| {
                    ApiError::invalid_request(format!("jobStatuses `{v}` is not a job status"))
                })?;
                statuses |= s.bit();
            }
            "maxResults" => {
                let n: i64 = v.parse().map_err(|_| {
                    ApiError::invalid_request(format!("maxResults `{v}` is not an integer"))
                })?;
                max = match usize::try_from(n) {
                    Ok(0) => MAX_LIST_RESULTS,
                    Ok(n) if n <= MAX_LIST_RESULTS => n,
                    _ => {
                        return Err(ApiError::invalid_request(format!(
                            "maxResults {n} is outside 0..{MAX_LIST_RESULTS}"
                        )))
                    }
                };
            }
            "nextToken" => {
                cursor = Some(ListKey::from_token(v).ok_or_else(ApiError::invalid_next_token)?);
            }
            _ => {}
        }
    }
    let store = lock(&shared.store);
    let page = store.list(account, statuses, max, cursor.as_ref(), Utc::now());
    let token = page.next.as_ref().map(ListKey::to_token);
    Ok(wire::list_jobs(&page.jobs, token.as_deref()))
}

fn create_job(
    shared: &Shared,
    account: &str,
    req: requests::CreateJobRequest,
    now: chrono::DateTime<Utc>,
) -> Result<String, ApiError> {
    let mut store = lock(&shared.store);
    if let Some(id) = store.token_job(account, &req.client_request_token, req.fingerprint)? {
        return Ok(id);
    }
    let id = store.new_id(account);
    let job = EmulatorJob {
        id: id.clone(),
        account_id: account.to_string(),
        description: req.description,
        operation: req.operation,
        priority: req.priority,
        status: JobStatus::New,
        creation_time: now,
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
        account,
        req.client_request_token,
        req.fingerprint,
        id.clone(),
    );
    shared.mark_dirty();
    Ok(id)
}

// ---------------------------------------------------------------------------------------------
// /_emulator/: introspection and control (never counted in the stats).

fn json_response(status: StatusCode, value: &impl Serialize) -> Response {
    let body =
        serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

async fn stats_handler(State(shared): State<Arc<Shared>>) -> Response {
    let stats = lock(&shared.stats).clone();
    json_response(StatusCode::OK, &stats)
}

async fn reset_stats_handler(State(shared): State<Arc<Shared>>) -> Response {
    reset_stats(&shared);
    json_response(StatusCode::OK, &serde_json::json!({ "reset": true }))
}

pub(crate) fn reset_stats(shared: &Shared) {
    *lock(&shared.stats) = Stats::default();
    lock(&shared.priority_updates).clear();
}

/// Body of `POST /_emulator/control`; every field is optional and only given ones change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ControlRequest {
    /// `{"rps": 5, "burst": 5}` sets the limit, `null` lifts it.
    #[serde(default, deserialize_with = "present")]
    throttle: Option<Option<Throttle>>,
    fault_rate: Option<f64>,
    drop_rate: Option<f64>,
    latency_ms: Option<u64>,
    /// Outage for this long: every connection is dropped, this endpoint included.
    down_for_ms: Option<u64>,
    /// `false` ends an outage (reachable only in the short window an in-process test leaves).
    down: Option<bool>,
}

fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Serialize)]
struct ControlState {
    throttle: Option<Throttle>,
    fault_rate: f64,
    drop_rate: f64,
    latency_ms: u128,
    down: bool,
    jobs: usize,
}

fn control_state(shared: &Shared) -> ControlState {
    let f = *lock(&shared.faults);
    ControlState {
        throttle: lock(&shared.buckets).throttle(),
        fault_rate: f.fault_rate,
        drop_rate: f.drop_rate,
        latency_ms: f.latency.as_millis(),
        down: shared.is_down(),
        jobs: lock(&shared.store).job_count(),
    }
}

async fn control_get_handler(State(shared): State<Arc<Shared>>) -> Response {
    json_response(StatusCode::OK, &control_state(&shared))
}

async fn control_handler(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let bad = |msg: String| {
        json_response(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({ "error": msg }),
        )
    };
    let req: ControlRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad(format!("invalid control request: {e}")),
    };
    for (name, rate) in [("fault_rate", req.fault_rate), ("drop_rate", req.drop_rate)] {
        if rate.is_some_and(|r| !(0.0..=1.0).contains(&r)) {
            return bad(format!("{name} must be between 0 and 1"));
        }
    }
    if let Some(Some(t)) = req.throttle {
        if !(t.rps.is_finite() && t.rps > 0.0) {
            return bad("throttle.rps must be a positive number".into());
        }
    }
    if let Some(t) = req.throttle {
        lock(&shared.buckets).set(t);
    }
    {
        let mut f = lock(&shared.faults);
        if let Some(r) = req.fault_rate {
            f.fault_rate = r;
        }
        if let Some(r) = req.drop_rate {
            f.drop_rate = r;
        }
        if let Some(ms) = req.latency_ms {
            f.latency = Duration::from_millis(ms);
        }
        if req.down == Some(false) {
            f.down = false;
            f.down_until = None;
        }
        if let Some(ms) = req.down_for_ms {
            f.down_until = Some(Instant::now() + Duration::from_millis(ms));
        }
    }
    json_response(StatusCode::OK, &control_state(&shared))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_job_paths_and_refuses_others() {
        let ok = |m: Method, p: &str| route(&m, p).unwrap();
        assert_eq!(
            ok(Method::GET, "/v20180820/jobs"),
            (Operation::ListJobs, None)
        );
        assert_eq!(
            ok(Method::POST, "/v20180820/jobs"),
            (Operation::CreateJob, None)
        );
        assert_eq!(
            ok(Method::GET, "/v20180820/jobs/abc-12"),
            (Operation::DescribeJob, Some("abc-12".into()))
        );
        assert_eq!(
            ok(Method::PUT, "/v20180820/jobs/abc-12/tagging").0,
            Operation::PutJobTagging
        );
        assert_eq!(
            ok(Method::DELETE, "/v20180820/jobs/abc-12/tagging").0,
            Operation::DeleteJobTagging
        );
        assert_eq!(
            ok(Method::POST, "/v20180820/jobs/a%2Fb/priority").1,
            Some("a/b".into())
        );
        assert_eq!(
            route(&Method::DELETE, "/v20180820/jobs/x")
                .unwrap_err()
                .status,
            405
        );
        assert_eq!(
            route(&Method::GET, "/v20180820/jobsx").unwrap_err().status,
            404
        );
        assert_eq!(
            route(&Method::GET, "/v20180820/jobs/a/b/c")
                .unwrap_err()
                .status,
            404
        );
        assert_eq!(route(&Method::GET, "/").unwrap_err().status, 404);
        assert_eq!(
            route(&Method::GET, "/v20180820/jobs/%zz").unwrap_err().code,
            "BadRequestException"
        );
    }
}
