//! A wire-level S3 Control emulator: the eight job operations (ListJobs, DescribeJob,
//! GetJobTagging, PutJobTagging, DeleteJobTagging, UpdateJobPriority, UpdateJobStatus, CreateJob)
//! over HTTP, written from `s3control-wire.md` and checked against the service model's shapes
//! (every member the model requires is sent, enums and patterns are enforced on input), so the
//! real `aws-sdk-s3control` client can be tested, benchmarked and demonstrated without an AWS
//! account.
//!
//! It shares no code with the client side (`crate::aws`, `crate::model`): a misreading of the
//! wire on one side cannot cancel itself out on the other.
//!
//! What it does beyond answering:
//! - per-account token-bucket throttling (`TooManyRequestsException`, 400);
//! - fault injection: `InternalServiceException` (500) for a fraction of requests, dropped
//!   connections for another fraction, added latency, and a full outage (`set_down`);
//! - a living population: jobs walk the status flow and, per account, at most `max_active`
//!   runnable jobs are Active, highest priority first (simulated time, `time_scale`);
//! - counters at `GET /_emulator/stats` (reset: `POST /_emulator/stats/reset`) and runtime
//!   control at `POST /_emulator/control`; no AWS path starts with `/_emulator/`;
//! - an optional JSON state file so a restart keeps the jobs.
//!
//! Choices where the reference is silent: NotFoundException is sent with 400 (the model
//! default); malformed input is InvalidRequestException on ListJobs and BadRequestException on
//! every other operation (a missing or malformed `x-amz-account-id` included); `maxResults=0`
//! means the default (1000) and values outside the model's 0..1000 are refused
//! (InvalidRequestException); DeleteJobTagging answers an empty `DeleteJobTaggingResult`;
//! DescribeJob of a generated job synthesises an `Operation` with the members the model
//! requires (`LegalHold/Status`, `Retention`); unknown paths get
//! `UnknownOperationException` (404), wrong methods `MethodNotAllowed` (405), bodies over
//! 1 MiB `EntityTooLarge` (413), all in the wrapped `ErrorResponse` form. Timestamps are wall
//! clock; `time_scale` only speeds up the status flow and progress. ListJobs lists newest
//! first.

mod error;
mod job;
mod population;
mod requests;
mod server;
mod simulate;
mod state_file;
mod stats;
mod store;
mod throttle;
mod wire;
mod xml;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use error::EmulatorError;
pub use job::{
    is_valid_account_id, is_valid_job_id, EmulatorJob, Failure, JobSpec, JobStatus, OperationName,
    Progress, Tag,
};
pub use server::{PriorityUpdate, RequestRecord, MAX_BODY_BYTES, MAX_LIST_RESULTS};
pub use stats::Stats;
pub use throttle::Throttle;

use server::{lock, Faults, Shared};
use store::Store;

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
        }
    }
}

impl EmulatorOptions {
    fn validate(&self) -> Result<(), EmulatorError> {
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
        Ok(())
    }
}

/// A running emulator. Dropping it stops the server (without saving); call
/// [`EmulatorHandle::shutdown`] to stop cleanly and save the state file.
pub struct EmulatorHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
    background: Vec<JoinHandle<()>>,
    state_file: Option<PathBuf>,
}

