//! How the emulator starts: listen address, generated population, throttle, faults, state
//! file and simulation speed, and the checks they must pass before anything is bound.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::error::EmulatorError;
use super::job::is_valid_account_id;
use super::org::OrgShape;
use super::throttle::Throttle;

/// The most accounts and OUs a generated organization may have.
pub const MAX_GENERATED_ACCOUNTS: usize = 100_000;
pub const MAX_GENERATED_OUS: usize = 1_000;

/// The account that owns generated jobs unless told otherwise.
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";

/// How the emulator starts. `Default` gives an empty, unthrottled, fault-free emulator on
/// `127.0.0.1:0` with the simulation running in real time.
#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    pub listen: SocketAddr,
    /// Jobs generated at start for `account_id` (ignored when a state file is loaded).
    pub jobs: usize,
    /// Seed of the generated population, request ids and fault draws.
    pub seed: u64,
    pub account_id: String,
    pub throttle: Option<Throttle>,
    /// Fraction of requests answered with InternalServiceException (500).
    pub fault_rate: f64,
    /// Fraction of requests whose connection is dropped without an answer. The CLI's
    /// `--fault-rate P` becomes `fault_rate = 0.75 P` and `drop_rate = 0.25 P`.
    pub drop_rate: f64,
    /// Added to every job-API response.
    pub latency: Duration,
    /// Load jobs from this file at start if it exists; save them periodically and on shutdown.
    pub state_file: Option<PathBuf>,
    /// Simulated seconds per wall-clock second (status flow and progress).
    pub time_scale: f64,
    /// Run the status flow and progress. Tests of exact counts turn it off.
    pub simulate: bool,
    /// Per account, at most this many jobs are Active at once.
    pub max_active: usize,
    /// How often the state file is rewritten (when something changed).
    pub save_interval: Duration,
    /// Generate an organization at start, `account_id` being its management account.
    pub organization: Option<OrgShape>,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        EmulatorOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            jobs: 0,
            seed: 1,
            account_id: DEFAULT_ACCOUNT_ID.to_string(),
            throttle: None,
            fault_rate: 0.0,
            drop_rate: 0.0,
            latency: Duration::ZERO,
            state_file: None,
            time_scale: 1.0,
            simulate: true,
            max_active: 4,
            save_interval: Duration::from_secs(10),
            organization: None,
        }
    }
}

impl EmulatorOptions {
    pub(super) fn validate(&self) -> Result<(), EmulatorError> {
        let bad = |m: String| Err(EmulatorError::Option(m));
        if !is_valid_account_id(&self.account_id) {
            return bad(format!(
                "account id `{}` must be 12 digits",
                self.account_id
            ));
        }
        for (name, rate) in [
            ("fault rate", self.fault_rate),
            ("drop rate", self.drop_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return bad(format!("{name} {rate} must be between 0 and 1"));
            }
        }
        if self.fault_rate + self.drop_rate > 1.0 {
            return bad("fault rate + drop rate must not exceed 1".into());
        }
        if !(self.time_scale.is_finite() && self.time_scale > 0.0) {
            return bad(format!(
                "time scale {} must be a positive number",
                self.time_scale
            ));
        }
        if let Some(t) = self.throttle {
            if !(t.rps.is_finite() && t.rps > 0.0) {
                return bad(format!("throttle rate {} must be a positive number", t.rps));
            }
        }
        if let Some(shape) = &self.organization {
            if shape.accounts == 0 {
                return bad(
                    "an organization has at least one account (its management account)".into(),
                );
            }
            if shape.accounts > MAX_GENERATED_ACCOUNTS {
                return bad(format!(
                    "{} organization accounts is more than the {MAX_GENERATED_ACCOUNTS} the generator makes",
                    shape.accounts
                ));
            }
            if shape.ous > MAX_GENERATED_OUS {
                return bad(format!(
                    "{} OUs is more than the {MAX_GENERATED_OUS} the generator makes",
                    shape.ous
                ));
            }
        }
        Ok(())
    }
}
