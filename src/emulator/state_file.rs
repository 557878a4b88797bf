//! The optional state file: the jobs and idempotency tokens as JSON, written atomically
//! (temporary file in the same directory, then rename) so a crash never leaves half a file.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::error::EmulatorError;
use super::state::{lock, EmulatorState};
use super::store::StoreSnapshot;

/// Reads the state file; `Ok(None)` when it does not exist yet.
pub async fn load(path: &Path) -> Result<Option<StoreSnapshot>, EmulatorError> {
    let bytes = match tokio::fs::read(path).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(EmulatorError::ReadState {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| EmulatorError::ParseState { path, source })
    })
    .await
    .unwrap_or_else(|e| {
        Err(EmulatorError::Option(format!(
            "state file loader failed: {e}"
        )))
    })
}

/// Snapshots the store and writes it.
pub async fn save(state: &EmulatorState, path: &Path) -> Result<(), EmulatorError> {
    state.dirty.store(false, Ordering::Relaxed);
    let snapshot = lock(&state.store).snapshot();
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || write_atomically(&path, &snapshot))
        .await
        .unwrap_or_else(|e| {
            Err(EmulatorError::Option(format!(
                "state file writer failed: {e}"
            )))
        })
}

fn write_atomically(path: &Path, snapshot: &StoreSnapshot) -> Result<(), EmulatorError> {
    let err = |source| EmulatorError::WriteState {
        path: path.to_path_buf(),
        source,
    };
    let json = serde_json::to_vec(snapshot).map_err(|e| err(std::io::Error::other(e)))?;
    let tmp: PathBuf = {
        let mut name = path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        name.push(format!(".tmp-{}", std::process::id()));
        path.with_file_name(name)
    };
    std::fs::write(&tmp, json).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(e)
    })
}

/// Rewrites the file every `every` when something changed.
pub async fn save_loop(state: Arc<EmulatorState>, path: PathBuf, every: Duration) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    loop {
        interval.tick().await;
        if state.dirty.load(Ordering::Relaxed) {
            if let Err(e) = save(&state, &path).await {
                tracing::warn!(error = %e, "could not save the emulator state");
            }
        }
    }
}
