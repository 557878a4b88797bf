//! One S3 Control call with pacing, classification and retries.
//!
//! Retries are owned here, not by the SDK: every client is built with the SDK's retries disabled
//! (`RetryConfig::disabled()`). The SDK's standard mode would retry a throttled call up to three
//! times on its own schedule, invisible to the pace, and its attempts would multiply with ours
//! (3 x ours). Owning the loop lets one place pace every attempt, lower the pace on throttling,
//! record every delay, and stop sleeping as soon as shutdown begins.

use std::error::Error as StdError;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3control::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use tokio_util::sync::CancellationToken;

use super::client::{RequestEndpoint, ResponseTooLarge};
use super::pace::{AdaptivePace, Permit};
use crate::backoff::Backoff;
use crate::telemetry::{CallOutcome, Metrics};

/// How a failed call is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// TooManyRequestsException: slow down and retry.
    Throttled,
    /// InternalServiceException, 5xx, timeouts, dropped connections: retry with backoff.
    Transient,
    /// NotFoundException: the job finished or vanished. Not retried.
    NotFound,
    /// BadRequestException and other 4xx: our request is wrong. Not retried.
    BadRequest,
    /// No usable credentials, or the service refused them (expired, unknown key, bad
    /// signature, access denied). Not retried: it will not fix itself within a cycle.
    Credentials,
    /// The response could not be used: not the S3 Control format, or larger than the cap.
    /// Not retried: the cycle fails and says so.
    BadResponse,
}

impl FailureKind {
    fn outcome(self) -> CallOutcome {
        match self {
            FailureKind::Throttled => CallOutcome::throttled,
            FailureKind::Transient => CallOutcome::server_error,
            FailureKind::NotFound => CallOutcome::not_found,
            FailureKind::BadRequest => CallOutcome::bad_request,
            FailureKind::Credentials => CallOutcome::credentials_error,
            FailureKind::BadResponse => CallOutcome::bad_response,
        }
    }

    fn retryable(self) -> bool {
        matches!(self, FailureKind::Throttled | FailureKind::Transient)
    }
}

/// A call that did not succeed, after retries where they apply.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("{operation} failed ({kind:?}) after {attempts} attempt(s): {message}")]
    Failed {
        operation: &'static str,
        kind: FailureKind,
        attempts: u32,
        message: String,
    },
    #[error("{operation} abandoned: shutting down")]
    ShuttingDown { operation: &'static str },
    /// A listing that does not end (a repeated page token, more pages or jobs than a listing
    /// can hold): abandoned before it exhausts memory.
    #[error("{operation} paging stopped after {pages} page(s): {reason}")]
    Paging {
        operation: &'static str,
        pages: usize,
        reason: String,
    },
}

impl CallError {
    pub fn kind(&self) -> Option<FailureKind> {
        match self {
            CallError::Failed { kind, .. } => Some(*kind),
            CallError::Paging { .. } => Some(FailureKind::BadResponse),
            CallError::ShuttingDown { .. } => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.kind() == Some(FailureKind::NotFound)
    }
}

/// Pace permits taken before a call (by a scheduler that decides what to send next): the
/// target's, and the write pace's for a write when the target has one.
#[derive(Debug, Clone, Copy)]
pub struct Permits {
    pub target: Permit,
    pub write: Option<Permit>,
}

/// Everything a call to one target needs: its pace, retry schedule, metrics and shutdown.
#[derive(Debug, Clone)]
pub struct CallContext {
    pub target: String,
    pub pace: Arc<AdaptivePace>,
    pub write_pace: Option<Arc<AdaptivePace>>,
    pub backoff: Backoff,
    pub request_timeout: Duration,
    pub metrics: Arc<Metrics>,
    pub shutdown: CancellationToken,
    /// The target loop's heartbeat, beaten whenever an attempt returns (success or error): a
    /// long cycle still shows the loop is making progress.
    pub heartbeat: Arc<crate::telemetry::Heartbeat>,
}

/// Error codes by which the service refuses the caller's identity rather than the request:
/// they count in `s3prio_credential_errors_total` and show in `/readyz`.
pub const CREDENTIAL_CODES: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidAccessKeyId",
    "InvalidClientTokenId",
    "InvalidToken",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "AccessDeniedException",
    "UnrecognizedClientException",
];

