//! Durable memory of the jobs s3prio changed: each job's baseline (its priority before s3prio
//! first changed it) and the values s3prio set.
//!
//! Two stores, usable together:
//! - **tag**: three tags on the job itself (`s3prio/baseline`, `s3prio/last-set`,
//!   `s3prio/prev-set` with the default prefix). Survives anything, needs no disk (a Kubernetes
//!   pod has none), costs a `GetJobTagging` per managed job on first sight and a
//!   `GetJobTagging` + `PutJobTagging` per change. IAM: `s3:GetJobTagging`, `s3:PutJobTagging`.
//! - **file**: one JSON file (`state_file`), written atomically (temp file, fsync, rename) before
//!   the writes it describes are sent. No extra API calls. Needs a persistent directory
//!   (systemd `StateDirectory=`).
//!
//! A memory is always recorded *before* the priority write it describes, with the job's current
//! value kept as `prev_set`: a crash between the two leaves the job at a value s3prio knows.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::config::{BaselineSettings, StoreKind};
use crate::model::{Job, JobMemory, Priority, Tags};

/// Entries of jobs not seen in any listing for this long are dropped from the state file.
const FORGET_AFTER_SECS: i64 = 14 * 24 * 3600;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state file {path} is not valid s3prio state ({source}); move it away to start afresh (baselines in it would be lost)")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("state file {path} is not valid s3prio state ({reason}); move it away to start afresh (baselines in it would be lost)")]
    Invalid { path: PathBuf, reason: String },
}

/// The state file format this version reads and writes.
const STATE_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileEntry {
    #[serde(flatten)]
    memory: JobMemory,
    /// Unix seconds when the job was last listed.
    last_seen: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct FileState {
    version: u32,
    /// Key: `ACCOUNT/REGION/JOB_ID`.
    jobs: BTreeMap<String, FileEntry>,
}

impl FileState {
    /// What a state file must hold beyond its JSON shape: a version this code writes, and
    /// priorities a job can have (a negative baseline would drive a job to 0 on restore).
    fn check(&self) -> Result<(), String> {
        if self.version != STATE_VERSION {
            return Err(format!(
                "version {} is not the supported version {STATE_VERSION}",
                self.version
            ));
        }
        for (key, e) in &self.jobs {
            let m = &e.memory;
            let values = [
                ("baseline", Some(m.baseline)),
                ("last_set", m.last_set),
                ("prev_set", m.prev_set),
            ];
            if let Some((field, Some(v))) =
                values.into_iter().find(|(_, v)| v.is_some_and(|v| v < 0))
            {
                return Err(format!(
                    "job {key}: {field} {v} is negative; priorities are 0 to {}",
                    crate::model::MAX_PRIORITY
                ));
            }
        }
        Ok(())
    }
}

/// The bytes of the regular file at `path` (a FIFO or a device is refused, not read).
fn read_regular(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let not_regular = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO would block the daemon until a writer comes)",
        )
    };
    // Looked at before opening: opening a FIFO blocks.
    if !std::fs::metadata(path)?.is_file() {
        return Err(not_regular());
    }
    let file = std::fs::File::open(path)?;
    if !file.metadata()?.is_file() {
        return Err(not_regular());
    }
    let mut bytes = Vec::new();
    (&file).read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[derive(Debug)]
struct FileStore {
    path: PathBuf,
    state: Mutex<FileState>,
}

