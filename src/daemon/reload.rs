//! Hot reload: SIGHUP, changes to the config file and a periodic look go down the same path.
//! Read the file the way `check` and the start read it (`config::read_bytes`, `config::decode`,
//! off the runtime's threads), compare a content hash, parse and validate fully, then swap. A
//! bad file never replaces the running policy.
//!
//! `s3prio_config_last_reload_successful` tells whether the file on disk, as last read, would
//! load and is what runs: 1 once a good file is applied or the file is back to the content
//! that runs; 0 while it cannot be read (missing, a directory, a FIFO, unreadable, too large)
//! or is invalid. Each failure is logged once (a rejected content once per content, a file
//! that cannot be read once per error); SIGHUP always answers in the log.

use std::collections::{BTreeSet, VecDeque};
use std::ffi::OsString;
use std::hash::{Hash, Hasher};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify_debouncer_full::notify::{self, RecommendedWatcher};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache};
use tokio::sync::{mpsc, watch};

use super::notify as sd;
use crate::config::{self, Config, ConfigError, Overrides};
use crate::telemetry::Metrics;

/// How often the file is looked at without an event: the gauge stays true where no watch
/// event comes (a network mount, a permission change on a parent directory).
pub const RECHECK_INTERVAL: Duration = Duration::from_secs(30);

/// A read (or parse) of the config file that takes longer is given up, so a file on a hung
/// mount cannot stall the daemon's control loop.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

fn content_hash(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// What a reload attempt did.
#[derive(Debug, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The file holds the content that runs.
    Unchanged,
    Applied,
    /// The file was read but is not a valid config.
    Rejected,
    /// The file could not be read.
    Unreadable,
}

/// Who asked for a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// An operator (SIGHUP): every outcome is logged, even one logged before.
    Signal,
    /// The file watcher or the periodic look: only what is new is logged.
    Watch,
}

/// What the last look at the file found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    InForce,
    Rejected(u64),
    Unreadable(String),
}

/// The config file and the hash of the content in force.
#[derive(Debug)]
pub struct ConfigSource {
    pub path: PathBuf,
    /// Applied to every parse, so a reloaded config keeps the command line's settings.
    overrides: Overrides,
    running: u64,
    seen: Seen,
}

/// Runs blocking file work on a blocking thread, bounded by [`READ_TIMEOUT`].
async fn off_runtime<T: Send + 'static>(
    path: &Path,
    work: impl FnOnce() -> Result<T, ConfigError> + Send + 'static,
) -> Result<T, ConfigError> {
    let failed = |message: String| ConfigError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(message),
    };
    match tokio::time::timeout(READ_TIMEOUT, tokio::task::spawn_blocking(work)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Err(failed(format!("reading the file failed: {e}"))),
        Err(_) => Err(failed(format!(
            "reading and checking the file took longer than {} s; is it on a hung mount?",
            READ_TIMEOUT.as_secs()
        ))),
    }
}

impl ConfigSource {
    /// Loads the config at start: one read, one parse, the same as `check` (blocking; see
    /// [`ConfigSource::load_async`]).
    pub fn load(path: &Path, overrides: Overrides) -> Result<(Self, Config), ConfigError> {
        let bytes = config::read_bytes(path)?;
        let origin = path.display().to_string();
        let cfg = overrides.apply(config::parse(config::decode(&bytes, &origin)?, &origin)?);
        Ok((
            ConfigSource {
                path: path.to_path_buf(),
                overrides,
                running: content_hash(&bytes),
                seen: Seen::InForce,
            },
            cfg,
        ))
    }

    /// [`ConfigSource::load`] off the runtime's threads.
    pub async fn load_async(
        path: &Path,
        overrides: Overrides,
    ) -> Result<(Self, Config), ConfigError> {
        let p = path.to_path_buf();
        off_runtime(path, move || ConfigSource::load(&p, overrides)).await
    }

