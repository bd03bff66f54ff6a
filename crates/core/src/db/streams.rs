//! Streams (one per broadcast), their events and viewer sessions.

use super::{Channel, Db, DbError, Result, is_unique_violation};
use crate::time::now_ms;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

macro_rules! stream_cols {
    () => {
        "id, channel_id, title, status, started_at, ended_at, peak_viewers, members_only"
    };
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

impl Db {
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
