//! The daemon's signals: SIGHUP reloads, SIGUSR1 asks for a cycle with every tag set read
//! again, SIGTERM and SIGINT stop.

use tokio::signal::unix::{signal, SignalKind};

/// A signal the daemon acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    Hup,
    Usr1,
    Term,
}

/// The daemon's signal handlers. Installing them replaces the default dispositions for the
/// life of the process (SIGHUP and SIGUSR1 would otherwise kill it), and a signal that
/// arrives before anyone waits is kept for the next [`Signals::next`].
pub struct Signals {
    hup: tokio::signal::unix::Signal,
    usr1: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl std::fmt::Debug for Signals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signals")
    }
}

impl Signals {
    /// Installs the handlers of SIGHUP, SIGUSR1, SIGTERM and SIGINT (within a tokio runtime).
    pub fn install() -> std::io::Result<Self> {
        Ok(Signals {
            hup: signal(SignalKind::hangup())?,
            usr1: signal(SignalKind::user_defined1())?,
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Resolves on SIGTERM or SIGINT; a SIGHUP or SIGUSR1 meanwhile stays pending for
    /// [`Signals::next`].
    pub async fn terminated(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }

    pub async fn next(&mut self) -> Sig {
        tokio::select! {
            _ = self.hup.recv() => Sig::Hup,
            _ = self.usr1.recv() => Sig::Usr1,
            _ = self.term.recv() => Sig::Term,
            _ = self.int.recv() => Sig::Term,
        }
    }
}
