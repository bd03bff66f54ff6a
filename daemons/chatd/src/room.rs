//! A room: the one task that owns a channel's live chat state (clients,
//! history, bans, settings, poll, reactions, viewer counts). Messages in,
//! frames out.
//!
//! Fan-out is batched: everything a room has to say after draining its
//! mailbox goes to each client as one frame (`\n`-separated messages), so
//! the cost per client is one queue push and one WebSocket write per burst,
//! not per message. Each client has a byte-bounded queue; a client whose
//! queue is full is dropped (close 4008), never waited for.

use crate::Ctx;
use crate::moderation::{self, ModCmd};
use crate::policy::{Bans, Policy, Speaker};
use crate::protocol::{self, ClientFrame, REACTIONS, Refusal, close};
use axum::extract::ws::Utf8Bytes;
use serde::{Deserialize, Serialize};
use stage_core::chat::{ChatMessage, ChatSettings, ChatWrite, Poll};
use stage_core::time::now_ms;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{mpsc, oneshot};

/// A connected client as its room sees it.
pub struct Client {
    pub tx: mpsc::Sender<Utf8Bytes>,
    /// Bytes waiting in `tx` (the writer subtracts what it sends).
    pub queued: Arc<AtomicUsize>,
    /// Fired (with the close code) when the room drops the client.
    pub kill: Arc<crate::conn::Kill>,
    pub who: Speaker,
}

/// State changes every node's copy of a room applies (and sends to its
/// clients); with Redis they travel between nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum Event {
    Chat {
        msg: ChatMessage,
    },
    Deleted {
        id: String,
    },
    Ban {
        user_id: i64,
        user: String,
        until: Option<i64>,
        by: String,
    },
    Unban {
        user_id: i64,
        user: String,
        by: String,
    },
    Settings {
        settings: ChatSettings,
        by: String,
    },
    Poll {
        poll: Poll,
    },
    Vote {
        poll_id: i64,
        choice: usize,
    },
    Reactions {
        counts: BTreeMap<String, u64>,
    },
    Viewers {
        node: u32,
        count: u64,
    },
    Stream {
        stream_id: Option<i64>,
    },
    Kick {
        user_id: i64,
    },
}

/// What a room's mailbox takes.
pub enum RoomMsg {
    Join {
        conn: u64,
        client: Client,
    },
    Leave {
        conn: u64,
    },
    Frame {
        conn: u64,
        frame: ClientFrame,
    },
    /// A message posted over REST.
    Post {
        who: Speaker,
        body: String,
        reply: oneshot::Sender<Result<ChatMessage, Refusal>>,
    },
    /// An event that happened here (applied, then sent to other nodes).
    Apply(Event),
    /// An event from another node.
    Remote(Event),
    /// A frame for one client (e.g. an error from a spawned task).
    ToConn {
        conn: u64,
        text: String,
    },
    /// A message still in memory (for deletes that beat persistence).
    Find {
        id: String,
        reply: oneshot::Sender<Option<ChatMessage>>,
    },
    Status(oneshot::Sender<stage_core::api::status::RoomStatus>),
    /// A tip billingd reports paid.
    Tip(TipPost),
}

/// A paid tip to show in chat (billingd → chatd's admin API).
#[derive(Debug, Clone, Deserialize)]
pub struct TipPost {
    pub user_id: Option<i64>,
    pub user: String,
    pub amount_minor: i64,
    pub currency: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub stream_id: Option<i64>,
}

/// A room's identity.
#[derive(Debug, Clone)]
pub struct RoomRef {
    pub channel_id: i64,
    pub name: String,
    pub owner_id: i64,
    pub tx: mpsc::Sender<RoomMsg>,
}

/// What a room starts with (loaded from the database).
pub struct Initial {
    pub settings: ChatSettings,
    pub bans: Bans,
    pub history: Vec<ChatMessage>,
    pub stream_id: Option<i64>,
    pub poll: Option<Poll>,
}

