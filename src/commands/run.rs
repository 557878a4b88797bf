//! `s3prio run`: the daemon. The signal handlers come first: until they are installed, SIGHUP
//! or SIGUSR1 (a reload or a request sent during a slow start) would kill the process. Then the
//! config is read and parsed once, for the log settings and the daemon alike.

use tokio_util::sync::CancellationToken;

use super::{init_logs, Error};
use crate::cli::RunArgs;
use crate::config::Overrides;
use crate::daemon::{self, DaemonError, DaemonOptions, Signals};
use crate::shard::ShardSpec;

pub async fn daemon(args: RunArgs) -> Result<(), Error> {
    let mut signals =
        Signals::install().map_err(|e| Error::failed("cannot install signal handlers", e))?;
    let shard = match ShardSpec::resolve(args.shard.as_deref(), |k| std::env::var(k).ok()) {
        Ok(s) => s.unwrap_or(ShardSpec::WHOLE),
        Err(e) => {
            init_logs(args.log_format, None);
            tracing::error!(error = %e, "s3prio cannot start");
            return Err(DaemonError::from(e).into());
        }
    };
    let overrides = Overrides {
        dry_run: args.dry_run,
    };
    // Stopping during a slow start stops now; a reload or a request stays pending in the
    // handlers and is acted on once the daemon runs.
    let loaded = tokio::select! {
        loaded = daemon::load_config(&args.config, overrides) => loaded,
        _ = signals.terminated() => return Ok(()),
    };
    let (source, cfg) = match loaded {
        Ok(l) => l,
        Err(e) => {
            init_logs(args.log_format, None);
            tracing::error!(error = %e, "s3prio cannot start");
            return Err(e.into());
        }
    };
    init_logs(args.log_format, Some(&cfg));
    let mut opts = DaemonOptions::new(args.config.clone());
    opts.stuck_after = args.stuck_after;
    opts.shard = shard;
    let shutdown = CancellationToken::new();
    daemon::run_loaded(
        opts,
        source,
        cfg,
        Some(signals),
        Default::default(),
        shutdown,
    )
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "s3prio cannot start");
        e.into()
    })
}
