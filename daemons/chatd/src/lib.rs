//! chatd: live chat rooms over WebSocket (one per channel), with reactions,
//! polls, moderation, batched persistence and Redis scale-out.

pub mod bridge;
pub mod conn;
pub mod http;
pub mod ids;
pub mod metrics;
pub mod moderation;
pub mod persist;
pub mod policy;
pub mod protocol;
pub mod room;

use metrics::Metrics;
use persist::Persist;
use room::{Event, RoomMsg, RoomRef};
use stage_core::tokens::Signer;
use stage_core::{Config, Db};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Room mailbox size: rooms drain it in bursts; a full one pushes back on
/// the connections feeding it.
const ROOM_MAILBOX: usize = 8192;

/// What every room and handler shares.
pub struct Ctx {
    pub cfg: Config,
    pub db: Db,
    pub signer: Signer,
    pub limits: policy::Limits,
    pub persist: Persist,
    pub metrics: Arc<Metrics>,
    pub ids: ids::Ids,
    /// This node's random id (tells its own Redis messages from others').
    pub node: u32,
    /// Envelopes for Redis, when configured.
    pub bridge: Option<mpsc::Sender<String>>,
    pub client_queue: usize,
    rooms: Mutex<HashMap<String, RoomRef>>,
    /// Becomes true at shutdown (open WebSockets close with 1001).
    pub stop: tokio::sync::watch::Receiver<bool>,
    pub started: std::time::Instant,
}

impl Ctx {
    /// Sends an event to the other nodes (no-op without Redis).
    pub fn publish(&self, channel: &str, ev: &Event) {
        if let Some(tx) = &self.bridge {
            let env = bridge::envelope(self.node, channel, ev);
            if tx.try_send(env).is_err() {
                Metrics::inc(&self.metrics.redis_errors);
            }
        }
    }

    /// The live room of `channel`, if it is running on this node.
    pub fn running_room(&self, channel: &str) -> Option<RoomRef> {
        self.rooms.lock().ok()?.get(channel).cloned()
    }

    fn all_rooms(&self) -> Vec<RoomRef> {
        self.rooms
            .lock()
            .map(|r| r.values().cloned().collect())
            .unwrap_or_default()
    }
}

/// The room of `channel`, started (from the database) if it is not running;
/// `None` when there is no such channel.
pub async fn room(
    ctx: &Arc<Ctx>,
    channel: &str,
) -> Result<Option<RoomRef>, stage_core::db::DbError> {
    if let Some(r) = ctx.running_room(channel) {
        return Ok(Some(r));
    }
    let Some(ch) = ctx.db.channel(channel).await? else {
        return Ok(None);
    };
    let settings = ctx.db.chat_settings(ch.id).await?;
    let bans = ctx.db.chat_bans(ch.id).await?.into_iter().collect();
    let history = ctx
        .db
        .recent_chat(ch.id, ctx.cfg.chat.history as i64)
        .await?;
    let stream_id = ctx.db.live_stream(ch.id).await?.map(|s| s.id);
    let poll = ctx.db.polls(ch.id, 1).await?.into_iter().next();
    let mut rooms = ctx
        .rooms
        .lock()
        .map_err(|_| stage_core::db::DbError::Conflict("room table poisoned".into()))?;
    // Another request may have started it meanwhile: keep that one.
    if let Some(r) = rooms.get(channel) {
        return Ok(Some(r.clone()));
    }
    let (tx, rx) = mpsc::channel(ROOM_MAILBOX);
    let me = RoomRef {
        channel_id: ch.id,
        name: ch.name.clone(),
        owner_id: ch.owner_id,
        tx,
    };
    rooms.insert(ch.name.clone(), me.clone());
    drop(rooms);
    room::spawn(
        ctx.clone(),
        me.clone(),
        rx,
        room::Initial {
            settings,
            bans,
            history,
            stream_id,
            poll,
        },
    );
    tracing::debug!(channel = %ch.name, "room started");
    Ok(Some(me))
}

