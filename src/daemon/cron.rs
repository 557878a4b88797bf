//! The cron cadence: signals the daemon's loops at each firing of the configured schedule, on
//! the daemon's clock.
//!
//! tokio-cron-scheduler parses the expression (the parser config validation uses) and says when
//! it next fires after a given instant; the waiting is done here. Its own scheduler ticks every
//! 500 ms against the wall clock, which neither the demo's time-lapse clock nor paused test time
//! can drive.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio_cron_scheduler::{JobBuilder, JobSchedulerError};
use tokio_util::sync::CancellationToken;

use super::Clock;
use crate::config::{Cadence, Config};

/// The longest single sleep towards a firing: the clock is read again at least this often, so
/// a wall clock that was set back or forward is followed within this time.
const MAX_NAP: Duration = Duration::from_secs(60);

type NextAfter = dyn Fn(DateTime<Utc>) -> Option<DateTime<Utc>> + Send + Sync;

/// When a validated cron expression fires, evaluated in UTC.
pub struct CronSchedule {
    next_after: Box<NextAfter>,
}

impl CronSchedule {
    /// Parses `expr` the way the scheduler reads a stored job (day of month and day of week must
    /// both match where both are given).
    pub fn parse(expr: &str) -> Result<Self, JobSchedulerError> {
        let mut job = JobBuilder::new()
            .with_timezone(Utc)
            .with_cron_job_type()
            .with_schedule(expr)?
            .with_run_sync(Box::new(|_, _| {}))
            .build()?;
        let cron = job
            .job_data()?
            .schedule()
            .ok_or(JobSchedulerError::ParseSchedule)?;
        Ok(CronSchedule {
            next_after: Box::new(move |t| cron.find_next_occurrence(&t, false).ok()),
        })
    }

    /// The first firing strictly after `t`; `None` when there is none.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        (self.next_after)(t)
    }
}

/// Runs the cron schedule of the current config on `clock` and signals `tx` on each firing.
/// Follows the cadence when a reload changes it.
pub(super) async fn run(
    mut cfg_rx: watch::Receiver<Arc<Config>>,
    tx: watch::Sender<u64>,
    clock: Clock,
    shutdown: CancellationToken,
) {
    loop {
        let cadence = cfg_rx.borrow().reconcile.cadence.clone();
        let schedule = match &cadence {
            Cadence::Cron(expr) => match CronSchedule::parse(expr) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::error!(cron = %expr, error = %e, "cannot start the cron schedule; falling back to reloads and triggers");
                    None
                }
            },
            Cadence::Interval(_) => None,
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            r = cfg_rx.changed() => if r.is_err() { return },
            () = signal_firings(schedule.as_ref(), &tx, &clock) => {}
        }
        while cfg_rx.borrow().reconcile.cadence == cadence {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                r = cfg_rx.changed() => if r.is_err() { return },
            }
        }
    }
}

/// Signals `tx` at every firing of `schedule` on `clock`; never returns. A firing missed while
/// the process was not running (a suspended machine) is not made up: the next one after "now"
/// follows.
async fn signal_firings(schedule: Option<&CronSchedule>, tx: &watch::Sender<u64>, clock: &Clock) {
    let Some(schedule) = schedule else {
        return std::future::pending().await;
    };
    let mut after = clock.now();
    while let Some(next) = schedule.next_after(after) {
        loop {
            let wait = clock.real_until(next);
            if wait.is_zero() {
                break;
            }
            tokio::time::sleep(wait.min(MAX_NAP)).await;
        }
        tx.send_modify(|v| *v += 1);
        after = next.max(clock.now());
    }
    tracing::warn!("the cron schedule fires no more; cycles now run on reloads and triggers only");
    std::future::pending().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn config(reconcile: &str) -> Arc<Config> {
        let src = format!(
            "[reconcile]\n{reconcile}\n\n[[targets]]\naccount_id = \"123456789012\"\nregion = \"us-east-1\"\n"
        );
        let cfg = crate::config::parse(&src, "test.toml")
            .unwrap_or_else(|e| panic!("config should load:\n{e}"));
        Arc::new(cfg)
    }

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 3, 4, h, m, s)
            .single()
            .expect("valid time")
    }

    #[test]
    fn the_next_firing_is_strictly_after_the_instant_given() {
        let s = CronSchedule::parse("0 */10 * * * *").expect("valid");
        assert_eq!(s.next_after(at(8, 59, 30)), Some(at(9, 0, 0)));
        assert_eq!(s.next_after(at(9, 0, 0)), Some(at(9, 10, 0)));
        let never = CronSchedule::parse("0 0 0 1 1 * 2020").expect("valid");
        assert_eq!(never.next_after(at(9, 0, 0)), None);
    }

    /// Every 10 simulated minutes on a clock 600 times faster than real time: one firing per
    /// real second, the first half a real second after the start.
    #[tokio::test(start_paused = true)]
    async fn fires_on_the_daemon_clock() {
        let clock = Clock::time_lapse(at(8, 55, 0), 600.0);
        let (cfg_tx, cfg_rx) = watch::channel(config("cron = \"0 */10 * * * *\""));
        let (tx, mut rx) = watch::channel(0u64);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run(cfg_rx, tx, clock, shutdown.clone()));
        let start = tokio::time::Instant::now();
        let mut fired = Vec::new();
        for _ in 0..4 {
            tokio::time::timeout(Duration::from_secs(2), rx.changed())
                .await
                .expect("a firing within 2 real seconds")
                .expect("the cron task runs");
            fired.push((start.elapsed().as_millis(), clock.now()));
        }
        let real: Vec<u128> = fired.iter().map(|(ms, _)| *ms).collect();
        assert_eq!(real, vec![500, 1500, 2500, 3500]);
        for ((_, sim), want) in fired.iter().zip([at(9, 0, 0), at(9, 10, 0), at(9, 20, 0)]) {
            let off = (*sim - want).num_milliseconds().abs();
            assert!(off < 1000, "fired at {sim}, expected {want}");
        }

        // A reload to an interval cadence stops the firings.
        cfg_tx.send_replace(config("interval = \"30s\""));
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(
            !rx.has_changed().expect("open"),
            "no firing after the switch"
        );
        shutdown.cancel();
        task.await.expect("the cron task ends on shutdown");
    }
}