/// Starts the emulator: loads or generates the jobs, binds `opts.listen` and serves.
pub async fn start(opts: EmulatorOptions) -> Result<EmulatorHandle, EmulatorError> {
    opts.validate()?;
    let mut store = Store::new(opts.seed);
    let loaded = match &opts.state_file {
        Some(path) => state_file::load(path).await?,
        None => None,
    };
    match loaded {
        Some(snapshot) => store.restore(snapshot),
        None => {
            let jobs = population::generate(
                &opts.account_id,
                opts.jobs,
                opts.seed,
                Utc::now(),
                opts.max_active,
            );
            for job in jobs {
                store.insert(job);
            }
        }
    }
    let shared = Arc::new(Shared {
        store: Mutex::new(store),
        buckets: Mutex::new(throttle::AccountBuckets::new(opts.throttle)),
        stats: Mutex::new(Stats::default()),
        faults: Mutex::new(Faults {
            fault_rate: opts.fault_rate,
            drop_rate: opts.drop_rate,
            latency: opts.latency,
            down: false,
            down_until: None,
            throttle_fraction: 0.0,
        }),
        rng: Mutex::new(SmallRng::seed_from_u64(opts.seed.wrapping_add(17))),
        priority_updates: Mutex::new(Vec::new()),
        request_log: Mutex::new(None),
        request_counter: AtomicU64::new(0),
        seed: opts.seed,
        dirty: AtomicBool::new(false),
    });
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|source| EmulatorError::Bind {
            addr: opts.listen,
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| EmulatorError::Bind {
            addr: opts.listen,
            source,
        })?;
    let (stop, stop_rx) = watch::channel(false);

    let app =
        server::router(shared.clone()).into_make_service_with_connect_info::<server::ConnInfo>();
    let listener = server::EmulatorListener {
        inner: listener,
        shared: shared.clone(),
    };
    let mut server_stop = stop_rx.clone();
    let server = tokio::spawn(async move {
        let shutdown = async move {
            let _ = server_stop.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::warn!(error = %e, "emulator server stopped");
        }
    });

    let mut background = Vec::new();
    if opts.simulate {
        background.push(tokio::spawn(simulation_loop(
            shared.clone(),
            opts.time_scale,
            opts.max_active,
        )));
    }
    if let Some(path) = &opts.state_file {
        background.push(tokio::spawn(state_file::save_loop(
            shared.clone(),
            path.clone(),
            opts.save_interval,
        )));
    }
    tracing::info!(%addr, jobs = lock(&shared.store).job_count(), "S3 Control emulator listening");
    Ok(EmulatorHandle {
        addr,
        shared,
        stop,
        server: Some(server),
        background,
        state_file: opts.state_file,
    })
}

async fn simulation_loop(shared: Arc<Shared>, time_scale: f64, max_active: usize) {
    let mut interval = tokio::time::interval(Duration::from_millis(250));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = tokio::time::Instant::now();
    loop {
        interval.tick().await;
        let now = tokio::time::Instant::now();
        let dt = now.duration_since(last).as_secs_f64() * time_scale;
        last = now;
        if simulate::tick(&mut lock(&shared.store), dt, max_active, Utc::now()) {
            shared.mark_dirty();
        }
    }
}