struct Room {
    ctx: Arc<Ctx>,
    me: RoomRef,
    clients: HashMap<u64, Client>,
    settings: ChatSettings,
    bans: Bans,
    history: VecDeque<ChatMessage>,
    stream_id: Option<i64>,
    poll: Option<Poll>,
    poll_dirty: bool,
    policy: Policy,
    reactions: BTreeMap<String, u64>,
    remote_viewers: HashMap<u32, (u64, i64)>,
    sent_viewers: Option<u64>,
    /// Messages for every client, sent as one frame at the end of a burst.
    pending: Vec<String>,
    per_minute: PerMinute,
}

/// Chat messages in the last minute, in one-second buckets.
struct PerMinute {
    buckets: [(i64, u32); 60],
}

impl Default for PerMinute {
    fn default() -> PerMinute {
        PerMinute {
            buckets: [(i64::MIN, 0); 60],
        }
    }
}

impl PerMinute {
    fn add(&mut self, now_ms: i64) {
        let sec = now_ms.div_euclid(1000);
        let b = &mut self.buckets[sec.rem_euclid(60) as usize];
        if b.0 != sec {
            *b = (sec, 0);
        }
        b.1 += 1;
    }

    fn count(&self, now_ms: i64) -> u32 {
        let sec = now_ms.div_euclid(1000);
        self.buckets
            .iter()
            .filter(|(s, _)| sec.saturating_sub(*s) < 60)
            .map(|(_, n)| n)
            .sum()
    }
}

/// Starts room `me` (whose receiver is `rx`).
pub fn spawn(ctx: Arc<Ctx>, me: RoomRef, rx: mpsc::Receiver<RoomMsg>, init: Initial) {
    let room = Room {
        history: init.history.into_iter().collect(),
        settings: init.settings,
        bans: init.bans,
        stream_id: init.stream_id,
        poll: init.poll,
        poll_dirty: false,
        ctx,
        me,
        clients: HashMap::new(),
        policy: Policy::default(),
        reactions: BTreeMap::new(),
        remote_viewers: HashMap::new(),
        sent_viewers: None,
        pending: Vec::new(),
        per_minute: PerMinute::default(),
    };
    tokio::spawn(room.run(rx));
}

impl Room {
    async fn run(mut self, mut rx: mpsc::Receiver<RoomMsg>) {
        let mut tick = tokio::time::interval(self.ctx.cfg.chat.reaction_interval.0);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut ticks: u64 = 0;
        let mut last_flush = tokio::time::Instant::now();
        loop {
            let flush_at = (!self.pending.is_empty()).then(|| last_flush + self.flush_every());
            tokio::select! {
                _ = async { tokio::time::sleep_until(flush_at.unwrap_or_else(tokio::time::Instant::now)).await }, if flush_at.is_some() => {}
                msg = rx.recv() => {
                    let Some(msg) = msg else { break };
                    self.handle(msg);
                    // Drain what else is waiting, so one burst goes out as one frame.
                    for _ in 0..1024 {
                        match rx.try_recv() {
                            Ok(m) => self.handle(m),
                            Err(_) => break,
                        }
                    }
                }
                _ = tick.tick() => {
                    ticks += 1;
                    self.on_tick(ticks);
                }
            }
            let now = tokio::time::Instant::now();
            if !self.pending.is_empty() && now >= last_flush + self.flush_every() {
                self.flush();
                last_flush = now;
            }
        }
    }

    /// Least time between two fan-outs. Each fan-out costs one write per
    /// client (the kernel's TCP send dominates), so a big room gathers
    /// messages a little longer into each frame: about 5 µs per client
    /// (10,000 clients: 50 ms; 200: 1 ms), at most 50 ms. A small room sends
    /// at once.
    fn flush_every(&self) -> std::time::Duration {
        std::time::Duration::from_micros((self.clients.len() as u64 * 5).min(50_000))
    }

