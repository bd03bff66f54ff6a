//! Chat's rows: messages, per-channel settings, bans and timeouts, the
//! moderation audit log, and polls.

use crate::db::{Db, DbError, is_unique_violation};
use crate::time::now_ms;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

type Result<T, E = DbError> = std::result::Result<T, E>;

/// A chat message as stored (and as sent to clients, with `type: "chat"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub id: String,
    pub channel_id: i64,
    pub stream_id: Option<i64>,
    pub user_id: Option<i64>,
    /// Display name (the username, or `guest-…`).
    pub user: String,
    pub role: String,
    pub body: String,
    pub deleted: bool,
    /// Unix milliseconds.
    pub at: i64,
    /// Set on a paid tip's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tip: Option<TipAmount>,
}

/// The amount of a tip shown in chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TipAmount {
    pub amount_minor: i64,
    pub currency: String,
}

/// A channel's chat settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatSettings {
    /// Slow mode: least time between one account's messages (0: off).
    pub slow_ms: i64,
    /// Only members, moderators and the owner may write.
    pub members_only: bool,
    /// Visitors without an account may write.
    pub guests: bool,
    /// Words refused inside messages (lowercase).
    pub blocked_words: Vec<String>,
}

/// An entry in the moderation audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatAction {
    pub channel_id: i64,
    /// Who took it (a username, or `stagectl`).
    pub actor: String,
    /// `delete`, `timeout`, `ban`, `unban`, `slow`, `words`, `members_only`,
    /// `guests`, `poll_create`, `poll_close`.
    pub action: String,
    /// Whom or what it was taken on (username, message id, poll id).
    pub target: String,
    pub data: serde_json::Value,
    pub at: i64,
}

/// One write in chatd's batched persistence.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatWrite {
    Message(ChatMessage),
    Delete { channel_id: i64, id: String },
    Action(ChatAction),
}

/// A poll and its tally.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Poll {
    pub id: i64,
    pub channel_id: i64,
    pub stream_id: Option<i64>,
    pub question: String,
    pub options: Vec<String>,
    /// `open` or `closed`.
    pub status: String,
    pub created_by: String,
    pub created_at: i64,
    pub closed_at: Option<i64>,
    /// Votes per option.
    pub votes: Vec<i64>,
}

fn message_from(row: &AnyRow) -> Result<ChatMessage> {
    Ok(ChatMessage {
        id: row.try_get("id")?,
        channel_id: row.try_get("channel_id")?,
        stream_id: row.try_get("stream_id")?,
        user_id: row.try_get("user_id")?,
        user: row.try_get("name")?,
        role: row.try_get("role")?,
        body: row.try_get("body")?,
        deleted: row.try_get::<i64, _>("deleted")? != 0,
        at: row.try_get("created_at")?,
        tip: row
            .try_get::<Option<i64>, _>("tip_minor")?
            .map(|amount_minor| -> Result<TipAmount> {
                Ok(TipAmount {
                    amount_minor,
                    currency: row.try_get("tip_currency")?,
                })
            })
            .transpose()?,
    })
}

macro_rules! msg_cols {
    () => {
        "id, channel_id, stream_id, user_id, name, role, body, deleted, created_at, tip_minor, tip_currency"
    };
}

