//! The stream hub: the one task that owns which channels are live, who
//! publishes to them, and their reconnect grace timers. Connections and the
//! admin API talk to it by message and get answers on oneshot channels. It
//! never awaits the database: rows go to the [`Journal`] in order, and a
//! new stream's row comes back as a message ([`Msg::Started`]) while the
//! channel is held as starting.

use crate::journal::Journal;

use crate::forwarder::{self, Forwarder};
use stage_core::db::{Channel, DbError, Stream};
use stage_core::{Config, Db};
use stage_media::link::{EndInfo, LinkMessage, StreamInfo, VERSION};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Why a publish was refused (logged, and the connection closed).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("channel is already live with another publisher")]
    AlreadyLive,
    #[error("database: {0}")]
    Db(#[from] DbError),
    #[error("ingestd is shutting down")]
    ShuttingDown,
}

/// What a connection gets when its publish is accepted.
pub struct Grant {
    pub stream_id: i64,
    pub forwarder: Forwarder,
    /// Where this session's timeline starts (ms).
    pub ts_offset: i64,
    /// A publisher reconnected within the grace period.
    pub resumed: bool,
    /// Fires when an operator kicks this publisher.
    pub kicked: oneshot::Receiver<()>,
    pub stats: Arc<PublisherStats>,
}

/// Ingest counters a connection updates and /status reads.
#[derive(Debug, Default)]
pub struct PublisherStats {
    pub bytes: AtomicU64,
    pub video_frames: AtomicU64,
    pub audio_frames: AtomicU64,
    pub keyframes: AtomicU64,
    /// Bitrate, frame rate, keyframe interval and A/V warnings.
    pub meter: std::sync::Mutex<crate::meter::Meter>,
}

impl PublisherStats {
    /// Counts an access unit forwarded at `now_ms` (configurations count nothing).
    pub fn count(&self, msg: &LinkMessage, now_ms: i64) {
        match msg {
            LinkMessage::Video(f) => {
                self.video_frames.fetch_add(1, Ordering::Relaxed);
                if f.keyframe {
                    self.keyframes.fetch_add(1, Ordering::Relaxed);
                }
                if let Ok(mut m) = self.meter.lock() {
                    m.video(now_ms, f.dts_ms, f.data.len(), f.keyframe);
                }
            }
            LinkMessage::Audio(f) => {
                self.audio_frames.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut m) = self.meter.lock() {
                    m.audio(now_ms, f.dts_ms, f.data.len());
                }
            }
            _ => {}
        }
    }
}

pub use stage_core::api::status::{IngestEvent, IngestStream as LiveStatus};
use stage_core::api::status::{PUBLISHING, RECONNECT_GRACE};

/// How many events /status keeps.
const EVENTS_KEPT: usize = 100;

/// How a publisher went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Departure {
    /// FCUnpublish / deleteStream: end the stream now.
    Clean,
    /// Socket dropped: hold the stream open for the grace period.
    Abrupt,
    /// Refused mid-stream (bad media): end now.
    Refused,
}

enum Msg {
    Publish {
        channel: Channel,
        conn: u64,
        peer: SocketAddr,
        reply: oneshot::Sender<Result<Grant, Refusal>>,
    },
    Left {
        channel_id: i64,
        conn: u64,
        how: Departure,
        reason: String,
    },
    /// The journal opened (or could not open) the stream a publish asked for.
    Started {
        channel: Channel,
        conn: u64,
        peer: SocketAddr,
        stream: Result<Stream, DbError>,
        reply: oneshot::Sender<Result<Grant, Refusal>>,
    },
    GraceOver {
        channel_id: i64,
        generation: u64,
    },
    Kick {
        channel: String,
        reply: oneshot::Sender<bool>,
    },
    Note(IngestEvent),
    Events {
        reply: oneshot::Sender<Vec<IngestEvent>>,
    },
    Status {
        reply: oneshot::Sender<Vec<LiveStatus>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// Cheap, cloneable handle to the hub.
#[derive(Clone)]
pub struct HubHandle {
    tx: mpsc::Sender<Msg>,
}

struct Live {
    channel: Channel,
    stream_id: i64,
    forwarder: Forwarder,
    publisher: Option<Publisher>,
    generation: u64,
    since: Instant,
    stats: Arc<PublisherStats>,
    reconnects: u64,
}

struct Publisher {
    conn: u64,
    peer: SocketAddr,
    kick: oneshot::Sender<()>,
}

impl HubHandle {
    /// Asks to publish on `channel` (already authenticated).
    pub async fn publish(
        &self,
        channel: Channel,
        conn: u64,
        peer: SocketAddr,
    ) -> Result<Grant, Refusal> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Publish {
                channel,
                conn,
                peer,
                reply,
            })
            .await
            .map_err(|_| Refusal::ShuttingDown)?;
        rx.await.map_err(|_| Refusal::ShuttingDown)?
    }