    fn handle(&mut self, msg: RoomMsg) {
        match msg {
            RoomMsg::Join { conn, client } => self.join(conn, client),
            RoomMsg::Leave { conn } => {
                if self.clients.remove(&conn).is_some() {
                    self.ctx.metrics.connections.fetch_sub(1, Ordering::Relaxed);
                }
            }
            RoomMsg::Frame { conn, frame } => self.frame(conn, frame),
            RoomMsg::Post { who, body, reply } => {
                let _ = reply.send(self.chat(&who, &body));
            }
            RoomMsg::Apply(ev) => self.apply(ev, true),
            RoomMsg::Tip(t) => self.tip(t),
            RoomMsg::Remote(ev) => self.apply(ev, false),
            RoomMsg::ToConn { conn, text } => self.send_to(conn, text),
            RoomMsg::Find { id, reply } => {
                let _ = reply.send(self.history.iter().find(|m| m.id == id).cloned());
            }
            RoomMsg::Status(reply) => {
                let _ = reply.send(stage_core::api::status::RoomStatus {
                    channel: self.me.name.clone(),
                    clients: self.clients.len() as u64,
                    viewers: self.viewer_total(now_ms()),
                    messages_per_min: self.per_minute.count(now_ms()).into(),
                    stream_id: self.stream_id,
                    slow_ms: self.settings.slow_ms,
                    members_only: self.settings.members_only,
                    guests: self.settings.guests,
                    bans: self.bans.len() as u64,
                    poll: self.poll.as_ref().map(|p| p.id),
                });
            }
        }
    }

    fn join(&mut self, conn: u64, client: Client) {
        let welcome = serde_json::json!({
            "type": "welcome",
            "channel": self.me.name,
            "user": client.who.name,
            "role": client.who.role.as_str(),
            "settings": {
                "slow_ms": self.settings.slow_ms,
                "members_only": self.settings.members_only,
                "guests": self.settings.guests,
                "max_length": self.ctx.cfg.chat.max_message_length,
            },
            "reactions": REACTIONS,
        })
        .to_string();
        let mut first = vec![welcome, protocol::history(self.history.iter())];
        if let Some(p) = &self.poll {
            first.push(protocol::poll(p));
        }
        first.push(protocol::viewers(self.viewer_total(now_ms()) + 1));
        self.clients.insert(conn, client);
        self.ctx.metrics.connections.fetch_add(1, Ordering::Relaxed);
        self.send_to(conn, first.join("\n"));
    }

    fn frame(&mut self, conn: u64, frame: ClientFrame) {
        let Some(who) = self.clients.get(&conn).map(|c| c.who.clone()) else {
            return;
        };
        let now = now_ms();
        let refused = match frame {
            ClientFrame::Chat { body } => self.chat(&who, &body).err(),
            ClientFrame::React { emoji } => {
                if !REACTIONS.contains(&emoji.as_str()) {
                    Some(Refusal::new(
                        "bad_reaction",
                        format!("react with one of {}", REACTIONS.join(" ")),
                    ))
                } else {
                    match self.policy.check_reaction(&who, &self.ctx.limits, now) {
                        Ok(()) => {
                            *self.reactions.entry(emoji).or_default() += 1;
                            crate::metrics::Metrics::inc(&self.ctx.metrics.reactions);
                            None
                        }
                        Err(r) => Some(r),
                    }
                }
            }
            ClientFrame::Vote { poll_id, option } => self.vote(conn, &who, poll_id, option).err(),
            ClientFrame::Delete { id } => self.moderate(conn, &who, ModCmd::Delete { id }),
            ClientFrame::Timeout {
                user,
                seconds,
                reason,
            } => self.moderate(
                conn,
                &who,
                ModCmd::Timeout {
                    user,
                    seconds,
                    reason,
                },
            ),
            ClientFrame::Ban { user, reason } => {
                self.moderate(conn, &who, ModCmd::Ban { user, reason })
            }
            ClientFrame::Unban { user } => self.moderate(conn, &who, ModCmd::Unban { user }),
            ClientFrame::Slow { seconds } => self.moderate(
                conn,
                &who,
                ModCmd::Settings(moderation::SettingsPatch {
                    slow_seconds: Some(seconds),
                    ..Default::default()
                }),
            ),
            ClientFrame::PollCreate { question, options } => {
                self.moderate(conn, &who, ModCmd::PollCreate { question, options })
            }
            ClientFrame::PollClose { poll_id } => {
                self.moderate(conn, &who, ModCmd::PollClose { poll_id })
            }
        };
        if let Some(r) = refused {
            self.refuse(conn, &r);
        }
    }