/// Delivers an event from another node to the room it names (every room for
/// an empty name), if it runs here.
pub fn deliver(ctx: &Ctx, channel: &str, ev: Event) {
    let targets = if channel.is_empty() {
        ctx.all_rooms()
    } else {
        ctx.running_room(channel).into_iter().collect()
    };
    for r in targets {
        if r.tx.try_send(RoomMsg::Remote(ev.clone())).is_err() {
            Metrics::inc(&ctx.metrics.redis_errors);
        }
    }
}

/// Runs chatd on pre-bound listeners until `shutdown`.
pub async fn run_on(
    cfg: Config,
    listeners: stage_core::http::Listeners,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let stage_core::http::Listeners { public, admin } = listeners;
    let (db, token) = stage_core::http::open_state(&cfg).await?;
    let signer = Signer::from_config(&cfg)?;
    let metrics = Arc::new(Metrics::default());
    let stop = stage_core::daemon::Stop::new();
    let stop_rx = stop.receiver();
    let (persist, persist_task) = Persist::start(db.clone(), metrics.clone(), stop_rx.clone());
    let node: u32 = rand::random::<u32>() & 0xff_ffff;
    let (bridge_tx, bridge_rx) = if cfg.chat.redis_url.is_empty() {
        (None, None)
    } else {
        let (tx, rx) = mpsc::channel(65_536);
        (Some(tx), Some(rx))
    };
    let ctx = Arc::new(Ctx {
        limits: policy::Limits::from_config(&cfg.chat),
        client_queue: cfg.chat.client_queue.0 as usize,
        cfg,
        db: db.clone(),
        signer,
        persist,
        metrics,
        ids: ids::Ids::new(node),
        node,
        bridge: bridge_tx,
        rooms: Mutex::new(HashMap::new()),
        stop: stop_rx.clone(),
        started: std::time::Instant::now(),
    });
    if let Some(rx) = bridge_rx {
        bridge::start(ctx.clone(), rx, stop_rx.clone())?;
    }
    tracing::info!(
        public = %public.local_addr()?,
        admin = %admin.local_addr()?,
        node = format_args!("{node:06x}"),
        redis = !ctx.cfg.chat.redis_url.is_empty(),
        "chatd listening"
    );
    stage_core::daemon::ready();
    // Chat sockets: no Nagle delay, and a fixed 64 KiB send buffer instead
    // of the kernel's autotuning (up to 4 MiB): bounded memory per client,
    // and a client that stops reading fills its queue and is dropped soon.
    use axum::serve::ListenerExt;
    // Keepalive finds dead peers without a timer per connection.
    let public = public.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
        let sock = socket2::SockRef::from(&*tcp);
        let _ = sock.set_send_buffer_size(64 * 1024);
        let _ = sock.set_tcp_keepalive(
            &socket2::TcpKeepalive::new()
                .with_time(std::time::Duration::from_secs(60))
                .with_interval(std::time::Duration::from_secs(10)),
        );
    });
    let router = http::public_router(ctx.clone());
    let stopped = stop.stopped();
    let p = tokio::spawn(async move {
        axum::serve(
            public,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(stopped)
        .await
    });
    let a = stop.serve(admin, http::admin_router(ctx.clone(), token));
    stop.after(shutdown, "chatd").await;
    // Open WebSockets see `stop` and end with "going away"; rooms stop with
    // the process; the persistence task writes what is queued first.
    let _ = p.await;
    let _ = a.await;
    let _ = persist_task.await;
    db.close().await;
    Ok(())
}

/// Runs chatd per its config.
pub async fn run(cfg: Config, shutdown: stage_core::daemon::Shutdown) -> anyhow::Result<()> {
    let listeners = stage_core::http::Listeners::bind(&cfg.chatd, "chatd").await?;
    run_on(cfg, listeners, shutdown).await
}