impl Db {
    /// Applies a batch of chat writes in one transaction (a message written
    /// twice, e.g. after a retry, is kept once).
    pub async fn chat_write(&self, batch: &[ChatWrite]) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        for w in batch {
            match w {
                ChatWrite::Message(m) => {
                    sqlx::query(
                        "INSERT INTO chat_messages (id, channel_id, stream_id, user_id, name, role, body, deleted, created_at, tip_minor, tip_currency) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (id) DO NOTHING",
                    )
                    .bind(&m.id)
                    .bind(m.channel_id)
                    .bind(m.stream_id)
                    .bind(m.user_id)
                    .bind(&m.user)
                    .bind(&m.role)
                    .bind(&m.body)
                    .bind(m.deleted as i64)
                    .bind(m.at)
                    .bind(m.tip.as_ref().map(|t| t.amount_minor))
                    .bind(m.tip.as_ref().map(|t| t.currency.clone()).unwrap_or_default())
                    .execute(&mut *tx)
                    .await?;
                }
                ChatWrite::Delete { channel_id, id } => {
                    sqlx::query(
                        "UPDATE chat_messages SET deleted = 1 WHERE id = $1 AND channel_id = $2",
                    )
                    .bind(id)
                    .bind(channel_id)
                    .execute(&mut *tx)
                    .await?;
                }
                ChatWrite::Action(a) => {
                    sqlx::query(
                        "INSERT INTO chat_actions (channel_id, actor, action, target, data, at) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(a.channel_id)
                    .bind(&a.actor)
                    .bind(&a.action)
                    .bind(&a.target)
                    .bind(a.data.to_string())
                    .bind(a.at)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The channel's newest `limit` messages that are not deleted, oldest first.
    pub async fn recent_chat(&self, channel_id: i64, limit: i64) -> Result<Vec<ChatMessage>> {
        let sql = concat!(
            "SELECT ",
            msg_cols!(),
            " FROM chat_messages WHERE channel_id = $1 AND deleted = 0 ORDER BY created_at DESC, id DESC LIMIT $2"
        );
        let rows = sqlx::query(sql)
            .bind(channel_id)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        let mut out = rows.iter().map(message_from).collect::<Result<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }

    /// A stream's messages older than message `before` (all when `None`),
    /// newest `limit` of them, oldest first. Deleted ones are included,
    /// flagged; callers blank their bodies for viewers.
    pub async fn stream_chat(
        &self,
        stream_id: i64,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ChatMessage>> {
        // Ids sort by time (see chatd's id scheme), so paging by id is paging
        // by time.
        let sql = concat!(
            "SELECT ",
            msg_cols!(),
            " FROM chat_messages WHERE stream_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
        );
        let rows = sqlx::query(sql)
            .bind(stream_id)
            .bind(before.unwrap_or("~"))
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        let mut out = rows.iter().map(message_from).collect::<Result<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }

    /// One message by id.
    pub async fn chat_message(&self, id: &str) -> Result<Option<ChatMessage>> {
        let sql = concat!("SELECT ", msg_cols!(), " FROM chat_messages WHERE id = $1");
        let row = sqlx::query(sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(message_from).transpose()
    }

    /// The channel's chat settings.
    pub async fn chat_settings(&self, channel_id: i64) -> Result<ChatSettings> {
        let row = sqlx::query(
            "SELECT chat_slow_ms, chat_members_only, chat_guests, chat_blocked_words FROM channels WHERE id = $1",
        )
        .bind(channel_id)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| DbError::NotFound(format!("channel {channel_id}")))?;
        let words: String = row.try_get("chat_blocked_words")?;
        Ok(ChatSettings {
            slow_ms: row.try_get("chat_slow_ms")?,
            members_only: row.try_get::<i64, _>("chat_members_only")? != 0,
            guests: row.try_get::<i64, _>("chat_guests")? != 0,
            blocked_words: words
                .lines()
                .map(|w| w.trim().to_lowercase())
                .filter(|w| !w.is_empty())
                .collect(),
        })
    }

    /// Stores the channel's chat settings.
    pub async fn set_chat_settings(&self, channel_id: i64, s: &ChatSettings) -> Result<()> {
        sqlx::query(
            "UPDATE channels SET chat_slow_ms = $1, chat_members_only = $2, chat_guests = $3, chat_blocked_words = $4 WHERE id = $5",
        )
        .bind(s.slow_ms)
        .bind(s.members_only as i64)
        .bind(s.guests as i64)
        .bind(s.blocked_words.join("\n"))
        .bind(channel_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Bans (`until_ms: None`) or times out a user in a channel.
    pub async fn chat_ban(
        &self,
        channel_id: i64,
        user_id: i64,
        until_ms: Option<i64>,
        reason: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO chat_bans (channel_id, user_id, until_ms, reason, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (channel_id, user_id) DO UPDATE SET until_ms = excluded.until_ms, reason = excluded.reason, created_at = excluded.created_at",
        )
        .bind(channel_id)
        .bind(user_id)
        .bind(until_ms)
        .bind(reason)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Lifts a ban or timeout.
    pub async fn chat_unban(&self, channel_id: i64, user_id: i64) -> Result<()> {
        sqlx::query("DELETE FROM chat_bans WHERE channel_id = $1 AND user_id = $2")
            .bind(channel_id)
            .bind(user_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Bans and unexpired timeouts in a channel: (user id, until; `None` = ban).
    pub async fn chat_bans(&self, channel_id: i64) -> Result<Vec<(i64, Option<i64>)>> {
        let rows = sqlx::query(
            "SELECT user_id, until_ms FROM chat_bans WHERE channel_id = $1 AND (until_ms IS NULL OR until_ms > $2)",
        )
        .bind(channel_id)
        .bind(now_ms())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("user_id")?, r.try_get("until_ms")?)))
            .collect()
    }

    /// The channel's audit log, newest first.
    pub async fn chat_actions(&self, channel_id: i64, limit: i64) -> Result<Vec<ChatAction>> {
        let rows = sqlx::query(
            "SELECT channel_id, actor, action, target, data, at FROM chat_actions WHERE channel_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(channel_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let data: String = r.try_get("data")?;
                Ok(ChatAction {
                    channel_id: r.try_get("channel_id")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
                    at: r.try_get("at")?,
                })
            })
            .collect()
    }

    /// Opens a poll.
    pub async fn create_poll(
        &self,
        channel_id: i64,
        stream_id: Option<i64>,
        question: &str,
        options: &[String],
        created_by: &str,
    ) -> Result<Poll> {
        let now = now_ms();
        let row = sqlx::query(
            "INSERT INTO polls (channel_id, stream_id, question, options, status, created_by, created_at) VALUES ($1, $2, $3, $4, 'open', $5, $6) RETURNING id",
        )
        .bind(channel_id)
        .bind(stream_id)
        .bind(question)
        .bind(serde_json::to_string(options).unwrap_or_default())
        .bind(created_by)
        .bind(now)
        .fetch_one(self.pool())
        .await?;
        Ok(Poll {
            id: row.try_get("id")?,
            channel_id,
            stream_id,
            question: question.into(),
            options: options.to_vec(),
            status: "open".into(),
            created_by: created_by.into(),
            created_at: now,
            closed_at: None,
            votes: vec![0; options.len()],
        })
    }

    /// Closes a poll; returns it with its final tally.
    pub async fn close_poll(&self, poll_id: i64) -> Result<Poll> {
        sqlx::query(
            "UPDATE polls SET status = 'closed', closed_at = $1 WHERE id = $2 AND status = 'open'",
        )
        .bind(now_ms())
        .bind(poll_id)
        .execute(self.pool())
        .await?;
        self.poll(poll_id)
            .await?
            .ok_or_else(|| DbError::NotFound(format!("poll {poll_id}")))
    }

    /// Records `user_id`'s vote; a second vote is a `Conflict`.
    pub async fn vote(&self, poll_id: i64, user_id: i64, choice: i64) -> Result<()> {
        let res = sqlx::query(
            "INSERT INTO poll_votes (poll_id, user_id, choice, at) VALUES ($1, $2, $3, $4)",
        )
        .bind(poll_id)
        .bind(user_id)
        .bind(choice)
        .bind(now_ms())
        .execute(self.pool())
        .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => {
                Err(DbError::Conflict("you already voted in this poll".into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A poll with its tally.
    pub async fn poll(&self, poll_id: i64) -> Result<Option<Poll>> {
        let Some(row) = sqlx::query(
            "SELECT id, channel_id, stream_id, question, options, status, created_by, created_at, closed_at FROM polls WHERE id = $1",
        )
        .bind(poll_id)
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok(None);
        };
        let options: String = row.try_get("options")?;
        let options: Vec<String> = serde_json::from_str(&options).unwrap_or_default();
        let mut votes = vec![0i64; options.len()];
        let counts = sqlx::query(
            "SELECT choice, COUNT(*) AS n FROM poll_votes WHERE poll_id = $1 GROUP BY choice",
        )
        .bind(poll_id)
        .fetch_all(self.pool())
        .await?;
        for c in counts {
            let i: i64 = c.try_get("choice")?;
            if let Some(v) = usize::try_from(i).ok().and_then(|i| votes.get_mut(i)) {
                *v = c.try_get("n")?;
            }
        }
        Ok(Some(Poll {
            id: row.try_get("id")?,
            channel_id: row.try_get("channel_id")?,
            stream_id: row.try_get("stream_id")?,
            question: row.try_get("question")?,
            options,
            status: row.try_get("status")?,
            created_by: row.try_get("created_by")?,
            created_at: row.try_get("created_at")?,
            closed_at: row.try_get("closed_at")?,
            votes,
        }))
    }

    /// The channel's newest polls (open ones first in the newest order).
    pub async fn polls(&self, channel_id: i64, limit: i64) -> Result<Vec<Poll>> {
        let ids =
            sqlx::query("SELECT id FROM polls WHERE channel_id = $1 ORDER BY id DESC LIMIT $2")
                .bind(channel_id)
                .bind(limit)
                .fetch_all(self.pool())
                .await?;
        let mut out = Vec::new();
        for r in ids {
            if let Some(p) = self.poll(r.try_get("id")?).await? {
                out.push(p);
            }
        }
        Ok(out)
    }
}
