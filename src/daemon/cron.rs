//! The cron cadence: signals the daemon's loops at each firing of the configured schedule.

use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::{Cadence, Config};

/// Runs the UTC cron schedule of the current config and signals `tx` on each firing. Rebuilt
/// when the cadence changes on reload.
pub(super) async fn run(
    mut cfg_rx: watch::Receiver<Arc<Config>>,
    tx: watch::Sender<u64>,
    shutdown: CancellationToken,
) {
    use tokio_cron_scheduler::{JobBuilder, JobScheduler};
    let tx = Arc::new(tx);
    loop {
        let cadence = cfg_rx.borrow().reconcile.cadence.clone();
        let mut scheduler = None;
        if let Cadence::Cron(expr) = &cadence {
            let tx2 = tx.clone();
            let built = async {
                let sched = JobScheduler::new().await?;
                let job = JobBuilder::new()
                    .with_timezone(chrono::Utc)
                    .with_cron_job_type()
                    .with_schedule(expr.as_str())?
                    .with_run_async(Box::new(move |_id, _l| {
                        let tx = tx2.clone();
                        Box::pin(async move {
                            tx.send_modify(|v| *v += 1);
                        })
                    }))
                    .build()?;
                sched.add(job).await?;
                sched.start().await?;
                Ok::<_, tokio_cron_scheduler::JobSchedulerError>(sched)
            };
            match built.await {
                Ok(s) => scheduler = Some(s),
                Err(e) => {
                    tracing::error!(cron = %expr, error = %e, "cannot start the cron schedule; falling back to reloads and triggers")
                }
            }
        }
        let stop = tokio::select! {
            _ = shutdown.cancelled() => true,
            r = cfg_rx.changed() => r.is_err(),
        };
        if let Some(mut s) = scheduler {
            let _ = s.shutdown().await;
        }
        if stop {
            return;
        }
        while cfg_rx.borrow().reconcile.cadence == cadence {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                r = cfg_rx.changed() => if r.is_err() { return },
            }
        }
    }
}
