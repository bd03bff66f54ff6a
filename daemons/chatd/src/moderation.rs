//! Moderation commands, from a moderator's WebSocket or from stagectl through
//! the admin API: each is checked, stored (with an audit log entry), then
//! applied to the room (and, through Redis, to its copies on other nodes).

use crate::Ctx;
use crate::protocol::Refusal;
use crate::room::{Event, RoomMsg, RoomRef};
use serde::Deserialize;
use stage_core::chat::{ChatAction, ChatWrite};
use stage_core::time::now_ms;
use tokio::sync::oneshot;

/// A change to a channel's chat settings (absent fields stay as they are).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    pub slow_seconds: Option<u64>,
    pub members_only: Option<bool>,
    pub guests: Option<bool>,
    /// Replaces the list.
    pub blocked_words: Option<Vec<String>>,
    pub add_words: Option<Vec<String>>,
    pub remove_words: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
pub enum ModCmd {
    Delete {
        id: String,
    },
    Timeout {
        user: String,
        seconds: u64,
        reason: String,
    },
    Ban {
        user: String,
        reason: String,
    },
    Unban {
        user: String,
    },
    Settings(SettingsPatch),
    PollCreate {
        question: String,
        options: Vec<String>,
    },
    PollClose {
        poll_id: i64,
    },
}

fn internal(e: impl std::fmt::Display) -> Refusal {
    tracing::error!(cause = %e, "moderation: database error");
    Refusal::new("internal", "the action could not be stored; try again")
}

fn audit(
    ctx: &Ctx,
    me: &RoomRef,
    actor: &str,
    action: &str,
    target: &str,
    data: serde_json::Value,
) {
    ctx.persist.write(ChatWrite::Action(ChatAction {
        channel_id: me.channel_id,
        actor: actor.into(),
        action: action.into(),
        target: target.into(),
        data,
        at: now_ms(),
    }));
}

async fn apply(me: &RoomRef, ev: Event) {
    let _ = me.tx.send(RoomMsg::Apply(ev)).await;
}

/// Runs `cmd` in room `me` on behalf of `actor`; returns what changed.
pub async fn execute(
    ctx: &Ctx,
    me: &RoomRef,
    actor: &str,
    cmd: ModCmd,
) -> Result<serde_json::Value, Refusal> {
    match cmd {
        ModCmd::Delete { id } => delete(ctx, me, actor, id).await,
        ModCmd::Timeout {
            user,
            seconds,
            reason,
        } => {
            if seconds == 0 || seconds > 14 * 24 * 3600 {
                return Err(Refusal::new(
                    "bad_request",
                    "a timeout lasts 1 second to 14 days",
                ));
            }
            let until = now_ms() + seconds as i64 * 1000;
            ban(ctx, me, actor, &user, Some(until), &reason).await
        }
        ModCmd::Ban { user, reason } => ban(ctx, me, actor, &user, None, &reason).await,
        ModCmd::Unban { user } => unban(ctx, me, actor, &user).await,
        ModCmd::Settings(p) => settings(ctx, me, actor, p).await,
        ModCmd::PollCreate { question, options } => {
            poll_create(ctx, me, actor, &question, &options).await
        }
        ModCmd::PollClose { poll_id } => poll_close(ctx, me, actor, poll_id).await,
    }
}

type Answer = Result<serde_json::Value, Refusal>;

/// Deletes one message of this room, stored or not yet.
async fn delete(ctx: &Ctx, me: &RoomRef, actor: &str, id: String) -> Answer {
    if !crate::ids::valid(&id) {
        return Err(Refusal::new("not_found", "no such message"));
    }
    // The room's memory first: a message may not be stored yet.
    let (tx, rx) = oneshot::channel();
    let _ = me
        .tx
        .send(RoomMsg::Find {
            id: id.clone(),
            reply: tx,
        })
        .await;
    let msg = match rx.await.ok().flatten() {
        Some(m) => Some(m),
        None => ctx.db.chat_message(&id).await.map_err(internal)?,
    };
    let Some(msg) = msg.filter(|m| m.channel_id == me.channel_id) else {
        return Err(Refusal::new("not_found", "no such message in this channel"));
    };
    // Through the persistence queue, so it lands after the message.
    ctx.persist.write(ChatWrite::Delete {
        channel_id: me.channel_id,
        id: id.clone(),
    });
    audit(
        ctx,
        me,
        actor,
        "delete",
        &id,
        serde_json::json!({"user": msg.user, "body": msg.body}),
    );
    apply(me, Event::Deleted { id: id.clone() }).await;
    Ok(serde_json::json!({"deleted": id}))
}

async fn unban(ctx: &Ctx, me: &RoomRef, actor: &str, user: &str) -> Answer {
    let u = target(ctx, user).await?;
    ctx.db
        .chat_unban(me.channel_id, u.id)
        .await
        .map_err(internal)?;
    audit(ctx, me, actor, "unban", &u.username, serde_json::json!({}));
    apply(
        me,
        Event::Unban {
            user_id: u.id,
            user: u.username.clone(),
            by: actor.into(),
        },
    )
    .await;
    Ok(serde_json::json!({"unbanned": u.username}))
}

