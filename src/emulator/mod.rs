//! A wire-level S3 Control emulator: the eight job operations (ListJobs, DescribeJob,
//! GetJobTagging, PutJobTagging, DeleteJobTagging, UpdateJobPriority, UpdateJobStatus, CreateJob)
//! over HTTP, written from `s3control-wire.md` and checked against the service model's shapes
//! (every member the model requires is sent, enums and patterns are enforced on input), so the
//! real `aws-sdk-s3control` client can be tested, benchmarked and demonstrated without an AWS
//! account.
//!
//! It shares no code with the client side (the SDK wrapper and the daemon's job model): a
//! misreading of the wire on one side cannot cancel itself out on the other.
//!
//! What it does beyond answering:
//! - per-account token-bucket throttling (`TooManyRequestsException`, 400);
//! - fault injection: `InternalServiceException` (500) for a fraction of requests, dropped
//!   connections for another fraction, added latency, and a full outage (`set_down`);
//! - a living population: jobs walk the status flow and, per account, at most `max_active`
//!   runnable jobs are Active, highest priority first (simulated time, `time_scale`);
//! - counters at `GET /_emulator/stats` (reset: `POST /_emulator/stats/reset`) and runtime
//!   control at `POST /_emulator/control`; no AWS path starts with `/_emulator/`;
//! - an optional JSON state file so a restart keeps the jobs;
//! - AWS Organizations (`ListRoots`, `ListAccounts`, `ListAccountsForParent`,
//!   `ListOrganizationalUnitsForParent`) and STS `AssumeRole` on the same port (`org`,
//!   `org_api`): an organization of nested OUs and accounts, each account holding its own jobs,
//!   with per-account roles that can be assumed or not. The organization is not saved in the
//!   state file.
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
mod options;
mod org;
mod org_api;
mod org_handle;
mod population;
mod requests;
mod server;
mod simulate;
mod state;
mod state_file;
mod stats;
mod store;
mod throttle;
mod wire;
mod xml;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use error::EmulatorError;
pub use job::{
    is_valid_account_id, is_valid_job_id, EmulatorJob, Failure, JobSpec, JobStatus, OperationName,
    Progress, Tag,
};
pub use options::{EmulatorOptions, DEFAULT_ACCOUNT_ID, MAX_GENERATED_ACCOUNTS, MAX_GENERATED_OUS};
pub use org::{
    generated_account_id, AccountStatus, OrgAccount, OrgAccountSpec, OrgError, OrgPaging, OrgShape,
    OrgUnit, RoleAccess, DEFAULT_ROLE_NAME, MAX_ORG_RESULTS, ORGANIZATION_ID,
    ROOT_ID as ORG_ROOT_ID,
};
pub use server::{MAX_BODY_BYTES, MAX_LIST_RESULTS};
pub use state::{PriorityUpdate, RequestRecord};
pub use stats::Stats;
pub use throttle::Throttle;

use state::{lock, EmulatorState, Faults};
use store::Store;

/// A running emulator. Dropping it stops the server (without saving); call
/// [`EmulatorHandle::shutdown`] to stop cleanly and save the state file.
pub struct EmulatorHandle {
    addr: SocketAddr,
    state: Arc<EmulatorState>,
    stop: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
    background: Vec<JoinHandle<()>>,
    state_file: Option<PathBuf>,
    /// The management account of the organization the builder methods create.
    account_id: String,
}

/// Starts the emulator: loads or generates the jobs, binds `opts.listen` and serves.
pub async fn start(opts: EmulatorOptions) -> Result<EmulatorHandle, EmulatorError> {
    opts.validate()?;
    let store = initial_store(&opts).await?;
    let faults = Faults {
        fault_rate: opts.fault_rate,
        drop_rate: opts.drop_rate,
        latency: opts.latency,
        ..Faults::default()
    };
    let state = Arc::new(EmulatorState::new(store, opts.throttle, faults, opts.seed));
    generate_organization(&opts, &state);
    let (listener, addr) = bind(opts.listen).await?;
    let (stop, stop_rx) = watch::channel(false);
    let server = tokio::spawn(serve(listener, state.clone(), stop_rx));
    let background = spawn_background(&opts, &state);
    tracing::info!(%addr, jobs = lock(&state.store).job_count(), "S3 Control emulator listening");
    Ok(EmulatorHandle {
        addr,
        state,
        stop,
        server: Some(server),
        background,
        state_file: opts.state_file,
        account_id: opts.account_id,
    })
}

/// The organization of `opts.organization`, `opts.account_id` its management account; each
/// member account gets a population of its own (a seed of its own, so they differ).
fn generate_organization(opts: &EmulatorOptions, state: &EmulatorState) {
    let Some(shape) = &opts.organization else {
        return;
    };
    let now = Utc::now();
    let ids = lock(&state.org).generate(shape, &opts.account_id, now);
    let mut store = lock(&state.store);
    for (k, id) in ids.iter().enumerate().skip(1) {
        let seed = opts.seed.wrapping_add(k as u64);
        for job in population::generate(id, shape.jobs_per_account, seed, now, opts.max_active) {
            store.insert(job);
        }
    }
}

/// The jobs of the state file when it exists, else a generated population.
async fn initial_store(opts: &EmulatorOptions) -> Result<Store, EmulatorError> {
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
    Ok(store)
}

