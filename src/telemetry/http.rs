//! The local HTTP endpoint: `/metrics`, `/healthz`, `/readyz`, `POST /reconcile`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use tokio_util::sync::CancellationToken;

use super::health::Health;
use super::Metrics;

/// What `POST /reconcile` asks of the daemon: a cycle of every target now, and whether to read
/// every known tag set again first (`?refresh=tags`).
pub type OnReconcile = Arc<dyn Fn(bool) + Send + Sync>;

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    on_reconcile: OnReconcile,
    ready_max_age: Arc<std::sync::atomic::AtomicU64>,
}

/// Handle to the running server.
#[derive(Debug)]
pub struct HttpServer {
    pub addr: SocketAddr,
    pub ready_max_age_secs: Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl HttpServer {
    pub async fn join(self) {
        let _ = self.task.await;
    }
}

/// Binds `listen` and serves until `shutdown` is cancelled.
pub async fn serve(
    listen: SocketAddr,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    ready_max_age: Duration,
    on_reconcile: OnReconcile,
    shutdown: CancellationToken,
) -> std::io::Result<HttpServer> {
    let ready_max_age_secs = Arc::new(std::sync::atomic::AtomicU64::new(ready_max_age.as_secs()));
    let state = AppState {
        metrics,
        health,
        on_reconcile,
        ready_max_age: ready_max_age_secs.clone(),
    };
    let app = Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/reconcile", post(reconcile))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let r = axum::serve(listener, app)
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
    let max_age = Duration::from_secs(s.ready_max_age.load(std::sync::atomic::Ordering::Relaxed));
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
    Query(q): Query<ReconcileQuery>,
) -> impl IntoResponse {
    match q.refresh.as_deref() {
        None => {
            (s.on_reconcile)(false);
            (StatusCode::ACCEPTED, "reconcile triggered\n".to_string())
        }
        Some("tags") => {
            (s.on_reconcile)(true);
            (
                StatusCode::ACCEPTED,
                "reconcile triggered; every known tag set is read again\n".to_string(),
            )
        }
        Some(other) => (
            StatusCode::BAD_REQUEST,
            format!("unknown refresh `{other}`; use `POST /reconcile` or `POST /reconcile?refresh=tags`\n"),
        ),
    }
}
