//! The local HTTP endpoint: `/metrics`, `/healthz`, `/readyz`, `POST /reconcile`.
//!
//! The port may be reachable from a whole network (on Kubernetes it listens on the pod IP), so
//! no client can take it away from the probes or use it to drive the daemon:
//! - at most [`HttpLimits::max_connections`] connections at once, far below the process's file
//!   limit; the next one is closed at once, counted in `s3prio_http_connections_refused_total`
//!   and logged (at most once per 10 s);
//! - a connection must deliver its request within [`HttpLimits::request_timeout`] of opening
//!   (or of its first byte, for a later request), and an idle keep-alive connection is closed
//!   after [`HttpLimits::idle_timeout`]: half-open and trickling connections do not pile up;
//! - `POST /reconcile` changes what the daemon does: a request from a web page (an `Origin`
//!   header) is refused, and a client not on the loopback address needs the bearer token of
//!   `[http] reconcile_token_file`. Requests are coalesced and rate-limited by the daemon.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

mod guard;

use guard::{GuardedListener, Peer};

use super::health::Health;
use super::Metrics;

/// What became of a `POST /reconcile` (or SIGUSR1) request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconcileAdmission {
    /// A cycle of every target starts now.
    Started,
    /// A cycle started recently: this one starts when the rate limit allows.
    Queued { starts_in: Duration },
    /// A request is already waiting: this one joins it.
    Joined { starts_in: Duration },
}

/// What `POST /reconcile` asks of the daemon: a cycle of every target, and whether to read
/// every known tag set again first (`?refresh=tags`).
pub type OnReconcile = Arc<dyn Fn(bool) -> ReconcileAdmission + Send + Sync>;

/// Bounds on the connections of the HTTP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    pub max_connections: usize,
    /// From a connection's opening (or a request's first byte) to its whole request.
    pub request_timeout: Duration,
    /// Between a response and the next request on a kept-alive connection.
    pub idle_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: 256,
            request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// How to serve.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub listen: SocketAddr,
    pub ready_max_age: Duration,
    /// The bearer token `POST /reconcile` requires (of every client); without one only
    /// loopback clients may ask.
    pub reconcile_token: Option<String>,
    pub limits: HttpLimits,
}

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    on_reconcile: OnReconcile,
    ready_max_age: Arc<AtomicU64>,
    reconcile_token: Option<Arc<str>>,
}