    fn refuse(&mut self, conn: u64, r: &Refusal) {
        crate::metrics::Metrics::inc(&self.ctx.metrics.refused);
        self.send_to(conn, protocol::error(r));
    }

    /// Checks and posts a chat message.
    fn chat(&mut self, who: &Speaker, body: &str) -> Result<ChatMessage, Refusal> {
        let now = now_ms();
        let body =
            self.policy
                .check_chat(who, body, &self.settings, &self.bans, &self.ctx.limits, now)?;
        let msg = ChatMessage {
            id: self.ctx.ids.next(now),
            channel_id: self.me.channel_id,
            stream_id: self.stream_id,
            user_id: who.user_id,
            user: who.name.clone(),
            role: who.role.as_str().into(),
            body,
            deleted: false,
            at: now,
            tip: None,
        };
        self.apply(Event::Chat { msg: msg.clone() }, true);
        Ok(msg)
    }

    /// A paid tip, as a highlighted message (no chat rules apply: it was
    /// paid for, and billingd checked the message's length).
    fn tip(&mut self, t: TipPost) {
        let now = now_ms();
        let msg = ChatMessage {
            id: self.ctx.ids.next(now),
            channel_id: self.me.channel_id,
            stream_id: t.stream_id.or(self.stream_id),
            user_id: t.user_id,
            user: t.user,
            role: "viewer".into(),
            body: t.message,
            deleted: false,
            at: now,
            tip: Some(stage_core::chat::TipAmount {
                amount_minor: t.amount_minor,
                currency: t.currency,
            }),
        };
        self.apply(Event::Chat { msg }, true);
    }

    fn vote(&mut self, conn: u64, who: &Speaker, poll_id: i64, option: i64) -> Result<(), Refusal> {
        let Some(user_id) = who.user_id else {
            return Err(Refusal::new("login_required", "log in to vote"));
        };
        let Some(poll) = self.poll.as_ref().filter(|p| p.id == poll_id) else {
            return Err(Refusal::new("unknown_poll", "no such poll"));
        };
        if poll.status != "open" {
            return Err(Refusal::new("poll_closed", "the poll is closed"));
        }
        let Some(choice) = usize::try_from(option)
            .ok()
            .filter(|i| *i < poll.options.len())
        else {
            return Err(Refusal::new("bad_option", "no such option"));
        };
        // One vote per account is the database's unique key; the tally moves
        // only once it is stored.
        let (db, tx) = (self.ctx.db.clone(), self.me.tx.clone());
        tokio::spawn(async move {
            let msg = match db.vote(poll_id, user_id, choice as i64).await {
                Ok(()) => RoomMsg::Apply(Event::Vote { poll_id, choice }),
                Err(stage_core::db::DbError::Conflict(m)) => RoomMsg::ToConn {
                    conn,
                    text: protocol::error(&Refusal::new("already_voted", m)),
                },
                Err(e) => {
                    tracing::error!(cause = %e, poll_id, "storing a vote failed");
                    RoomMsg::ToConn {
                        conn,
                        text: protocol::error(&Refusal::new(
                            "internal",
                            "the vote was not stored; try again",
                        )),
                    }
                }
            };
            let _ = tx.send(msg).await;
        });
        Ok(())
    }