    /// Tells the hub a publisher left.
    pub async fn left(&self, channel_id: i64, conn: u64, how: Departure, reason: String) {
        let _ = self
            .tx
            .send(Msg::Left {
                channel_id,
                conn,
                how,
                reason,
            })
            .await;
    }

    /// Drops the publisher of `channel` and ends its stream; false if not live.
    pub async fn kick(&self, channel: &str) -> bool {
        let (reply, rx) = oneshot::channel();
        if self
            .tx
            .send(Msg::Kick {
                channel: channel.into(),
                reply,
            })
            .await
            .is_err()
        {
            return false;
        }
        rx.await.unwrap_or(false)
    }

    /// Live streams now.
    pub async fn status(&self) -> Vec<LiveStatus> {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Msg::Status { reply }).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// The latest ingest events, newest last.
    pub async fn events(&self) -> Vec<IngestEvent> {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Msg::Events { reply }).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Records an event seen outside the hub (a refused publisher); drops it
    /// rather than wait when the hub is busy.
    pub fn note(&self, event: IngestEvent) {
        let _ = self.tx.try_send(Msg::Note(event));
    }

    /// Ends every stream and stops the hub.
    pub async fn shutdown(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Msg::Shutdown { reply }).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// Starts the hub task.
pub fn spawn(cfg: Config, db: Db) -> HubHandle {
    let (tx, rx) = mpsc::channel(256);
    // For notices to chatd's admin API (the same data dir's token).
    let admin_token = stage_core::admin::load_or_create_token(&cfg.data_dir).unwrap_or_default();
    let hub = Hub {
        admin_token,
        grace: cfg.ingestd.reconnect_grace.0,
        cfg,
        journal: Journal::spawn(db),
        live: HashMap::new(),
        starting: std::collections::HashSet::new(),
        events: std::collections::VecDeque::new(),
        tx: tx.clone(),
        next_gen: 0,
    };
    tokio::spawn(hub.run(rx));
    HubHandle { tx }
}

struct Hub {
    cfg: Config,
    admin_token: String,
    journal: Journal,
    grace: Duration,
    live: HashMap<i64, Live>,
    /// Channels whose new stream the journal is opening.
    starting: std::collections::HashSet<i64>,
    events: std::collections::VecDeque<IngestEvent>,
    tx: mpsc::Sender<Msg>,
    next_gen: u64,
}

/// Keeps the newest [`EVENTS_KEPT`] events.
fn record(events: &mut std::collections::VecDeque<IngestEvent>, e: IngestEvent) {
    if events.len() == EVENTS_KEPT {
        events.pop_front();
    }
    events.push_back(e);
}

fn event(channel: &str, kind: &'static str, detail: String) -> IngestEvent {
    IngestEvent {
        at_ms: stage_core::time::now_ms(),
        channel: channel.into(),
        kind: kind.into(),
        detail,
    }
}

impl Hub {
    /// Tells chatd that `channel` went live (or ended), so its messages are
    /// filed under the right stream.
    fn tell_chat(&self, channel: &str, stream_id: Option<i64>) {
        stage_core::admin::notify(
            self.cfg.chatd.admin_listen,
            &self.admin_token,
            &stage_core::api::CHAT_STREAMS.path(&[]),
            serde_json::json!({"channel": channel, "stream_id": stream_id}),
        );
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        while let Some(msg) = rx.recv().await {
            match msg {
                Msg::Publish {
                    channel,
                    conn,
                    peer,
                    reply,
                } => self.publish(channel, conn, peer, reply).await,
                Msg::Started {
                    channel,
                    conn,
                    peer,
                    stream,
                    reply,
                } => self.started(channel, conn, peer, stream, reply),
                Msg::Left {
                    channel_id,
                    conn,
                    how,
                    reason,
                } => self.left(channel_id, conn, how, reason).await,
                Msg::GraceOver {
                    channel_id,
                    generation,
                } => {
                    let expired = self
                        .live
                        .get(&channel_id)
                        .is_some_and(|l| l.publisher.is_none() && l.generation == generation);
                    if expired {
                        self.end(
                            channel_id,
                            "publisher did not come back within the grace period",
                        )
                        .await;
                    }
                }
                Msg::Kick { channel, reply } => {
                    let id = self
                        .live
                        .values()
                        .find(|l| l.channel.name == channel)
                        .map(|l| l.channel.id);
                    if let Some(id) = id {
                        if let Some(p) = self.live.get_mut(&id).and_then(|l| l.publisher.take()) {
                            let _ = p.kick.send(());
                        }
                        self.end(id, "kicked by operator").await;
                    }
                    let _ = reply.send(id.is_some());
                }
                Msg::Note(e) => record(&mut self.events, e),
                Msg::Events { reply } => {
                    let _ = reply.send(self.events.iter().cloned().collect());
                }
                Msg::Status { reply } => {
                    let _ = reply.send(self.status());
                }
                Msg::Shutdown { reply } => {
                    let ids: Vec<i64> = self.live.keys().copied().collect();
                    for id in ids {
                        if let Some(p) = self.live.get_mut(&id).and_then(|l| l.publisher.take()) {
                            let _ = p.kick.send(());
                        }
                        self.end(id, "ingestd shut down").await;
                    }
                    self.journal.flush().await;
                    let _ = reply.send(());
                    return;
                }
            }
        }
    }