impl EmulatorHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, for the client's fixed endpoint resolver.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets in-flight requests finish (up to 5 s), stops the simulation and
    /// saves the state file if one is configured.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(mut server) = self.server.take() {
            if tokio::time::timeout(Duration::from_secs(5), &mut server)
                .await
                .is_err()
            {
                server.abort();
            }
        }
        for task in self.background.drain(..) {
            task.abort();
        }
        if let Some(path) = self.state_file.clone() {
            if let Err(e) = self.save_state_to(&path).await {
                tracing::error!(error = %e, "could not save the emulator state on shutdown");
            }
        }
    }

    /// Writes the jobs to `path` now (atomically).
    pub async fn save_state_to(&self, path: &std::path::Path) -> Result<(), EmulatorError> {
        state_file::save(&self.shared, path).await
    }

    pub fn set_throttle(&self, throttle: Option<Throttle>) {
        lock(&self.shared.buckets).set(throttle);
    }

    /// Answers this fraction of requests with TooManyRequestsException, whatever the token
    /// bucket says (a throttle storm); 0 ends it.
    pub fn set_throttle_fraction(&self, fraction: f64) {
        lock(&self.shared.faults).throttle_fraction = fraction.clamp(0.0, 1.0);
    }

    pub fn set_fault_rate(&self, rate: f64) {
        lock(&self.shared.faults).fault_rate = rate.clamp(0.0, 1.0);
    }

    pub fn set_drop_rate(&self, rate: f64) {
        lock(&self.shared.faults).drop_rate = rate.clamp(0.0, 1.0);
    }

    pub fn set_latency(&self, latency: Duration) {
        lock(&self.shared.faults).latency = latency;
    }

    /// While down, every connection is closed at once and requests on open connections are
    /// dropped unanswered: an outage as the client sees it.
    pub fn set_down(&self, down: bool) {
        let mut f = lock(&self.shared.faults);
        f.down = down;
        f.down_until = None;
    }

    pub fn stats(&self) -> Stats {
        lock(&self.shared.stats).clone()
    }

    /// Zeroes the counters and clears the priority-update log.
    pub fn reset_stats(&self) {
        server::reset_stats(&self.shared);
    }

    /// Adds a job (as if created long ago or just now); returns its id.
    pub fn insert_job(&self, spec: JobSpec) -> String {
        let id = lock(&self.shared.store).insert_spec(spec, Utc::now());
        self.shared.mark_dirty();
        id
    }

    pub fn job(&self, account: &str, id: &str) -> Option<EmulatorJob> {
        lock(&self.shared.store).job(account, id).cloned()
    }

    /// Ids of an account's jobs in listing order (newest first), including ones ListJobs hides.
    pub fn job_ids(&self, account: &str) -> Vec<String> {
        let store = lock(&self.shared.store);
        store
            .account(account)
            .map(|a| a.jobs.values().map(|j| j.id.clone()).collect())
            .unwrap_or_default()
    }

    /// Changes a priority as a person in the console would (not logged as an API update).
    /// Returns false if the job does not exist.
    pub fn set_priority_direct(&self, account: &str, id: &str, priority: i32) -> bool {
        self.update_direct(account, id, |job| job.priority = priority)
    }

    pub fn set_status_direct(&self, account: &str, id: &str, status: JobStatus) -> bool {
        self.update_direct(account, id, |job| job.enter(status, Utc::now()))
    }

    pub fn set_tags_direct(&self, account: &str, id: &str, tags: Vec<Tag>) -> bool {
        self.update_direct(account, id, |job| job.tags = tags)
    }

    fn update_direct(&self, account: &str, id: &str, f: impl FnOnce(&mut EmulatorJob)) -> bool {
        let found = lock(&self.shared.store)
            .job_mut(account, id)
            .map(f)
            .is_some();
        self.shared.mark_dirty();
        found
    }

    /// The job vanishes: later calls get NotFoundException.
    pub fn remove_job(&self, account: &str, id: &str) -> Option<EmulatorJob> {
        self.shared.mark_dirty();
        lock(&self.shared.store).remove(account, id)
    }

    pub fn job_count(&self) -> usize {
        lock(&self.shared.store).job_count()
    }

    /// Every successful UpdateJobPriority since start or the last `reset_stats`, in order.
    pub fn priority_updates(&self) -> Vec<PriorityUpdate> {
        lock(&self.shared.priority_updates).clone()
    }

    /// Advances the simulation by `seconds` of simulated time at once (tests that run with
    /// `simulate: false` can step it by hand).
    pub fn advance_simulation(&self, seconds: f64, max_active: usize) {
        simulate::tick(
            &mut lock(&self.shared.store),
            seconds,
            max_active,
            Utc::now(),
        );
        self.shared.mark_dirty();
    }

    /// Serves one ListJobs page in-process (no HTTP) and returns (jobs on the page, next token):
    /// for measuring the emulator's own cost.
    pub fn list_page_direct(
        &self,
        account: &str,
        max: usize,
        next_token: Option<&str>,
    ) -> (usize, Option<String>) {
        let cursor = next_token.and_then(store::ListKey::from_token);
        let store = lock(&self.shared.store);
        let page = store.list(
            account,
            0,
            max.clamp(1, MAX_LIST_RESULTS),
            cursor.as_ref(),
            Utc::now(),
        );
        let token = page.next.as_ref().map(store::ListKey::to_token);
        let body = wire::list_jobs(&page.jobs, token.as_deref());
        std::hint::black_box(body);
        (page.jobs.len(), token)
    }

    /// Starts (or restarts, empty) a log of every job-API request with its time and job id.
    pub fn start_request_log(&self) {
        *lock(&self.shared.request_log) = Some(Vec::new());
    }

    /// The requests logged since [`EmulatorHandle::start_request_log`], in arrival order.
    pub fn request_log(&self) -> Vec<RequestRecord> {
        lock(&self.shared.request_log).clone().unwrap_or_default()
    }

    /// Requests answered since start (for quick checks; `stats()` has the detail).
    pub fn requests_served(&self) -> u64 {
        self.shared.request_counter.load(Ordering::Relaxed)
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(server) = self.server.take() {
            server.abort();
        }
        for task in self.background.drain(..) {
            task.abort();
        }
    }
}
