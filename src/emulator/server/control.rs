//! The `/_emulator/` endpoints: counters, their reset, and runtime control of the throttle and
//! the injected faults. No AWS path starts with `/_emulator/`, and these requests are never
//! counted in the stats.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Deserializer, Serialize};
use tokio::time::Instant;

use crate::emulator::state::{lock, EmulatorState};
use crate::emulator::throttle::Throttle;

/// The introspection and control routes.
pub(super) fn routes() -> Router<Arc<EmulatorState>> {
    Router::new()
        .route("/_emulator/stats", get(stats_handler))
        .route("/_emulator/stats/reset", post(reset_stats_handler))
        .route(
            "/_emulator/control",
            get(control_get_handler).post(control_handler),
        )
}

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

async fn stats_handler(State(state): State<Arc<EmulatorState>>) -> Response {
    let stats = lock(&state.stats).clone();
    json_response(StatusCode::OK, &stats)
}

async fn reset_stats_handler(State(state): State<Arc<EmulatorState>>) -> Response {
    state.reset_stats();
    json_response(StatusCode::OK, &serde_json::json!({ "reset": true }))
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

impl ControlRequest {
    /// Refuses rates outside 0..1 and a throttle that is not a positive rate.
    fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("fault_rate", self.fault_rate),
            ("drop_rate", self.drop_rate),
        ] {
            if rate.is_some_and(|r| !(0.0..=1.0).contains(&r)) {
                return Err(format!("{name} must be between 0 and 1"));
            }
        }
        if let Some(Some(t)) = self.throttle {
            if !(t.rps.is_finite() && t.rps > 0.0) {
                return Err("throttle.rps must be a positive number".into());
            }
        }
        Ok(())
    }

    /// Changes the given settings and leaves the others as they are.
    fn apply(&self, state: &EmulatorState) {
        if let Some(t) = self.throttle {
            lock(&state.buckets).set(t);
        }
        let mut f = lock(&state.faults);
        if let Some(r) = self.fault_rate {
            f.fault_rate = r;
        }
        if let Some(r) = self.drop_rate {
            f.drop_rate = r;
        }
        if let Some(ms) = self.latency_ms {
            f.latency = Duration::from_millis(ms);
        }
        if self.down == Some(false) {
            f.down = false;
            f.down_until = None;
        }
        if let Some(ms) = self.down_for_ms {
            f.down_until = Some(Instant::now() + Duration::from_millis(ms));
        }
    }
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

fn control_state(state: &EmulatorState) -> ControlState {
    let f = *lock(&state.faults);
    ControlState {
        throttle: lock(&state.buckets).throttle(),
        fault_rate: f.fault_rate,
        drop_rate: f.drop_rate,
        latency_ms: f.latency.as_millis(),
        down: state.is_down(),
        jobs: lock(&state.store).job_count(),
    }
}

async fn control_get_handler(State(state): State<Arc<EmulatorState>>) -> Response {
    json_response(StatusCode::OK, &control_state(&state))
}

async fn control_handler(State(state): State<Arc<EmulatorState>>, body: Bytes) -> Response {
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
    if let Err(msg) = req.validate() {
        return bad(msg);
    }
    req.apply(&state);
    json_response(StatusCode::OK, &control_state(&state))
}
