//! Database access with sqlx: SQLite by default, PostgreSQL when
//! `database.url` says so. One set of queries serves both through sqlx's `Any`
//! driver: `$N` placeholders, integer millisecond timestamps, `RETURNING`.

use crate::config::Config;
use crate::time::now_ms;
use serde::Serialize;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};
use std::time::Duration;

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

/// A channel, as stored (the key hash stays inside this module's callers).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Channel {
    pub id: i64,
    pub owner_id: i64,
    pub name: String,
    pub title: String,
    pub description: String,
    pub members_only: bool,
    pub enabled: bool,
    pub created_at: i64,
    pub key_rotated_at: i64,
    /// The ABR ladder its streams use (a `[ladders]` name in the config).
    pub ladder: String,
    /// Whether its live streams are recorded.
    pub record: bool,
    #[serde(skip)]
    pub stream_key_hash: String,
}

/// One broadcast of a channel.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Stream {
    pub id: i64,
    pub channel_id: i64,
    pub title: String,
    pub status: String,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub peak_viewers: i64,
    pub members_only: bool,
}

/// A viewer session about to be recorded.
#[derive(Debug, Clone)]
pub struct NewViewerSession {
    pub stream_id: i64,
    pub session_key: String,
    pub identified: bool,
    pub user_agent: String,
    pub joined_at: i64,
}

/// A recorded viewer session.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ViewerSession {
    pub id: i64,
    pub stream_id: i64,
    pub session_key: String,
    pub identified: bool,
    pub user_agent: String,
    pub joined_at: i64,
    pub left_at: Option<i64>,
    pub watch_ms: i64,
}

/// Something that happened to a stream (publish, reconnect, end, ...).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StreamEvent {
    pub id: i64,
    pub stream_id: i64,
    pub kind: String,
    pub data: serde_json::Value,
    pub at: i64,
}

/// A finalised recording.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Vod {
    pub id: i64,
    pub stream_id: i64,
    pub channel_id: i64,
    /// The channel's name.
    pub channel: String,
    pub title: String,
    pub started_at: i64,
    pub duration_ms: i64,
    pub bytes: i64,
    /// Rendition names, comma-separated (`source` first).
    pub renditions: String,
    /// Where its objects are in the object store.
    pub prefix: String,
    /// Its poster image's object name under `prefix`; empty: none.
    pub thumbnail: String,
    pub published: bool,
    pub created_at: i64,
    /// Its broadcast was members-only: playback needs a member's token.
    pub members_only: bool,
}

impl Vod {
    /// Its rendition names.
    pub fn rendition_names(&self) -> Vec<&str> {
        self.renditions
            .split(',')
            .filter(|r| !r.is_empty())
            .collect()
    }

    /// The public JSON view (`GET /vods`, `stagectl vod`), with URLs
    /// relative to the packagerd it is served from.
    pub fn public_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "stream_id": self.stream_id,
            "channel": self.channel,
            "title": self.title,
            "started_at": crate::time::rfc3339_ms(self.started_at),
            "duration_s": self.duration_ms as f64 / 1000.0,
            "bytes": self.bytes,
            "renditions": self.rendition_names(),
            "playlist_url": format!("/vods/{}/index.m3u8", self.id),
            "thumbnail_url": (!self.thumbnail.is_empty())
                .then(|| format!("/vods/{}/thumbnail.jpg", self.id)),
            "members_only": self.members_only,
        })
    }
}

/// A recording being registered.
#[derive(Debug, Clone)]
pub struct NewVod {
    pub stream_id: i64,
    pub channel_id: i64,
    pub title: String,
    pub started_at: i64,
    pub duration_ms: i64,
    pub bytes: i64,
    pub renditions: String,
    pub prefix: String,
    pub thumbnail: String,
}

/// Changes to a channel; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ChannelUpdate {
    pub title: Option<String>,
    pub description: Option<String>,
    pub members_only: Option<bool>,
    pub enabled: Option<bool>,
    pub ladder: Option<String>,
    pub record: Option<bool>,
}

/// A connection pool plus the backend it talks to.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

// Column lists as macros so queries stay `&'static str` (sqlx 0.9 refuses
// dynamically built SQL unless audited).
macro_rules! channel_cols {
    () => {
        "id, owner_id, name, title, description, members_only, enabled, created_at, key_rotated_at, ladder, record, stream_key_hash"
    };
}
macro_rules! stream_cols {
    () => {
        "id, channel_id, title, status, started_at, ended_at, peak_viewers, members_only"
    };
}