    /// Runs a moderator's command (off this task: it touches the database).
    fn moderate(&mut self, conn: u64, who: &Speaker, cmd: ModCmd) -> Option<Refusal> {
        if !who.role.moderates() {
            return Some(Refusal::new("forbidden", "only moderators can do that"));
        }
        let (ctx, me, actor) = (self.ctx.clone(), self.me.clone(), who.name.clone());
        tokio::spawn(async move {
            if let Err(r) = moderation::execute(&ctx, &me, &actor, cmd).await {
                let _ = me
                    .tx
                    .send(RoomMsg::ToConn {
                        conn,
                        text: protocol::error(&r),
                    })
                    .await;
            }
        });
        None
    }

    /// Applies an event; local ones are stored (messages) and sent to the
    /// other nodes.
    fn apply(&mut self, ev: Event, local: bool) {
        match &ev {
            Event::Chat { msg } => {
                self.pending.push(protocol::chat(msg));
                self.history.push_back(msg.clone());
                while self.history.len() > self.ctx.cfg.chat.history {
                    self.history.pop_front();
                }
                crate::metrics::Metrics::inc(&self.ctx.metrics.messages);
                self.per_minute.add(now_ms());
                if local {
                    self.ctx.persist.write(ChatWrite::Message(msg.clone()));
                }
            }
            Event::Deleted { id } => {
                self.history.retain(|m| &m.id != id);
                self.pending.push(protocol::deleted(id));
            }
            Event::Ban {
                user_id,
                user,
                until,
                by,
            } => {
                self.bans.insert(*user_id, *until);
                self.pending.push(protocol::moderation(serde_json::json!({
                    "action": if until.is_some() { "timeout" } else { "ban" },
                    "user": user,
                    "until": until,
                    "by": by,
                })));
            }
            Event::Unban { user_id, user, by } => {
                self.bans.remove(user_id);
                self.pending.push(protocol::moderation(
                    serde_json::json!({"action": "unban", "user": user, "by": by}),
                ));
            }
            Event::Settings { settings, by } => {
                self.settings = settings.clone();
                self.pending.push(protocol::moderation(serde_json::json!({
                    "action": "settings",
                    "slow_ms": settings.slow_ms,
                    "members_only": settings.members_only,
                    "guests": settings.guests,
                    "by": by,
                })));
            }
            Event::Poll { poll } => {
                let newer = self.poll.as_ref().is_none_or(|p| p.id <= poll.id);
                if newer {
                    self.poll = Some(poll.clone());
                    self.poll_dirty = false;
                    self.pending.push(protocol::poll(poll));
                }
            }
            Event::Vote { poll_id, choice } => {
                if let Some(p) = self.poll.as_mut().filter(|p| p.id == *poll_id)
                    && let Some(v) = p.votes.get_mut(*choice)
                {
                    *v += 1;
                    self.poll_dirty = true;
                }
            }
            Event::Reactions { counts } => {
                self.pending.push(protocol::reactions(counts));
            }
            Event::Viewers { node, count } => {
                self.remote_viewers.insert(*node, (*count, now_ms()));
            }
            Event::Stream { stream_id } => self.stream_id = *stream_id,
            Event::Kick { user_id } => {
                let gone: Vec<u64> = self
                    .clients
                    .iter()
                    .filter(|(_, c)| c.who.user_id == Some(*user_id))
                    .map(|(id, _)| *id)
                    .collect();
                for conn in gone {
                    self.drop_client(conn, close::BANNED);
                }
            }
        }
        if local {
            self.ctx.publish(&self.me.name, &ev);
        }
    }