async fn bind(listen: SocketAddr) -> Result<(TcpListener, SocketAddr), EmulatorError> {
    let bind_error = |source| EmulatorError::Bind {
        addr: listen,
        source,
    };
    let listener = TcpListener::bind(listen).await.map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    Ok((listener, addr))
}

/// Serves until `stop` turns true, then lets in-flight requests finish.
async fn serve(listener: TcpListener, state: Arc<EmulatorState>, mut stop: watch::Receiver<bool>) {
    let app =
        server::router(state.clone()).into_make_service_with_connect_info::<server::ConnInfo>();
    let listener = server::EmulatorListener {
        inner: listener,
        state,
    };
    let shutdown = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::warn!(error = %e, "emulator server stopped");
    }
}

/// The simulation and the state-file writer, each when configured.
fn spawn_background(opts: &EmulatorOptions, state: &Arc<EmulatorState>) -> Vec<JoinHandle<()>> {
    let mut background = Vec::new();
    if opts.simulate {
        background.push(tokio::spawn(simulation_loop(
            state.clone(),
            opts.time_scale,
            opts.max_active,
        )));
    }
    if let Some(path) = &opts.state_file {
        background.push(tokio::spawn(state_file::save_loop(
            state.clone(),
            path.clone(),
            opts.save_interval,
        )));
    }
    background
}

async fn simulation_loop(state: Arc<EmulatorState>, time_scale: f64, max_active: usize) {
    let mut interval = tokio::time::interval(Duration::from_millis(250));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = tokio::time::Instant::now();
    loop {
        interval.tick().await;
        let now = tokio::time::Instant::now();
        let dt = now.duration_since(last).as_secs_f64() * time_scale;
        last = now;
        if simulate::tick(&mut lock(&state.store), dt, max_active, Utc::now()) {
            state.mark_dirty();
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
        state_file::save(&self.state, path).await
    }

    pub fn set_throttle(&self, throttle: Option<Throttle>) {
        lock(&self.state.buckets).set(throttle);
    }

    /// Answers this fraction of requests with TooManyRequestsException, whatever the token
    /// bucket says (a throttle storm); 0 ends it.
    pub fn set_throttle_fraction(&self, fraction: f64) {
        lock(&self.state.faults).throttle_fraction = fraction.clamp(0.0, 1.0);
    }

    pub fn set_fault_rate(&self, rate: f64) {
        lock(&self.state.faults).fault_rate = rate.clamp(0.0, 1.0);
    }

    pub fn set_drop_rate(&self, rate: f64) {
        lock(&self.state.faults).drop_rate = rate.clamp(0.0, 1.0);
    }

    pub fn set_latency(&self, latency: Duration) {
        lock(&self.state.faults).latency = latency;
    }

    /// While down, every connection is closed at once and requests on open connections are
    /// dropped unanswered: an outage as the client sees it.
    pub fn set_down(&self, down: bool) {
        let mut f = lock(&self.state.faults);
        f.down = down;
        f.down_until = None;
    }

    pub fn stats(&self) -> Stats {
        lock(&self.state.stats).clone()
    }

    /// Zeroes the counters and clears the priority-update log.
    pub fn reset_stats(&self) {
        self.state.reset_stats();
    }

    /// Adds a job (as if created long ago or just now); returns its id.
    pub fn insert_job(&self, spec: JobSpec) -> String {
        let id = lock(&self.state.store).insert_spec(spec, Utc::now());
        self.state.mark_dirty();
        id
    }

    pub fn job(&self, account: &str, id: &str) -> Option<EmulatorJob> {
        lock(&self.state.store).job(account, id).cloned()
    }

    /// Ids of an account's jobs in listing order (newest first), including ones ListJobs hides.
    pub fn job_ids(&self, account: &str) -> Vec<String> {
        let store = lock(&self.state.store);
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
        let found = lock(&self.state.store)
            .job_mut(account, id)
            .map(f)
            .is_some();
        self.state.mark_dirty();
        found
    }

    /// The job vanishes: later calls get NotFoundException.
    pub fn remove_job(&self, account: &str, id: &str) -> Option<EmulatorJob> {
        self.state.mark_dirty();
        lock(&self.state.store).remove(account, id)
    }

    pub fn job_count(&self) -> usize {
        lock(&self.state.store).job_count()
    }

    /// Every successful UpdateJobPriority since start or the last `reset_stats`, in order.
    pub fn priority_updates(&self) -> Vec<PriorityUpdate> {
        lock(&self.state.priority_updates).clone()
    }

    /// Advances the simulation by `seconds` of simulated time at once (tests that run with
    /// `simulate: false` can step it by hand).
    pub fn advance_simulation(&self, seconds: f64, max_active: usize) {
        simulate::tick(
            &mut lock(&self.state.store),
            seconds,
            max_active,
            Utc::now(),
        );
        self.state.mark_dirty();
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
        let store = lock(&self.state.store);
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
        *lock(&self.state.request_log) = Some(Vec::new());
    }

    /// The requests logged since [`EmulatorHandle::start_request_log`], in arrival order.
    pub fn request_log(&self) -> Vec<RequestRecord> {
        lock(&self.state.request_log).clone().unwrap_or_default()
    }

    /// Requests answered since start (for quick checks; `stats()` has the detail).
    pub fn requests_served(&self) -> u64 {
        self.state.request_counter.load(Ordering::Relaxed)
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