    /// Re-reads the file; swaps the config in `tx` if it changed and is valid, and sets the
    /// reload gauge to what the file is now.
    pub async fn reload(
        &mut self,
        tx: &watch::Sender<Arc<Config>>,
        metrics: &Metrics,
        trigger: Trigger,
    ) -> ReloadOutcome {
        let gauge = &metrics.config_last_reload_successful;
        let path = self.path.clone();
        let read = off_runtime(&self.path, move || config::read_bytes(&path)).await;
        let bytes = match read {
            Ok(b) => b,
            Err(e) => {
                gauge.set(0);
                let seen = Seen::Unreadable(e.to_string());
                if self.seen != seen || trigger == Trigger::Signal {
                    tracing::error!(path = %self.path.display(), error = %e, "the config file cannot be read; the running policy is kept");
                }
                self.seen = seen;
                return ReloadOutcome::Unreadable;
            }
        };
        let hash = content_hash(&bytes);
        if hash == self.running {
            gauge.set(1);
            if self.seen != Seen::InForce {
                tracing::info!(path = %self.path.display(), "the config file is again the one that runs");
            }
            self.seen = Seen::InForce;
            return ReloadOutcome::Unchanged;
        }
        if self.seen == Seen::Rejected(hash) && trigger == Trigger::Watch {
            gauge.set(0);
            return ReloadOutcome::Rejected;
        }
        sd::reloading();
        let origin = self.path.display().to_string();
        let parsed = off_runtime(&self.path, move || {
            config::parse(config::decode(&bytes, &origin)?, &origin)
        })
        .await;
        let outcome = match parsed {
            Ok(new) => {
                let new = self.overrides.apply(new);
                let old = tx.borrow().clone();
                for note in restart_needed(&old, &new) {
                    tracing::warn!(setting = %note, "this setting changed in the file but only takes effect after a restart; the running value is kept");
                }
                let new = keep_restart_only(&old, new);
                self.running = hash;
                self.seen = Seen::InForce;
                tx.send_replace(Arc::new(new));
                gauge.set(1);
                metrics.config_reloads.inc();
                tracing::info!(path = %self.path.display(), "config reloaded");
                ReloadOutcome::Applied
            }
            Err(e) => {
                gauge.set(0);
                self.seen = Seen::Rejected(hash);
                tracing::error!(path = %self.path.display(), error = %e, "config reload rejected; the running policy is kept");
                ReloadOutcome::Rejected
            }
        };
        sd::ready("running");
        outcome
    }
}

/// Settings the running daemon cannot change live, named for the log.
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
    new
}

/// Watches the config file for changes.
///
/// It watches the directory that holds the file (a watch on the file itself dies when an
/// editor renames over it or Kubernetes swaps the `..data` symlink) and, when the path goes
/// through symlinks, the directory of every link and of the file the path resolves to (a
/// config linked from another directory by configuration management). Only events about those
/// paths count, and only changes: writes to other files in the same directories (the state
/// file, an editor's swap file) and reads (the daemon's own) are ignored.
pub struct ConfigWatcher {
    path: PathBuf,
    debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
    watched: BTreeSet<PathBuf>,
    relevant: Arc<Mutex<Vec<PathBuf>>>,
    rx: mpsc::UnboundedReceiver<()>,
}

impl std::fmt::Debug for ConfigWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigWatcher")
            .field("path", &self.path)
            .field("watched", &self.watched)
            .finish()
    }
}

/// The most directories one config path may have watched (its symlink chain).
const MAX_WATCHED_DIRS: usize = 8;