impl FileStore {
    fn open(path: &Path) -> Result<Self, StoreError> {
        let state = match read_regular(path) {
            Ok(bytes) => {
                let state: FileState =
                    serde_json::from_slice(&bytes).map_err(|source| StoreError::Corrupt {
                        path: path.to_path_buf(),
                        source,
                    })?;
                state.check().map_err(|reason| StoreError::Invalid {
                    path: path.to_path_buf(),
                    reason,
                })?;
                state
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileState {
                version: STATE_VERSION,
                ..Default::default()
            },
            Err(source) => {
                return Err(StoreError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        Ok(FileStore {
            path: path.to_path_buf(),
            state: Mutex::new(state),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FileState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn save(&self, state: &FileState) -> Result<(), StoreError> {
        let io = |source| StoreError::Io {
            path: self.path.clone(),
            source,
        };
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| io(std::io::Error::other(e)))?;
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = dir.join(format!(
            ".{}.tmp",
            self.path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("s3prio-state")
        ));
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// The tag keys of the tag store.
#[derive(Debug, Clone)]
pub struct TagKeys {
    pub baseline: String,
    pub last_set: String,
    pub prev_set: String,
}

impl TagKeys {
    pub fn new(prefix: &str) -> Self {
        TagKeys {
            baseline: format!("{prefix}baseline"),
            last_set: format!("{prefix}last-set"),
            prev_set: format!("{prefix}prev-set"),
        }
    }
}

/// The configured memory store(s).
#[derive(Debug)]
pub struct MemoryStore {
    tag_keys: Option<TagKeys>,
    file: Option<FileStore>,
}

pub fn job_key(job: &Job) -> String {
    format!("{}/{}/{}", job.account_id, job.region, job.id)
}

fn parse_priority(v: Option<&String>) -> Option<Priority> {
    v.and_then(|s| s.parse::<Priority>().ok())
        .filter(|p| *p >= 0)
}

impl MemoryStore {
    pub fn open(settings: &BaselineSettings) -> Result<Self, StoreError> {
        let tag_keys = settings
            .stores
            .contains(&StoreKind::Tag)
            .then(|| TagKeys::new(&settings.tag_prefix));
        let file = match (
            &settings.state_file,
            settings.stores.contains(&StoreKind::File),
        ) {
            (Some(path), true) => Some(FileStore::open(path)?),
            _ => None,
        };
        Ok(MemoryStore { tag_keys, file })
    }

    /// A store that remembers nothing across restarts (no store configured).
    pub fn none() -> Self {
        MemoryStore {
            tag_keys: None,
            file: None,
        }
    }

    /// The tag store needs every managed job's tags to learn its memory.
    pub fn uses_tags(&self) -> bool {
        self.tag_keys.is_some()
    }

    pub fn tag_keys(&self) -> Option<&TagKeys> {
        self.tag_keys.as_ref()
    }

    /// What is remembered about `job`: the file store first, then the job's tags.
    pub fn memory_for(&self, job: &Job) -> Option<JobMemory> {
        if let Some(file) = &self.file {
            if let Some(e) = file.lock().jobs.get(&job_key(job)) {
                return Some(e.memory);
            }
        }
        let keys = self.tag_keys.as_ref()?;
        let tags = job.tags.as_ref()?;
        Some(JobMemory {
            baseline: parse_priority(tags.get(&keys.baseline))?,
            last_set: parse_priority(tags.get(&keys.last_set)),
            prev_set: parse_priority(tags.get(&keys.prev_set)),
            hands_off: false,
        })
    }

    /// Records memories in the file store (one atomic save for the whole batch).
    pub fn record_file(
        &self,
        entries: &[(String, JobMemory)],
        now_unix: i64,
    ) -> Result<(), StoreError> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        if entries.is_empty() {
            return Ok(());
        }
        let mut st = file.lock();
        for (key, memory) in entries {
            st.jobs.insert(
                key.clone(),
                FileEntry {
                    memory: *memory,
                    last_seen: now_unix,
                },
            );
        }
        file.save(&st)
    }

    /// Marks the listed jobs of one target as seen, and forgets entries of that target not seen
    /// for two weeks (a job leaves the listing when it ends or leaves the managed statuses; it
    /// may come back from a status that is not managed, so its memory is kept a while).
    pub fn mark_seen(
        &self,
        account_id: &str,
        region: &str,
        live: &HashSet<&str>,
        now_unix: i64,
    ) -> Result<(), StoreError> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let prefix = format!("{account_id}/{region}/");
        let mut st = file.lock();
        let mut changed = false;
        st.jobs.retain(|key, entry| {
            let Some(id) = key.strip_prefix(&prefix) else {
                return true;
            };
            if live.contains(id) {
                if now_unix - entry.last_seen > 3600 {
                    entry.last_seen = now_unix;
                    changed = true;
                }
                true
            } else if now_unix - entry.last_seen > FORGET_AFTER_SECS {
                changed = true;
                false
            } else {
                true
            }
        });
        if changed {
            file.save(&st)?;
        }
        Ok(())
    }

    /// `tags` with the memory tags set to `memory` (for `PutJobTagging`, which replaces the
    /// whole set: every other tag is kept as read).
    pub fn tags_with_memory(&self, tags: &Tags, memory: &JobMemory) -> Option<Tags> {
        let keys = self.tag_keys.as_ref()?;
        let mut out = tags.clone();
        out.insert(keys.baseline.clone(), memory.baseline.to_string());
        match memory.last_set {
            Some(v) => out.insert(keys.last_set.clone(), v.to_string()),
            None => out.remove(&keys.last_set),
        };
        match memory.prev_set {
            Some(v) => out.insert(keys.prev_set.clone(), v.to_string()),
            None => out.remove(&keys.prev_set),
        };
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::JobStatus;

    fn job(tags: Option<Tags>) -> Job {
        Job {
            account_id: "123456789012".into(),
            region: "us-east-1".into(),
            id: "job-1".into(),
            description: None,
            operation: None,
            priority: 10,
            status: JobStatus::Active,
            creation_time: None,
            termination_date: None,
            progress: None,
            tags,
            details: None,
        }
    }

    #[test]
    fn tag_round_trip_keeps_other_tags() {
        let store = MemoryStore {
            tag_keys: Some(TagKeys::new("s3prio/")),
            file: None,
        };
        let mut tags = Tags::new();
        tags.insert("team".into(), "data".into());
        let mem = JobMemory {
            baseline: 10,
            last_set: Some(900),
            prev_set: Some(10),
            hands_off: false,
        };
        let written = store.tags_with_memory(&tags, &mem).expect("tag store");
        assert_eq!(written.get("team").map(String::as_str), Some("data"));
        assert_eq!(store.memory_for(&job(Some(written))), Some(mem));
        assert_eq!(store.memory_for(&job(Some(tags))), None);
    }

    #[test]
    fn file_store_survives_reopen_and_forgets_old_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        let settings = BaselineSettings {
            stores: vec![StoreKind::File],
            state_file: Some(path.clone()),
            tag_prefix: "s3prio/".into(),
        };
        let mem = JobMemory {
            baseline: 10,
            last_set: Some(900),
            prev_set: None,
            hands_off: false,
        };
        let store = MemoryStore::open(&settings).expect("open");
        store
            .record_file(&[(job_key(&job(None)), mem)], 1_000)
            .expect("record");
        drop(store);
        let store = MemoryStore::open(&settings).expect("reopen");
        assert_eq!(store.memory_for(&job(None)), Some(mem));
        // Not listed for more than two weeks: forgotten.
        store
            .mark_seen(
                "123456789012",
                "us-east-1",
                &HashSet::new(),
                1_000 + FORGET_AFTER_SECS + 1,
            )
            .expect("mark");
        assert_eq!(store.memory_for(&job(None)), None);
    }

    #[test]
    fn corrupt_state_file_is_an_error_not_a_reset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        std::fs::write(&path, b"{not json").expect("write");
        let settings = BaselineSettings {
            stores: vec![StoreKind::File],
            state_file: Some(path),
            tag_prefix: "s3prio/".into(),
        };
        let err = MemoryStore::open(&settings).expect_err("corrupt");
        assert!(err.to_string().contains("move it away"), "{err}");
    }
}
