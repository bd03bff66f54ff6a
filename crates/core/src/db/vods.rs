//! VODs: finished recordings and whether they are published.

use super::{Db, DbError, Result};
use crate::time::now_ms;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

macro_rules! vod_cols {
    () => {
        "v.id, v.stream_id, v.channel_id, c.name AS channel, v.title, v.started_at, v.duration_ms, v.bytes, v.renditions, v.prefix, v.thumbnail, v.published, v.created_at, COALESCE(s.members_only, 0) AS members_only FROM vods v JOIN channels c ON c.id = v.channel_id LEFT JOIN streams s ON s.id = v.stream_id"
    };
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

impl Db {
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
}