    fn on_tick(&mut self, ticks: u64) {
        let now = now_ms();
        if !self.reactions.is_empty() {
            let counts = std::mem::take(&mut self.reactions);
            self.apply(Event::Reactions { counts }, true);
        }
        if self.poll_dirty
            && let Some(p) = &self.poll
        {
            self.pending.push(protocol::poll(p));
            self.poll_dirty = false;
        }
        // About once a second: viewer counts (ours to the other nodes, the
        // total to our clients when it changed).
        let per_s = (1000 / self.ctx.cfg.chat.reaction_interval.0.as_millis().max(1)) as u64;
        if ticks.is_multiple_of(per_s.max(1)) {
            if self.ctx.bridge.is_some() {
                self.ctx.publish(
                    &self.me.name,
                    &Event::Viewers {
                        node: self.ctx.node,
                        count: self.clients.len() as u64,
                    },
                );
            }
            self.remote_viewers.retain(|_, (_, at)| now - *at < 3500);
            let total = self.viewer_total(now);
            if self.sent_viewers != Some(total) {
                self.sent_viewers = Some(total);
                self.pending.push(protocol::viewers(total));
            }
        }
        if ticks.is_multiple_of(per_s.max(1) * 10) {
            self.policy
                .prune(&self.ctx.limits, self.settings.slow_ms, now);
        }
    }

    fn viewer_total(&self, now: i64) -> u64 {
        self.clients.len() as u64
            + self
                .remote_viewers
                .values()
                .filter(|(_, at)| now - *at < 3500)
                .map(|(n, _)| *n)
                .sum::<u64>()
    }

    /// Sends what is pending to every client as one frame.
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let n = self.pending.len() as u64;
        let frame: Utf8Bytes = self.pending.join("\n").into();
        self.pending.clear();
        let mut slow = Vec::new();
        for (id, c) in &self.clients {
            if !push(c, frame.clone(), self.ctx.client_queue) {
                slow.push(*id);
            }
        }
        crate::metrics::Metrics::add(
            &self.ctx.metrics.deliveries,
            n * (self.clients.len() - slow.len()) as u64,
        );
        for id in slow {
            tracing::info!(channel = %self.me.name, conn = id, "client too slow; dropped");
            crate::metrics::Metrics::inc(&self.ctx.metrics.slow_consumer_drops);
            self.drop_client(id, close::SLOW_CONSUMER);
        }
    }

    fn send_to(&mut self, conn: u64, text: String) {
        let Some(c) = self.clients.get(&conn) else {
            return;
        };
        if !push(c, text.into(), self.ctx.client_queue) {
            crate::metrics::Metrics::inc(&self.ctx.metrics.slow_consumer_drops);
            self.drop_client(conn, close::SLOW_CONSUMER);
        }
    }

    fn drop_client(&mut self, conn: u64, code: u16) {
        if let Some(c) = self.clients.remove(&conn) {
            c.kill.fire(code);
            self.ctx.metrics.connections.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Queues `frame` for `c`; false when its queue is over `limit` bytes.
fn push(c: &Client, frame: Utf8Bytes, limit: usize) -> bool {
    let len = frame.len();
    if c.queued.load(Ordering::Relaxed) + len > limit {
        return false;
    }
    c.queued.fetch_add(len, Ordering::Relaxed);
    if c.tx.try_send(frame).is_err() {
        c.queued.fetch_sub(len, Ordering::Relaxed);
        return false;
    }
    true
}

#[cfg(test)]
mod per_minute_tests {
    use super::PerMinute;

    #[test]
    fn counts_what_came_in_the_last_sixty_seconds() {
        let mut m = PerMinute::default();
        for i in 0..90 {
            m.add(1_000_000 + i * 1000);
        }
        assert_eq!(m.count(1_000_000 + 89_500), 60);
        assert_eq!(m.count(1_000_000 + 120_000), 29);
        assert_eq!(m.count(1_000_000 + 200_000), 0);
    }
}
