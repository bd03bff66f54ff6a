//! Command-line options every StreamStage binary shares.

use crate::config::{Config, ConfigError};
use std::path::PathBuf;

/// `--config`/`STAGE_CONFIG` and `--data-dir`/`STAGE_DATA_DIR`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CommonArgs {
    /// Config file (TOML); built-in defaults when absent.
    #[arg(long, env = "STAGE_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Data directory (database, admin token, recordings); overrides `data_dir`.
    #[arg(long, env = "STAGE_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
}

impl CommonArgs {
    /// Loads the config and applies the command-line overrides.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let mut cfg = Config::load(self.config.as_deref())?;
        if let Some(d) = &self.data_dir {
            cfg.data_dir = d.clone();
        }
        Ok(cfg)
    }
}
