//! Database access with sqlx: SQLite by default, PostgreSQL when
//! `database.url` says so. One set of queries serves both through sqlx's `Any`
//! driver: `$N` placeholders, integer millisecond timestamps, `RETURNING`.

use crate::config::Config;
use serde::Serialize;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};
use std::time::Duration;

mod channels;
mod migrations;
mod streams;
mod vods;

pub use channels::{Channel, ChannelUpdate, validate_channel_name};
pub use streams::{NewViewerSession, Stream, StreamEvent, ViewerSession};
pub use vods::{NewVod, Vod};

/// Database errors that callers act on; the rest are `Sqlx`.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("invalid {field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot create data dir {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
}

type Result<T, E = DbError> = std::result::Result<T, E>;

/// Which engine a pool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connection pool plus the backend it talks to.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl Db {
    /// Connects per the config (creating the data dir and SQLite file) and migrates.
    pub async fn open(cfg: &Config) -> Result<Db> {
        if cfg.database.url.is_empty() {
            std::fs::create_dir_all(&cfg.data_dir).map_err(|source| DbError::DataDir {
                path: cfg.data_dir.display().to_string(),
                source,
            })?;
        }
        let db = Db::connect(
            &cfg.database_url(),
            cfg.database.max_connections,
            cfg.database.busy_timeout.0,
        )
        .await?;
        // systemd starts the daemons at once: on SQLite (which sqlx does not
        // lock while migrating, unlike PostgreSQL) one migrates while the
        // others wait, then find nothing left to do.
        let _lock = if cfg.database.url.is_empty() {
            let path = cfg.data_dir.join("migrate.lock");
            let lock = tokio::task::spawn_blocking(move || {
                let f = std::fs::File::create(&path)?;
                f.lock()?;
                Ok::<_, std::io::Error>(f)
            })
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|r| r)
            .map_err(|source| DbError::DataDir {
                path: cfg.data_dir.display().to_string(),
                source,
            })?;
            Some(lock)
        } else {
            None
        };
        db.migrate().await?;
        Ok(db)
    }

    /// Connects to a URL without migrating.
    pub async fn connect(url: &str, max_connections: u32, busy_timeout: Duration) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        let busy_ms = busy_timeout.as_millis();
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets ingestd, packagerd and stagectl share the file;
                        // the busy timeout makes writers wait instead of failing.
                        conn.execute(sqlx::AssertSqlSafe(format!(
                            "PRAGMA busy_timeout = {busy_ms}; PRAGMA journal_mode = WAL; \
                                 PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
                        )))
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        Ok(Db { pool, backend })
    }

    /// Applies pending migrations for this backend.
    pub async fn migrate(&self) -> Result<()> {
        migrations::migrator(self.backend).run(&self.pool).await?;
        Ok(())
    }

    /// (applied, known) migrations, without applying any: for `stagectl doctor`.
    pub async fn migration_status(&self) -> Result<(usize, usize)> {
        let known = migrations::migrator(self.backend).iter().count();
        // No table yet: nothing applied.
        let applied: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_one(&self.pool)
                .await
                .unwrap_or(0);
        Ok((applied as usize, known))
    }

    /// The database server's clock (Unix ms); `None` for SQLite, which has
    /// no clock of its own.
    pub async fn server_clock_ms(&self) -> Result<Option<i64>> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        let ms: f64 = sqlx::query_scalar(
            "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS DOUBLE PRECISION)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Some(ms as i64))
    }

    /// Which engine this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool, for modules that add their own queries.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await
    }
}