    /// A publish on `channel`: resumed at once within the grace period,
    /// refused while the channel is live or starting, otherwise a new
    /// stream, answered when the journal has opened its row.
    async fn publish(
        &mut self,
        channel: Channel,
        conn: u64,
        peer: SocketAddr,
        reply: oneshot::Sender<Result<Grant, Refusal>>,
    ) {
        if self.starting.contains(&channel.id) {
            let _ = reply.send(Err(Refusal::AlreadyLive));
            return;
        }
        let (kick, kicked) = oneshot::channel();
        if let Some(live) = self.live.get_mut(&channel.id) {
            if live.publisher.is_some() {
                let _ = reply.send(Err(Refusal::AlreadyLive));
                return;
            }
            // Back within the grace period: same stream, after a discontinuity.
            live.publisher = Some(Publisher { conn, peer, kick });
            live.generation = self.next_gen;
            self.next_gen += 1;
            live.reconnects += 1;
            let _ = live.forwarder.tx.send(LinkMessage::Discontinuity).await;
            let ts_offset = live.forwarder.state.last_dts.load(Ordering::Relaxed) + 100;
            self.journal.event(
                live.stream_id,
                "reconnect",
                serde_json::json!({"peer": peer.to_string()}),
            );
            tracing::info!(channel = %channel.name, stream = live.stream_id, %peer, "publisher reconnected; stream continues");
            let detail = format!("from {peer}; stream continues");
            record(&mut self.events, event(&channel.name, "reconnect", detail));
            let _ = reply.send(Ok(Grant {
                stream_id: live.stream_id,
                forwarder: live.forwarder.clone(),
                ts_offset,
                resumed: true,
                kicked,
                stats: live.stats.clone(),
            }));
            return;
        }
        self.starting.insert(channel.id);
        let opened = self.journal.start(channel.clone());
        let (tx, journal) = (self.tx.clone(), self.journal.clone());
        tokio::spawn(async move {
            // No answer: the journal is gone, so is ingestd (dropping
            // `reply` tells the connection so).
            let Ok(stream) = opened.await else { return };
            let id = stream.as_ref().ok().map(|s| s.id);
            let started = Msg::Started {
                channel,
                conn,
                peer,
                stream,
                reply,
            };
            if tx.send(started).await.is_err() {
                // The hub stopped meanwhile: the row must not stay live.
                if let Some(id) = id {
                    journal.end(id);
                }
            }
        });
    }

    /// The rest of a new stream's publish, once its row exists.
    fn started(
        &mut self,
        channel: Channel,
        conn: u64,
        peer: SocketAddr,
        stream: Result<Stream, DbError>,
        reply: oneshot::Sender<Result<Grant, Refusal>>,
    ) {
        self.starting.remove(&channel.id);
        let stream = match stream {
            Ok(s) => s,
            Err(DbError::Conflict(_)) => {
                let _ = reply.send(Err(Refusal::AlreadyLive));
                return;
            }
            Err(e) => {
                let _ = reply.send(Err(Refusal::Db(e)));
                return;
            }
        };
        self.journal.event(
            stream.id,
            "publish",
            serde_json::json!({"peer": peer.to_string()}),
        );
        self.tell_chat(&channel.name, Some(stream.id));
        let info = StreamInfo {
            version: VERSION,
            stream_id: stream.id,
            channel: channel.name.clone(),
            title: stream.title.clone(),
            started_at_ms: stream.started_at.unwrap_or_else(stage_core::time::now_ms),
            members_only: stream.members_only,
            resumed: false,
            ladder: channel.ladder.clone(),
            record: channel.record,
        };
        let forwarder = forwarder::spawn(
            info,
            self.cfg.ingestd.packager_media,
            self.cfg.ingestd.backlog_max.0,
        );
        let stats = Arc::new(PublisherStats::default());
        tracing::info!(channel = %channel.name, stream = stream.id, %peer, "stream live");
        record(
            &mut self.events,
            event(
                &channel.name,
                "publish",
                format!("from {peer}, stream {}", stream.id),
            ),
        );
        let (kick, kicked) = oneshot::channel();
        let channel_id = channel.id;
        self.live.insert(
            channel_id,
            Live {
                channel,
                stream_id: stream.id,
                forwarder: forwarder.clone(),
                publisher: Some(Publisher { conn, peer, kick }),
                generation: self.next_gen,
                since: Instant::now(),
                stats: stats.clone(),
                reconnects: 0,
            },
        );
        self.next_gen += 1;
        let granted = reply.send(Ok(Grant {
            stream_id: stream.id,
            forwarder,
            ts_offset: 0,
            resumed: false,
            kicked,
            stats,
        }));
        if granted.is_err() {
            // The connection is gone (closed while the row was opened).
            let _ = self.tx.try_send(Msg::Left {
                channel_id,
                conn,
                how: Departure::Clean,
                reason: "publisher gone before the stream started".into(),
            });
        }
    }