/// Channel names are URL slugs: 1–63 of `a-z 0-9 - _`, starting with a letter or digit.
pub fn validate_channel_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(DbError::Invalid {
            field: "channel name",
            message: format!(
                "`{name}`: use 1-63 lowercase letters, digits, `-` or `_`, starting with a letter or digit"
            ),
        })
    }
}

fn channel_from(row: &AnyRow) -> Result<Channel> {
    Ok(Channel {
        id: row.try_get("id")?,
        owner_id: row.try_get("owner_id")?,
        name: row.try_get("name")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        members_only: row.try_get::<i64, _>("members_only")? != 0,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        created_at: row.try_get("created_at")?,
        key_rotated_at: row.try_get("key_rotated_at")?,
        ladder: row.try_get("ladder")?,
        record: row.try_get::<i64, _>("record")? != 0,
        stream_key_hash: row.try_get("stream_key_hash")?,
    })
}

fn stream_from(row: &AnyRow) -> Result<Stream> {
    Ok(Stream {
        id: row.try_get("id")?,
        channel_id: row.try_get("channel_id")?,
        title: row.try_get("title")?,
        status: row.try_get("status")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        peak_viewers: row.try_get("peak_viewers")?,
        members_only: row.try_get::<i64, _>("members_only")? != 0,
    })
}

macro_rules! vod_cols {
    () => {
        "v.id, v.stream_id, v.channel_id, c.name AS channel, v.title, v.started_at, v.duration_ms, v.bytes, v.renditions, v.prefix, v.thumbnail, v.published, v.created_at, COALESCE(s.members_only, 0) AS members_only FROM vods v JOIN channels c ON c.id = v.channel_id LEFT JOIN streams s ON s.id = v.stream_id"
    };
}

