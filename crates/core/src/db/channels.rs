//! Channels: names, stream keys (hashed), settings.

use super::{Db, DbError, Result, is_unique_violation};
use crate::time::now_ms;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

macro_rules! channel_cols {
    () => {
        "id, owner_id, name, title, description, members_only, enabled, created_at, key_rotated_at, ladder, record, stream_key_hash"
    };
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

impl Db {
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
}
