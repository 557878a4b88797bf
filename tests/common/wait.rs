//! Waiting in tests that drive a real process or real sockets: poll a condition until a
//! deadline on tokio's clock, without blocking the runtime the emulator serves on.
#![allow(dead_code)]

use std::time::Duration;

use tokio::time::Instant;

/// How often a condition is looked at again.
pub const POLL: Duration = Duration::from_millis(20);

/// Polls `probe` every [`POLL`] until it returns `Some`; `None` once `timeout` has passed.
pub async fn poll<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until `ready` holds; panics naming `what` after `timeout`.
pub async fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    if poll(timeout, || ready().then_some(())).await.is_none() {
        panic!("timed out after {timeout:?} waiting for {what}");
    }
}