/// Classifies an SDK error. The service's `<Code>` decides for service errors (as the SDK
/// itself does); transport failures are transient, except a missing credential and a
/// response over the size cap.
pub fn classify<E>(err: &SdkError<E, HttpResponse>) -> FailureKind
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    if too_large(err).is_some() {
        return FailureKind::BadResponse;
    }
    match err {
        SdkError::ServiceError(se) => match se.err().code() {
            Some("TooManyRequestsException") | Some("Throttling") | Some("SlowDown") => {
                FailureKind::Throttled
            }
            Some("NotFoundException") => FailureKind::NotFound,
            Some("InternalServiceException")
            | Some("ServiceUnavailable")
            | Some("InternalError") => FailureKind::Transient,
            Some(code) if CREDENTIAL_CODES.contains(&code) => FailureKind::Credentials,
            Some(_) => FailureKind::BadRequest,
            // A body without a code: judge by the status. A success status whose body did not
            // parse is not the service's answer to our request.
            None => match se.raw().status().as_u16() {
                s if s >= 500 => FailureKind::Transient,
                s if (200..300).contains(&s) => FailureKind::BadResponse,
                _ => FailureKind::BadRequest,
            },
        },
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => FailureKind::Transient,
        SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_) => {
            if mentions_credentials(err) {
                FailureKind::Credentials
            } else {
                FailureKind::Transient
            }
        }
        _ => FailureKind::Transient,
    }
}

/// The size-cap error of [`super::client`] behind `err`, if that is what failed.
fn too_large<E>(err: &SdkError<E, HttpResponse>) -> Option<&ResponseTooLarge>
where
    E: StdError + 'static,
{
    let mut src: Option<&(dyn StdError + 'static)> = err.source();
    while let Some(e) = src {
        if let Some(t) = e.downcast_ref::<ResponseTooLarge>() {
            return Some(t);
        }
        src = e.source();
    }
    None
}

fn mentions_credentials<E>(err: &SdkError<E, HttpResponse>) -> bool
where
    E: StdError + 'static,
{
    let text = format!("{}", DisplayErrorContext(err)).to_ascii_lowercase();
    text.contains("credential")
        || text.contains("no identity")
        || text.contains("identity resolver")
}

fn short_message<E>(operation: &str, err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    if let Some(t) = too_large(err) {
        return t.to_string();
    }
    let SdkError::ServiceError(se) = err else {
        return format!("{}", DisplayErrorContext(err));
    };
    let e = se.err();
    if let Some(code) = e.code() {
        return format!("{code}: {}", e.message().unwrap_or("(no message)"));
    }
    // No error code: the body is not an answer the client understands. Say what came back
    // and from where, not "UnknownError".
    let raw = se.raw();
    let status = raw.status().as_u16();
    let endpoint = raw
        .extension::<RequestEndpoint>()
        .map_or("the endpoint", |e| e.0.as_str());
    let body = raw.body().bytes().unwrap_or_default();
    let what = if (200..300).contains(&status) {
        format!("the response could not be parsed as a {operation} result")
    } else {
        "the error response is not an S3 Control error".to_string()
    };
    format!(
        "{what} (HTTP {status} from {endpoint}, {})",
        body_excerpt(body)
    )
}

/// A short, printable description of a response body for an error message.
fn body_excerpt(body: &[u8]) -> String {
    if body.is_empty() {
        return "empty body".to_string();
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(80)]);
    let printable: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!(
        "{} bytes, starting `{}`{}",
        body.len(),
        printable.trim(),
        if body.len() > 80 { "..." } else { "" }
    )
}

