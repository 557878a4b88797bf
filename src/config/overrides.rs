//! Command-line settings that win over the file's. Applied where the file is turned into a
//! [`Config`] (`load`, and the daemon's start and every reload), so no path forgets them.

use super::Config;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--dry-run`: compute and log the changes, write nothing, whatever the file says.
    pub dry_run: bool,
}

impl Overrides {
    pub fn apply(self, mut cfg: Config) -> Config {
        if self.dry_run {
            cfg.reconcile.dry_run = true;
        }
        cfg
    }
}