/// Slow mode, members-only, guests and blocked words: what the patch names.
async fn settings(ctx: &Ctx, me: &RoomRef, actor: &str, p: SettingsPatch) -> Answer {
    let mut s = ctx
        .db
        .chat_settings(me.channel_id)
        .await
        .map_err(internal)?;
    if let Some(secs) = p.slow_seconds {
        if secs > 3600 {
            return Err(Refusal::new("bad_request", "slow mode is at most 1 hour"));
        }
        s.slow_ms = secs as i64 * 1000;
    }
    if let Some(v) = p.members_only {
        s.members_only = v;
    }
    if let Some(v) = p.guests {
        s.guests = v;
    }
    let norm = |w: &String| w.trim().to_lowercase();
    if let Some(ws) = &p.blocked_words {
        s.blocked_words = ws.iter().map(norm).filter(|w| !w.is_empty()).collect();
    }
    for w in p.add_words.iter().flatten().map(norm) {
        if !w.is_empty() && !s.blocked_words.contains(&w) {
            s.blocked_words.push(w);
        }
    }
    for w in p.remove_words.iter().flatten().map(norm) {
        s.blocked_words.retain(|x| *x != w);
    }
    if s.blocked_words
        .iter()
        .any(|w| w.contains('\n') || w.len() > 100)
    {
        return Err(Refusal::new(
            "bad_request",
            "a blocked word is one line of at most 100 bytes",
        ));
    }
    ctx.db
        .set_chat_settings(me.channel_id, &s)
        .await
        .map_err(internal)?;
    audit(
        ctx,
        me,
        actor,
        "settings",
        "",
        serde_json::json!({
            "slow_ms": s.slow_ms, "members_only": s.members_only,
            "guests": s.guests, "blocked_words": s.blocked_words.len(),
        }),
    );
    let out = serde_json::to_value(&s).unwrap_or_default();
    apply(
        me,
        Event::Settings {
            settings: s,
            by: actor.into(),
        },
    )
    .await;
    Ok(out)
}

/// Opens a poll (closing the one open before).
async fn poll_create(
    ctx: &Ctx,
    me: &RoomRef,
    actor: &str,
    question: &str,
    options: &[String],
) -> Answer {
    let question = crate::policy::clean_body(question);
    let options: Vec<String> = options
        .iter()
        .map(|o| crate::policy::clean_body(o))
        .collect();
    if question.is_empty() || question.chars().count() > 200 {
        return Err(Refusal::new(
            "bad_request",
            "a question has 1-200 characters",
        ));
    }
    if !(2..=10).contains(&options.len())
        || options
            .iter()
            .any(|o| o.is_empty() || o.chars().count() > 80)
    {
        return Err(Refusal::new(
            "bad_request",
            "a poll has 2-10 options of 1-80 characters",
        ));
    }
    // One open poll per channel: a new one closes the last.
    for p in ctx.db.polls(me.channel_id, 5).await.map_err(internal)? {
        if p.status == "open" {
            ctx.db.close_poll(p.id).await.map_err(internal)?;
        }
    }
    let stream = ctx
        .db
        .live_stream(me.channel_id)
        .await
        .map_err(internal)?
        .map(|s| s.id);
    let poll = ctx
        .db
        .create_poll(me.channel_id, stream, &question, &options, actor)
        .await
        .map_err(internal)?;
    audit(
        ctx,
        me,
        actor,
        "poll_create",
        &poll.id.to_string(),
        serde_json::json!({"question": question}),
    );
    let out = serde_json::to_value(&poll).unwrap_or_default();
    apply(me, Event::Poll { poll }).await;
    Ok(out)
}

async fn poll_close(ctx: &Ctx, me: &RoomRef, actor: &str, poll_id: i64) -> Answer {
    match ctx.db.poll(poll_id).await.map_err(internal)? {
        Some(p) if p.channel_id == me.channel_id => {}
        _ => return Err(Refusal::new("unknown_poll", "no such poll in this channel")),
    }
    let poll = ctx.db.close_poll(poll_id).await.map_err(internal)?;
    audit(
        ctx,
        me,
        actor,
        "poll_close",
        &poll_id.to_string(),
        serde_json::json!({"votes": poll.votes}),
    );
    let out = serde_json::to_value(&poll).unwrap_or_default();
    apply(me, Event::Poll { poll }).await;
    Ok(out)
}

async fn target(ctx: &Ctx, user: &str) -> Result<stage_core::accounts::User, Refusal> {
    ctx.db
        .user_by_name(user)
        .await
        .map_err(internal)?
        .ok_or_else(|| Refusal::new("unknown_user", format!("no user called {user}")))
}

async fn ban(
    ctx: &Ctx,
    me: &RoomRef,
    actor: &str,
    user: &str,
    until: Option<i64>,
    reason: &str,
) -> Result<serde_json::Value, Refusal> {
    let u = target(ctx, user).await?;
    let role = ctx
        .db
        .channel_role(&u, me.channel_id, me.owner_id, ctx.cfg.billing.grace_ms())
        .await
        .map_err(internal)?;
    if role.moderates() {
        return Err(Refusal::new(
            "forbidden",
            "moderators and owners cannot be banned or timed out",
        ));
    }
    ctx.db
        .chat_ban(me.channel_id, u.id, until, reason)
        .await
        .map_err(internal)?;
    let action = if until.is_some() { "timeout" } else { "ban" };
    audit(
        ctx,
        me,
        actor,
        action,
        &u.username,
        serde_json::json!({"until": until, "reason": reason}),
    );
    apply(
        me,
        Event::Ban {
            user_id: u.id,
            user: u.username.clone(),
            until,
            by: actor.into(),
        },
    )
    .await;
    Ok(serde_json::json!({"user": u.username, "action": action, "until": until}))
}
