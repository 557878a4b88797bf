//! Log setup: JSON or text, level from `RUST_LOG`, else the config, else `info`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The log format to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Text,
}

impl Format {
    /// Text on a terminal, JSON otherwise (journald, Kubernetes).
    pub fn auto() -> Self {
        if std::io::stdout().is_terminal() {
            Format::Text
        } else {
            Format::Json
        }
    }
}

/// Installs the global subscriber. Calling it twice is harmless (the second call is ignored).
///
/// Logging never panics and never stops the daemon: a line that cannot be written (stdout
/// closed, `s3prio run | head`, a full disk) is dropped. The formatter's own report of such a
/// failure is off, because it goes to stderr with `eprintln!`, which panics when stderr is
/// closed too.
pub fn init(format: Format, level: Option<&str>) {
    install(format, level, std::io::stdout);
}

/// [`init`] writing to stderr: for commands whose stdout is their result (`plan`, `explain`).
pub fn init_to_stderr(format: Format, level: Option<&str>) {
    install(format, level, std::io::stderr);
}

fn install<W>(format: Format, level: Option<&str>, writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level.unwrap_or("info")))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .log_internal_errors(false);
    let _ = match format {
        Format::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        Format::Text => builder.try_init(),
    };
}
