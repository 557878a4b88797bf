//! Hot reload: SIGHUP and file changes go down the same path. Re-read, compare a content hash,
//! parse and validate fully, then swap. A bad file never replaces the running policy.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::notify as sd;
use crate::config::{self, Config};
use crate::telemetry::Metrics;

fn content_hash(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// What a reload attempt did.
#[derive(Debug, PartialEq, Eq)]
pub enum ReloadOutcome {
    Unchanged,
    Applied,
    Rejected,
}

/// The config file and the hash of the content in force.
#[derive(Debug)]
pub struct ConfigSource {
    pub path: PathBuf,
    hash: u64,
}

impl ConfigSource {
    /// Loads the config at start. Errors are the located `ConfigError`.
    pub fn load(path: &Path) -> Result<(Self, Config), config::ConfigError> {
        let bytes = std::fs::read(path).unwrap_or_default();
        let cfg = config::load(path)?;
        Ok((
            ConfigSource {
                path: path.to_path_buf(),
                hash: content_hash(&bytes),
            },
            cfg,
        ))
    }

    /// Re-reads the file; swaps the config in `tx` if it changed and is valid.
    pub fn reload(
        &mut self,
        tx: &watch::Sender<Arc<Config>>,
        metrics: &Metrics,
        dry_run_flag: bool,
    ) -> ReloadOutcome {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) => {
                // During an editor's save or a ConfigMap swap the file can be briefly absent;
                // the next event retries.
                tracing::warn!(path = %self.path.display(), error = %e, "config file unreadable; keeping the running policy");
                return ReloadOutcome::Unchanged;
            }
        };
        let hash = content_hash(&bytes);
        if hash == self.hash {
            return ReloadOutcome::Unchanged;
        }
        sd::reloading();
        let text = String::from_utf8_lossy(&bytes);
        let outcome = match config::parse(&text, &self.path.display().to_string()) {
            Ok(mut new) => {
                if dry_run_flag {
                    new.reconcile.dry_run = true;
                }
                let old = tx.borrow().clone();
                for note in restart_needed(&old, &new) {
                    tracing::warn!(setting = %note, "this setting changed in the file but only takes effect after a restart; the running value is kept");
                }
                let new = keep_restart_only(&old, new);
                self.hash = hash;
                tx.send_replace(Arc::new(new));
                metrics.config_last_reload_successful.set(1);
                metrics.config_reloads.inc();
                tracing::info!(path = %self.path.display(), "config reloaded");
                ReloadOutcome::Applied
            }
            Err(e) => {
                metrics.config_last_reload_successful.set(0);
                tracing::error!(path = %self.path.display(), error = %e, "config reload rejected; the running policy is kept");
                ReloadOutcome::Rejected
            }
        };
        sd::ready("running");
        outcome
    }
}

/// Settings the running daemon cannot change live.
pub fn restart_needed(old: &Config, new: &Config) -> Vec<String> {
    let mut out = Vec::new();
    if old.http.listen != new.http.listen {
        out.push(format!(
            "http.listen ({} -> {})",
            old.http.listen, new.http.listen
        ));
    }
    if old.baseline.stores != new.baseline.stores
        || old.baseline.state_file != new.baseline.state_file
        || old.baseline.tag_prefix != new.baseline.tag_prefix
    {
        out.push("baseline (store, state_file, tag_prefix)".into());
    }
    let names = |c: &Config| {
        c.targets
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    t.account_id.clone(),
                    t.region.clone(),
                    t.endpoint_url.clone(),
                    t.role_arn.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    if names(old) != names(new) {
        out.push("targets (names, accounts, regions, endpoints, roles)".into());
    }
    if old.log.format != new.log.format {
        out.push("log.format".into());
    }
    out
}

/// `new` with the restart-only settings of `old`, so what runs is exactly what is reported.
fn keep_restart_only(old: &Config, mut new: Config) -> Config {
    new.http = old.http.clone();
    new.baseline = old.baseline.clone();
    new.log = old.log.clone();
    if !restart_needed_targets(old, &new) {
        return new;
    }
    // Targets added, removed or re-pointed: keep the running set, take the new rate limits
    // and backoff of the ones that still exist.
    let mut targets = old.targets.clone();
    for t in &mut targets {
        if let Some(n) = new.targets.iter().find(|n| n.name == t.name) {
            t.rate_limit = n.rate_limit.clone();
            t.backoff = n.backoff.clone();
            t.request_timeout = n.request_timeout;
        }
    }
    new.targets = targets;
    new
}

fn restart_needed_targets(old: &Config, new: &Config) -> bool {
    old.targets.len() != new.targets.len()
        || old.targets.iter().zip(&new.targets).any(|(a, b)| {
            a.name != b.name
                || a.account_id != b.account_id
                || a.region != b.region
                || a.endpoint_url != b.endpoint_url
                || a.role_arn != b.role_arn
        })
}

/// Watches the config file's directory (a watch on the file itself dies when an editor renames
/// over it or Kubernetes swaps the `..data` symlink) and sends a signal on every change.
pub fn watch_dir(
    path: &Path,
    shutdown: CancellationToken,
) -> Result<mpsc::UnboundedReceiver<()>, notify_debouncer_full::notify::Error> {
    use notify_debouncer_full::{new_debouncer, notify::RecursiveMode, DebounceEventResult};
    let (tx, rx) = mpsc::unbounded_channel();
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let mut debouncer = new_debouncer(
        Duration::from_millis(300),
        None,
        move |res: DebounceEventResult| {
            if res.is_ok() {
                let _ = tx.send(());
            }
        },
    )?;
    debouncer.watch(&dir, RecursiveMode::NonRecursive)?;
    // The debouncer runs on its own thread and stops when dropped: keep it until shutdown.
    tokio::spawn(async move {
        shutdown.cancelled().await;
        drop(debouncer);
    });
    Ok(rx)
}