impl ConfigWatcher {
    /// Starts watching `path` (the debouncer runs on its own thread until this is dropped).
    pub fn new(path: &Path) -> notify::Result<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let relevant: Arc<Mutex<Vec<PathBuf>>> = Arc::new(Mutex::new(Vec::new()));
        let seen_by_handler = relevant.clone();
        let debouncer = notify_debouncer_full::new_debouncer(
            Duration::from_millis(300),
            None,
            move |res: DebounceEventResult| {
                let relevant = seen_by_handler.lock().unwrap_or_else(|e| e.into_inner());
                let hit = match res {
                    Ok(events) => events.iter().any(|e| concerns(e, &relevant)),
                    // Events may have been lost: look at the file.
                    Err(_) => true,
                };
                if hit {
                    let _ = tx.send(());
                }
            },
        )?;
        let mut w = ConfigWatcher {
            path: path.to_path_buf(),
            debouncer,
            watched: BTreeSet::new(),
            relevant,
            rx,
        };
        w.refresh();
        if w.watched.is_empty() {
            return Err(notify::Error::generic(
                "none of the config file's directories can be watched",
            ));
        }
        Ok(w)
    }

    /// Resolves when the file may have changed (`None` once the watcher stopped).
    pub async fn changed(&mut self) -> Option<()> {
        let first = self.rx.recv().await;
        // Several events may be queued by now: one look serves them all.
        while self.rx.try_recv().is_ok() {}
        first
    }

    /// Follows the path again (a link may point elsewhere now) and watches what it reaches.
    pub fn refresh(&mut self) {
        let links = links_of(&self.path);
        let dirs: BTreeSet<PathBuf> = links
            .iter()
            .filter_map(|p| p.parent().map(Path::to_path_buf))
            .take(MAX_WATCHED_DIRS)
            .collect();
        *self.relevant.lock().unwrap_or_else(|e| e.into_inner()) = links;
        for gone in self.watched.difference(&dirs).cloned().collect::<Vec<_>>() {
            let _ = self.debouncer.unwatch(&gone);
            self.watched.remove(&gone);
        }
        for dir in dirs {
            if self.watched.contains(&dir) {
                continue;
            }
            match self
                .debouncer
                .watch(&dir, notify::RecursiveMode::NonRecursive)
            {
                Ok(()) => {
                    self.watched.insert(dir);
                }
                Err(e) => {
                    tracing::debug!(dir = %dir.display(), error = %e, "cannot watch a directory of the config path (yet)")
                }
            }
        }
    }
}

/// Whether a watch event may change what the config path reads: a change (not a read) to one
/// of `relevant` or to a directory above one.
fn concerns(event: &notify::Event, relevant: &[PathBuf]) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    let is_change = match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    };
    is_change
        && (event.need_rescan()
            || event
                .paths
                .iter()
                .any(|p| relevant.iter().any(|r| r.starts_with(p))))
}

/// The paths whose change can change what `path` reads: every symlink met while resolving it
/// (the config itself, Kubernetes' `..data`) and the file it resolves to, each written as its
/// directory's real path plus its name, the form watch events carry.
fn links_of(path: &Path) -> Vec<PathBuf> {
    fn names(p: &Path) -> VecDeque<OsString> {
        p.components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_owned()),
                Component::ParentDir => Some(OsString::from("..")),
                _ => None,
            })
            .collect()
    }
    let Ok(abs) = std::path::absolute(path) else {
        return vec![path.to_path_buf()];
    };
    let mut out = Vec::new();
    let mut resolved = PathBuf::from("/");
    let mut pending = names(&abs);
    // As the kernel does, give up on a chain of more than 40 links (a loop).
    let mut hops = 0;
    while let Some(name) = pending.pop_front() {
        if name == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&name);
        match std::fs::read_link(&candidate) {
            Ok(target) if hops < 40 => {
                hops += 1;
                out.push(candidate);
                if target.is_absolute() {
                    resolved = PathBuf::from("/");
                }
                let mut next = names(&target);
                next.extend(pending.drain(..));
                pending = next;
            }
            _ => resolved = candidate,
        }
    }
    out.push(resolved);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_of_a_configmap_style_path_name_every_link_and_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical");
        std::fs::create_dir(root.join("..2026_01")).expect("gen dir");
        std::fs::write(root.join("..2026_01/s3prio.toml"), "x").expect("file");
        std::os::unix::fs::symlink("..2026_01", root.join("..data")).expect("..data");
        std::os::unix::fs::symlink("..data/s3prio.toml", root.join("s3prio.toml")).expect("link");
        assert_eq!(
            links_of(&root.join("s3prio.toml")),
            vec![
                root.join("s3prio.toml"),
                root.join("..data"),
                root.join("..2026_01/s3prio.toml"),
            ]
        );
        // A plain file is itself; a loop ends.
        assert_eq!(
            links_of(&root.join("..2026_01/s3prio.toml")),
            vec![root.join("..2026_01/s3prio.toml")]
        );
        std::os::unix::fs::symlink("loop", root.join("loop")).expect("loop");
        assert_eq!(links_of(&root.join("loop")).len(), 41);
    }
}