    async fn left(&mut self, channel_id: i64, conn: u64, how: Departure, reason: String) {
        let Some(live) = self.live.get_mut(&channel_id) else {
            return;
        };
        if live.publisher.as_ref().is_none_or(|p| p.conn != conn) {
            return; // An old connection of a stream that has moved on.
        }
        live.publisher = None;
        match how {
            Departure::Clean | Departure::Refused => self.end(channel_id, &reason).await,
            Departure::Abrupt => {
                let generation = live.generation;
                let stream = live.stream_id;
                tracing::info!(stream, cause = %reason, grace = ?self.grace, "publisher dropped; holding stream open for reconnect");
                let name = live.channel.name.clone();
                record(
                    &mut self.events,
                    event(&name, "publisher_lost", reason.clone()),
                );
                self.journal.event(
                    stream,
                    "publisher_lost",
                    serde_json::json!({"reason": reason}),
                );
                let tx = self.tx.clone();
                let grace = self.grace;
                tokio::spawn(async move {
                    tokio::time::sleep(grace).await;
                    let _ = tx
                        .send(Msg::GraceOver {
                            channel_id,
                            generation,
                        })
                        .await;
                });
            }
        }
    }

    async fn end(&mut self, channel_id: i64, reason: &str) {
        let Some(live) = self.live.remove(&channel_id) else {
            return;
        };
        let _ = live
            .forwarder
            .tx
            .send(LinkMessage::End(EndInfo {
                reason: reason.into(),
            }))
            .await;
        self.journal.end(live.stream_id);
        self.tell_chat(&live.channel.name, None);
        self.journal.event(
            live.stream_id,
            "ended",
            serde_json::json!({"reason": reason}),
        );
        tracing::info!(channel = %live.channel.name, stream = live.stream_id, reason, "stream ended");
        record(
            &mut self.events,
            event(&live.channel.name, "ended", reason.into()),
        );
    }

    fn status(&self) -> Vec<LiveStatus> {
        let mut out: Vec<LiveStatus> = self
            .live
            .values()
            .map(|l| {
                let s = &l.stats;
                let f = &l.forwarder.state;
                LiveStatus {
                    channel: l.channel.name.clone(),
                    stream_id: l.stream_id,
                    state: if l.publisher.is_some() {
                        PUBLISHING
                    } else {
                        RECONNECT_GRACE
                    }
                    .into(),
                    publisher: l.publisher.as_ref().map(|p| p.peer.to_string()),
                    uptime_s: l.since.elapsed().as_secs(),
                    ingest_bytes: s.bytes.load(Ordering::Relaxed),
                    video_frames: s.video_frames.load(Ordering::Relaxed),
                    audio_frames: s.audio_frames.load(Ordering::Relaxed),
                    keyframes: s.keyframes.load(Ordering::Relaxed),
                    packager_connected: f.connected.load(Ordering::Relaxed),
                    backlog_bytes: f.backlog_bytes.load(Ordering::Relaxed),
                    frames_dropped: f.frames_dropped.load(Ordering::Relaxed),
                    link_reconnects: f.reconnects.load(Ordering::Relaxed),
                    publisher_reconnects: l.reconnects,
                    reading: s
                        .meter
                        .lock()
                        .map(|mut m| m.reading(stage_core::time::now_ms()))
                        .unwrap_or_default(),
                }
            })
            .collect();
        out.sort_by(|a, b| a.channel.cmp(&b.channel));
        out
    }
}