impl CallContext {
    /// Sends `op` (built anew for each attempt) with pacing, a per-attempt timeout and retries.
    /// `write` selects the write pace in addition to the target pace.
    pub async fn call<T, E, F, Fut>(
        &self,
        operation: &'static str,
        write: bool,
        op: F,
    ) -> Result<T, CallError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        self.call_with(operation, write, None, op).await
    }

    /// [`CallContext::call`] whose first attempt goes out under `first`, permits the caller
    /// already took; retries wait for the pace like any call.
    pub async fn call_with<T, E, F, Fut>(
        &self,
        operation: &'static str,
        write: bool,
        mut first: Option<Permits>,
        mut op: F,
    ) -> Result<T, CallError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let permits = match first.take() {
                Some(p) => p,
                None => self
                    .paced(write)
                    .await
                    .ok_or(CallError::ShuttingDown { operation })?,
            };
            let (kind, message) = match self.attempt(operation, &mut op).await {
                Ok(value) => return Ok(value),
                Err(failure) => failure,
            };
            self.adapt(kind, permits);
            if !kind.retryable()
                || attempt >= self.backoff.max_attempts
                || self.shutdown.is_cancelled()
            {
                return Err(CallError::Failed {
                    operation,
                    kind,
                    attempts: attempt,
                    message,
                });
            }
            if !self.back_off(operation, attempt, &message).await {
                return Err(CallError::ShuttingDown { operation });
            }
        }
    }

    /// Waits for the pace (and the write pace for a write). `None` once shutdown begins: no
    /// new request is sent then; one already sent runs to its end (bounded by the request
    /// timeout), so a write is never cut in half.
    async fn paced(&self, write: bool) -> Option<Permits> {
        let paced = async {
            let write_permit = match (&self.write_pace, write) {
                (Some(wp), true) => Some(wp.acquire().await),
                _ => None,
            };
            Permits {
                target: self.pace.acquire().await,
                write: write_permit,
            }
        };
        tokio::select! {
            biased;
            _ = self.shutdown.cancelled() => None,
            p = paced => Some(p),
        }
    }

    /// Sends one attempt with the request timeout; records its outcome and beats the
    /// heartbeat (an attempt that returns is progress, whatever it returned).
    async fn attempt<T, E, F, Fut>(
        &self,
        operation: &'static str,
        op: &mut F,
    ) -> Result<T, (FailureKind, String)>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let result = tokio::time::timeout(self.request_timeout, op()).await;
        self.heartbeat.beat();
        match result {
            Ok(Ok(value)) => {
                self.record(operation, CallOutcome::ok);
                self.pace.on_success();
                Ok(value)
            }
            Ok(Err(err)) => {
                let kind = classify(&err);
                let mut outcome = kind.outcome();
                if kind == FailureKind::Transient && !matches!(err, SdkError::ServiceError(_)) {
                    outcome = CallOutcome::network_error;
                }
                self.record(operation, outcome);
                Err((kind, short_message(operation, &err)))
            }
            Err(_) => {
                self.record(operation, CallOutcome::network_error);
                Err((
                    FailureKind::Transient,
                    format!("no response within {:?}", self.request_timeout),
                ))
            }
        }
    }

    /// After a failed attempt: a throttle slows the pace(s) down; a refused credential is
    /// counted; the current pace is published.
    fn adapt(&self, kind: FailureKind, permits: Permits) {
        let target = Metrics::target(&self.target);
        match kind {
            FailureKind::Throttled => {
                self.metrics.throttled.get_or_create(&target).inc();
                self.pace.on_throttled(permits.target);
                if let (Some(wp), Some(p)) = (&self.write_pace, permits.write) {
                    wp.on_throttled(p);
                }
            }
            FailureKind::Credentials => {
                self.metrics.credential_errors.get_or_create(&target).inc();
            }
            _ => {}
        }
        self.metrics
            .rate_limit_current_rps
            .get_or_create(&target)
            .set(self.pace.current_rps());
    }

    /// Sleeps the backoff delay before retry `attempt + 1`; false if shutdown began meanwhile.
    async fn back_off(&self, operation: &'static str, attempt: u32, message: &str) -> bool {
        let delay = self.backoff.delay(attempt, &mut rand::rng());
        self.metrics
            .retry_delay
            .get_or_create(&Metrics::target(&self.target))
            .observe(delay.as_secs_f64());
        tracing::debug!(
            target_name = %self.target,
            operation,
            attempt,
            delay_ms = delay.as_millis() as u64,
            error = %message,
            "retrying after backoff"
        );
        tokio::select! {
            _ = self.shutdown.cancelled() => false,
            _ = tokio::time::sleep(delay) => true,
        }
    }

    fn record(&self, operation: &'static str, outcome: CallOutcome) {
        self.metrics
            .api_requests
            .get_or_create(&crate::telemetry::metrics::ApiLabels {
                target: self.target.clone(),
                operation,
                outcome,
            })
            .inc();
    }
}