/// Handle to the running server.
#[derive(Debug)]
pub struct HttpServer {
    pub addr: SocketAddr,
    pub ready_max_age_secs: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl HttpServer {
    pub async fn join(self) {
        let _ = self.task.await;
    }
}

/// Binds `opts.listen` and serves until `shutdown` is cancelled.
pub async fn serve(
    opts: HttpOptions,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    on_reconcile: OnReconcile,
    shutdown: CancellationToken,
) -> io::Result<HttpServer> {
    let ready_max_age_secs = Arc::new(AtomicU64::new(opts.ready_max_age.as_secs()));
    let state = AppState {
        metrics: metrics.clone(),
        health,
        on_reconcile,
        ready_max_age: ready_max_age_secs.clone(),
        reconcile_token: opts.reconcile_token.map(Arc::from),
    };
    let app = Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/reconcile", post(reconcile))
        .with_state(state);
    let inner = TcpListener::bind(opts.listen).await?;
    let addr = inner.local_addr()?;
    let listener = GuardedListener::new(inner, opts.limits, metrics);
    let task = tokio::spawn(async move {
        let r = axum::serve(listener, app.into_make_service_with_connect_info::<Peer>())
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    Ok(HttpServer {
        addr,
        ready_max_age_secs,
        task,
    })
}

async fn metrics_handler(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
}

async fn healthz(State(s): State<AppState>) -> impl IntoResponse {
    match s.health.live() {
        Ok(()) => (StatusCode::OK, "ok\n".to_string()),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
    }
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    let max_age = Duration::from_secs(s.ready_max_age.load(Ordering::Relaxed));
    match s.health.ready(max_age) {
        Ok(()) => (StatusCode::OK, "ready\n".to_string()),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n")),
    }
}

#[derive(Debug, serde::Deserialize)]
struct ReconcileQuery {
    refresh: Option<String>,
}

async fn reconcile(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
    Query(q): Query<ReconcileQuery>,
) -> Response {
    if let Err(refused) = authorize(peer.0.ip(), &headers, s.reconcile_token.as_deref()) {
        tracing::warn!(client = %peer.0, status = refused.0.as_u16(), "POST /reconcile refused");
        return refused.into_response();
    }
    let refresh_tags = match q.refresh.as_deref() {
        None => false,
        Some("tags") => true,
        Some(other) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("unknown refresh `{other}`; use `POST /reconcile` or `POST /reconcile?refresh=tags`\n"),
            )
                .into_response()
        }
    };
    let tags = if refresh_tags {
        "; every known tag set is read again"
    } else {
        ""
    };
    let body = match (s.on_reconcile)(refresh_tags) {
        ReconcileAdmission::Started => format!("reconcile triggered{tags}\n"),
        ReconcileAdmission::Queued { starts_in } => format!(
            "reconcile queued{tags}: a requested cycle started less than the minimum interval ago; this one starts in {:.1} s\n",
            starts_in.as_secs_f64()
        ),
        ReconcileAdmission::Joined { starts_in } => format!(
            "reconcile already pending, starting in {:.1} s; this request joins it{tags}\n",
            starts_in.as_secs_f64()
        ),
    };
    (StatusCode::ACCEPTED, body).into_response()
}

/// The answer to a refused `POST /reconcile`.
type Refusal = (StatusCode, [(header::HeaderName, &'static str); 1], String);

/// Whether a `POST /reconcile` may go ahead: `Err` is the answer to send instead.
fn authorize(peer: IpAddr, headers: &HeaderMap, token: Option<&str>) -> Result<(), Refusal> {
    let deny = |status, message: &str| {
        Err((
            status,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            format!("{message}\n"),
        ))
    };
    if headers.contains_key(header::ORIGIN) {
        return deny(
            StatusCode::FORBIDDEN,
            "POST /reconcile is not for web pages (the request has an Origin header); use curl, or send SIGUSR1",
        );
    }
    match token {
        Some(expected) => {
            let given = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            match given {
                Some(given) if same_secret(given.trim().as_bytes(), expected.as_bytes()) => Ok(()),
                Some(_) => deny(StatusCode::UNAUTHORIZED, "wrong bearer token"),
                None => deny(
                    StatusCode::UNAUTHORIZED,
                    "POST /reconcile needs `Authorization: Bearer TOKEN`, the token in the file [http] reconcile_token_file names",
                ),
            }
        }
        None if is_loopback(peer) => Ok(()),
        None => deny(
            StatusCode::FORBIDDEN,
            "POST /reconcile is open to loopback clients only; to allow others, set [http] reconcile_token_file and send `Authorization: Bearer TOKEN`",
        ),
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(v6.is_loopback(), |v4| v4.is_loopback()),
    }
}

/// Compares two secrets in a time that does not depend on where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("header value"));
        }
        h
    }

    #[test]
    fn reconcile_is_open_to_loopback_only_unless_a_token_is_set() {
        let lan: IpAddr = "10.1.2.3".parse().expect("ip");
        let lo: IpAddr = "127.0.0.1".parse().expect("ip");
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().expect("ip");
        let status = |r: Result<(), Refusal>| r.err().map(|e| e.0);
        assert_eq!(status(authorize(lo, &headers(&[]), None)), None);
        assert_eq!(status(authorize(mapped, &headers(&[]), None)), None);
        assert_eq!(
            status(authorize(lan, &headers(&[]), None)),
            Some(StatusCode::FORBIDDEN)
        );
        // A page in a browser on the same host.
        assert_eq!(
            status(authorize(
                lo,
                &headers(&[("origin", "https://evil.example")]),
                None
            )),
            Some(StatusCode::FORBIDDEN)
        );
        // With a token, every client needs it.
        let t = Some("s3cret");
        let bearer = |v: &str| headers(&[("authorization", v)]);
        assert_eq!(status(authorize(lan, &bearer("Bearer s3cret"), t)), None);
        assert_eq!(
            status(authorize(lan, &bearer("Bearer s3creT"), t)),
            Some(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            status(authorize(lo, &headers(&[]), t)),
            Some(StatusCode::UNAUTHORIZED)
        );
        assert!(!same_secret(b"abc", b"abcd"));
    }
}