fn vod_from(row: &AnyRow) -> Result<Vod> {
    Ok(Vod {
        id: row.try_get("id")?,
        stream_id: row.try_get("stream_id")?,
        channel_id: row.try_get("channel_id")?,
        channel: row.try_get("channel")?,
        title: row.try_get("title")?,
        started_at: row.try_get("started_at")?,
        duration_ms: row.try_get("duration_ms")?,
        bytes: row.try_get("bytes")?,
        renditions: row.try_get("renditions")?,
        prefix: row.try_get("prefix")?,
        thumbnail: row.try_get("thumbnail")?,
        published: row.try_get::<i64, _>("published")? != 0,
        created_at: row.try_get("created_at")?,
        members_only: row.try_get::<i64, _>("members_only")? != 0,
    })
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
        match self.backend {
            Backend::Sqlite => {
                sqlx::migrate!("./migrations/sqlite")
                    .run(&self.pool)
                    .await?
            }
            Backend::Postgres => {
                sqlx::migrate!("./migrations/postgres")
                    .run(&self.pool)
                    .await?
            }
        }
        Ok(())
    }

    /// (applied, known) migrations, without applying any: for `stagectl doctor`.
    pub async fn migration_status(&self) -> Result<(usize, usize)> {
        let known = match self.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").iter().count(),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").iter().count(),
        };
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

    /// The id of the operator account `username`, created if missing.
    pub async fn ensure_owner(&self, username: &str) -> Result<i64> {
        if let Some(row) = sqlx::query("SELECT id FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?
        {
            return Ok(row.try_get("id")?);
        }
        let res = sqlx::query(
            "INSERT INTO users (username, role, created_at) VALUES ($1, 'owner', $2) RETURNING id",
        )
        .bind(username)
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await;
        match res {
            Ok(row) => Ok(row.try_get("id")?),
            // Another process created it between our SELECT and INSERT.
            Err(e) if is_unique_violation(&e) => {
                let row = sqlx::query("SELECT id FROM users WHERE username = $1")
                    .bind(username)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(row.try_get("id")?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Creates a channel whose key hashes to `key_hash`.
    pub async fn create_channel(
        &self,
        owner_id: i64,
        name: &str,
        members_only: bool,
        key_hash: &str,
    ) -> Result<Channel> {
        validate_channel_name(name)?;
        let now = now_ms();
        let sql = concat!(
            "INSERT INTO channels (owner_id, name, title, stream_key_hash, members_only, created_at, key_rotated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING ",
            channel_cols!()
        );
        let res = sqlx::query(sql)
            .bind(owner_id)
            .bind(name)
            .bind(name)
            .bind(key_hash)
            .bind(members_only as i64)
            .bind(now)
            .fetch_one(&self.pool)
            .await;
        match res {
            Ok(row) => channel_from(&row),
            Err(e) if is_unique_violation(&e) => Err(DbError::Conflict(format!(
                "channel `{name}` already exists"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Every channel, by name.
    pub async fn list_channels(&self) -> Result<Vec<Channel>> {
        let sql = concat!("SELECT ", channel_cols!(), " FROM channels ORDER BY name");
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        rows.iter().map(channel_from).collect()
    }

    /// The channel called `name`, if any.
    pub async fn channel(&self, name: &str) -> Result<Option<Channel>> {
        let sql = concat!("SELECT ", channel_cols!(), " FROM channels WHERE name = $1");
        let row = sqlx::query(sql)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(channel_from).transpose()
    }

    /// The channel with id `id`, if any.
    pub async fn channel_by_id(&self, id: i64) -> Result<Option<Channel>> {
        let sql = concat!("SELECT ", channel_cols!(), " FROM channels WHERE id = $1");
        let row = sqlx::query(sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(channel_from).transpose()
    }

    /// The channel called `name`, or `NotFound`.
    pub async fn channel_required(&self, name: &str) -> Result<Channel> {
        self.channel(name)
            .await?
            .ok_or_else(|| DbError::NotFound(format!("channel `{name}`")))
    }

    /// The channel whose stream key is `key` (looked up by hash, verified in
    /// constant time).
    pub async fn channel_by_key(&self, key: &str) -> Result<Option<Channel>> {
        let hash = crate::keys::hash(key);
        let sql = concat!(
            "SELECT ",
            channel_cols!(),
            " FROM channels WHERE stream_key_hash = $1"
        );
        let row = sqlx::query(sql)
            .bind(&hash)
            .fetch_optional(&self.pool)
            .await?;
        let Some(ch) = row.as_ref().map(channel_from).transpose()? else {
            return Ok(None);
        };
        Ok(crate::keys::verify(key, &ch.stream_key_hash).then_some(ch))
    }

    /// Applies `update` to channel `name`.
    pub async fn update_channel(&self, name: &str, update: &ChannelUpdate) -> Result<Channel> {
        let ch = self.channel_required(name).await?;
        sqlx::query(
            "UPDATE channels SET title = $1, description = $2, members_only = $3, enabled = $4, ladder = $5, record = $6 WHERE id = $7",
        )
        .bind(update.title.clone().unwrap_or(ch.title))
        .bind(update.description.clone().unwrap_or(ch.description))
        .bind(update.members_only.unwrap_or(ch.members_only) as i64)
        .bind(update.enabled.unwrap_or(ch.enabled) as i64)
        .bind(update.ladder.clone().unwrap_or(ch.ladder))
        .bind(update.record.unwrap_or(ch.record) as i64)
        .bind(ch.id)
        .execute(&self.pool)
        .await?;
        self.channel_required(name).await
    }

    /// Replaces channel `name`'s key hash; the old key stops working at once.
    pub async fn set_key_hash(&self, name: &str, key_hash: &str) -> Result<Channel> {
        let res = sqlx::query(
            "UPDATE channels SET stream_key_hash = $1, key_rotated_at = $2 WHERE name = $3",
        )
        .bind(key_hash)
        .bind(now_ms())
        .bind(name)
        .execute(&self.pool)
        .await?;
        if res.rows_affected() == 0 {
            return Err(DbError::NotFound(format!("channel `{name}`")));
        }
        self.channel_required(name).await
    }

    /// Deletes channel `name` and its streams.
    pub async fn delete_channel(&self, name: &str) -> Result<()> {
        let ch = self.channel_required(name).await?;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "DELETE FROM stream_events WHERE stream_id IN (SELECT id FROM streams WHERE channel_id = $1)",
        )
        .bind(ch.id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM streams WHERE channel_id = $1")
            .bind(ch.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM channels WHERE id = $1")
            .bind(ch.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Opens a live stream for `channel` (fails with `Conflict` if one is live).
    pub async fn start_stream(&self, channel: &Channel) -> Result<Stream> {
        let sql = concat!(
            "INSERT INTO streams (channel_id, title, status, started_at, members_only) VALUES ($1, $2, 'live', $3, $4) RETURNING ",
            stream_cols!()
        );
        let res = sqlx::query(sql)
            .bind(channel.id)
            .bind(&channel.title)
            .bind(now_ms())
            .bind(channel.members_only as i64)
            .fetch_one(&self.pool)
            .await;
        let stream = match res {
            Ok(row) => stream_from(&row)?,
            Err(e) if is_unique_violation(&e) => {
                return Err(DbError::Conflict(format!(
                    "channel `{}` is already live",
                    channel.name
                )));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(stream)
    }

    /// Marks a stream ended now.
    pub async fn end_stream(&self, stream_id: i64) -> Result<()> {
        sqlx::query(
            "UPDATE streams SET status = 'ended', ended_at = $1 WHERE id = $2 AND status = 'live'",
        )
        .bind(now_ms())
        .bind(stream_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Ends every stream still marked live (after an ingest restart), returning their ids.
    pub async fn end_all_live_streams(&self) -> Result<Vec<i64>> {
        let rows = sqlx::query("SELECT id FROM streams WHERE status = 'live'")
            .fetch_all(&self.pool)
            .await?;
        let mut ids = Vec::new();
        for r in rows {
            let id: i64 = r.try_get("id")?;
            self.end_stream(id).await?;
            ids.push(id);
        }
        Ok(ids)
    }

    /// Appends an event to a stream's history.
    pub async fn add_event(
        &self,
        stream_id: i64,
        kind: &str,
        data: serde_json::Value,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO stream_events (stream_id, kind, data, at) VALUES ($1, $2, $3, $4)",
        )
        .bind(stream_id)
        .bind(kind)
        .bind(data.to_string())
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The stream with this id.
    pub async fn stream(&self, id: i64) -> Result<Option<Stream>> {
        let sql = concat!("SELECT ", stream_cols!(), " FROM streams WHERE id = $1");
        let row = sqlx::query(sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(stream_from).transpose()
    }

    /// The live stream of a channel, if any.
    pub async fn live_stream(&self, channel_id: i64) -> Result<Option<Stream>> {
        let sql = concat!(
            "SELECT ",
            stream_cols!(),
            " FROM streams WHERE channel_id = $1 AND status = 'live'"
        );
        let row = sqlx::query(sql)
            .bind(channel_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(stream_from).transpose()
    }

    /// A channel's streams, newest first.
    pub async fn streams(&self, channel_id: i64, limit: i64) -> Result<Vec<Stream>> {
        let sql = concat!(
            "SELECT ",
            stream_cols!(),
            " FROM streams WHERE channel_id = $1 ORDER BY id DESC LIMIT $2"
        );
        let rows = sqlx::query(sql)
            .bind(channel_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(stream_from).collect()
    }

    /// Registers a finalised recording (again, after a restart: the row is
    /// updated), returning its id.
    pub async fn upsert_vod(&self, v: &NewVod) -> Result<i64> {
        let row = sqlx::query(
            "INSERT INTO vods (stream_id, channel_id, title, started_at, duration_ms, bytes, renditions, prefix, thumbnail, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (stream_id) DO UPDATE SET duration_ms = excluded.duration_ms, bytes = excluded.bytes, \
             renditions = excluded.renditions, thumbnail = excluded.thumbnail RETURNING id",
        )
        .bind(v.stream_id)
        .bind(v.channel_id)
        .bind(&v.title)
        .bind(v.started_at)
        .bind(v.duration_ms)
        .bind(v.bytes)
        .bind(&v.renditions)
        .bind(&v.prefix)
        .bind(&v.thumbnail)
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("id")?)
    }

    /// Published recordings, newest first: of one channel or all, with ids
    /// below `before` (paging), at most `limit`.
    pub async fn vods(
        &self,
        channel_id: Option<i64>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Vod>> {
        let sql = concat!(
            "SELECT ",
            vod_cols!(),
            " WHERE v.published = 1 AND ($1 < 0 OR v.channel_id = $1) AND v.id < $2 ORDER BY v.id DESC LIMIT $3"
        );
        let rows = sqlx::query(sql)
            .bind(channel_id.unwrap_or(-1))
            .bind(before.unwrap_or(i64::MAX))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(vod_from).collect()
    }

    /// The recording with this id (published or not).
    pub async fn vod(&self, id: i64) -> Result<Option<Vod>> {
        let sql = concat!("SELECT ", vod_cols!(), " WHERE v.id = $1");
        let row = sqlx::query(sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(vod_from).transpose()
    }

    /// Every recording whose stream started before `ms` (Unix ms), oldest
    /// first (retention).
    pub async fn vods_started_before(&self, ms: i64) -> Result<Vec<Vod>> {
        let sql = concat!(
            "SELECT ",
            vod_cols!(),
            " WHERE v.started_at < $1 ORDER BY v.started_at"
        );
        let rows = sqlx::query(sql).bind(ms).fetch_all(&self.pool).await?;
        rows.iter().map(vod_from).collect()
    }

    /// The id of a stream's recording, if it has been finalised.
    pub async fn vod_for_stream(&self, stream_id: i64) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT id FROM vods WHERE stream_id = $1")
            .bind(stream_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("id")).transpose()?)
    }

    /// Publishes or hides a recording (`/vods` lists published ones only).
    pub async fn set_vod_published(&self, id: i64, published: bool) -> Result<()> {
        let r = sqlx::query("UPDATE vods SET published = $1 WHERE id = $2")
            .bind(published as i64)
            .bind(id)
            .execute(&self.pool)
            .await?;
        if r.rows_affected() == 0 {
            return Err(DbError::NotFound(format!("VOD {id}")));
        }
        Ok(())
    }

    /// Deletes a recording's row.
    pub async fn delete_vod(&self, id: i64) -> Result<()> {
        let r = sqlx::query("DELETE FROM vods WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        if r.rows_affected() == 0 {
            return Err(DbError::NotFound(format!("VOD {id}")));
        }
        Ok(())
    }

    /// Every recording, published or not, newest first (operators' view).
    pub async fn all_vods(&self, channel_id: Option<i64>, limit: i64) -> Result<Vec<Vod>> {
        let sql = concat!(
            "SELECT ",
            vod_cols!(),
            " WHERE ($1 < 0 OR v.channel_id = $1) ORDER BY v.id DESC LIMIT $2"
        );
        let rows = sqlx::query(sql)
            .bind(channel_id.unwrap_or(-1))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(vod_from).collect()
    }

    /// How many streams exist (all channels).
    pub async fn count_streams(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM streams")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Records viewer sessions that started, returning their row ids in order.
    pub async fn open_viewer_sessions(&self, sessions: &[NewViewerSession]) -> Result<Vec<i64>> {
        let mut tx = self.pool.begin().await?;
        let mut ids = Vec::with_capacity(sessions.len());
        for s in sessions {
            let row = sqlx::query(
                "INSERT INTO viewer_sessions (stream_id, session_key, identified, user_agent, joined_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(s.stream_id)
            .bind(&s.session_key)
            .bind(s.identified as i64)
            .bind(&s.user_agent)
            .bind(s.joined_at)
            .fetch_one(&mut *tx)
            .await?;
            ids.push(row.try_get("id")?);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Closes viewer sessions: (row id, left at, watch ms).
    pub async fn close_viewer_sessions(&self, closed: &[(i64, i64, i64)]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for (id, left_at, watch_ms) in closed {
            sqlx::query("UPDATE viewer_sessions SET left_at = $1, watch_ms = $2 WHERE id = $3")
                .bind(left_at)
                .bind(watch_ms)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Raises a stream's peak concurrent viewers to `peak` (never lowers it).
    pub async fn raise_peak_viewers(&self, stream_id: i64, peak: i64) -> Result<()> {
        sqlx::query("UPDATE streams SET peak_viewers = $1 WHERE id = $2 AND peak_viewers < $1")
            .bind(peak)
            .bind(stream_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A stream's viewer sessions, oldest first.
    pub async fn viewer_sessions(&self, stream_id: i64) -> Result<Vec<ViewerSession>> {
        let rows = sqlx::query(
            "SELECT id, stream_id, session_key, identified, user_agent, joined_at, left_at, watch_ms \
             FROM viewer_sessions WHERE stream_id = $1 ORDER BY id",
        )
        .bind(stream_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ViewerSession {
                    id: r.try_get("id")?,
                    stream_id: r.try_get("stream_id")?,
                    session_key: r.try_get("session_key")?,
                    identified: r.try_get::<i64, _>("identified")? != 0,
                    user_agent: r.try_get("user_agent")?,
                    joined_at: r.try_get("joined_at")?,
                    left_at: r.try_get("left_at")?,
                    watch_ms: r.try_get("watch_ms")?,
                })
            })
            .collect()
    }

    /// A stream's events, oldest first.
    pub async fn events(&self, stream_id: i64) -> Result<Vec<StreamEvent>> {
        let rows = sqlx::query(
            "SELECT id, stream_id, kind, data, at FROM stream_events WHERE stream_id = $1 ORDER BY id",
        )
        .bind(stream_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let data: String = r.try_get("data")?;
                Ok(StreamEvent {
                    id: r.try_get("id")?,
                    stream_id: r.try_get("stream_id")?,
                    kind: r.try_get("kind")?,
                    data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
                    at: r.try_get("at")?,
                })
            })
            .collect()
    }
}
