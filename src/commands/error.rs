//! The one error every command returns, and the exit status it maps to. The status is decided
//! here and nowhere else: 78 (EX_CONFIG, sysexits) for what only an operator can fix (the
//! config, the state file, the bearer token, warnings under `--strict`), so systemd does not
//! restart-loop on it; 130 for Ctrl-C; 1 for everything else.

use crate::aws::memory::StoreError;
use crate::config::ConfigError;
use crate::daemon::DaemonError;
use crate::emulator::EmulatorError;
use crate::snapshot::SnapshotError;

/// EX_CONFIG from sysexits.h.
pub const EX_CONFIG: u8 = 78;
/// 128 + SIGINT, what a shell reports for a command stopped with Ctrl-C.
pub const EX_INTERRUPTED: u8 = 130;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Daemon(#[from] DaemonError),
    #[error("{0}")]
    Snapshot(#[from] SnapshotError),
    #[error("emulator: {0}")]
    Emulator(#[from] EmulatorError),
    /// `check --strict` found warnings (printed before).
    #[error("{0}")]
    Strict(String),
    /// One or more targets failed; the text is the per-target summary.
    #[error("{0}")]
    Targets(String),
    /// The job or target asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Ctrl-C: what was done and what was not.
    #[error("{0}")]
    Interrupted(String),
    /// Anything else, said in one sentence with what was being done.
    #[error("{0}")]
    Failed(String),
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) | Error::Store(_) | Error::Strict(_) => EX_CONFIG,
            Error::Daemon(DaemonError::Config(_) | DaemonError::Store(_))
            | Error::Daemon(DaemonError::Token { .. } | DaemonError::Shard(_)) => EX_CONFIG,
            Error::Interrupted(_) => EX_INTERRUPTED,
            _ => 1,
        }
    }

    /// An error of `doing` something, e.g. `Error::failed("starting the emulator", e)`.
    pub fn failed(doing: &str, e: impl std::fmt::Display) -> Self {
        Error::Failed(format!("{doing}: {e}"))
    }
}
