//! ingestd: RTMP server (rml_rtmp) that authenticates stream keys, turns FLV
//! tags into timestamped access units and forwards them to packagerd over the
//! media link (see `stage_media::link`).
//!
//! - `server`: accept loop, one task per connection.
//! - `session`: one publisher's RTMP conversation, sans-IO (bytes and the clock in, actions out).
//! - `connection`: the I/O loop around a session (socket, stream-key lookup, hub, media link).
//! - `hub`: the one task that owns live-stream state (publish, reconnect grace, kick).
//! - `journal`: the one task that writes the hub's decisions (streams, their events) to the database.
//! - `forwarder`: one task per live stream holding the link to packagerd and its backlog.
//! - `timeline`: RTMP timestamps → one continuous stream timeline.
//! - `http`: admin listener (/status, /metrics, kick).

pub mod connection;
pub mod forwarder;
pub mod http;
pub mod hub;
pub mod journal;
pub mod meter;
pub mod server;
pub mod session;
pub mod timeline;

use stage_core::{Config, Db};
use std::future::Future;
use std::sync::Arc;

/// Everything a connection needs.
pub struct Shared {
    pub cfg: Config,
    pub db: Db,
    pub hub: hub::HubHandle,
}

/// ingestd's two listeners: RTMP from publishers, the admin API.
pub struct Listeners {
    pub rtmp: tokio::net::TcpListener,
    pub admin: tokio::net::TcpListener,
}

impl Listeners {
    /// Binds `ingestd.listen` and `ingestd.admin_listen`.
    pub async fn bind(cfg: &Config) -> anyhow::Result<Listeners> {
        Ok(Listeners {
            rtmp: stage_core::http::bind(cfg.ingestd.listen, "ingestd.listen").await?,
            admin: stage_core::http::bind(cfg.ingestd.admin_listen, "ingestd.admin_listen").await?,
        })
    }

    /// Both on free loopback ports (tests).
    pub async fn loopback() -> std::io::Result<Listeners> {
        Ok(Listeners {
            rtmp: tokio::net::TcpListener::bind("127.0.0.1:0").await?,
            admin: tokio::net::TcpListener::bind("127.0.0.1:0").await?,
        })
    }
}

/// Binds the configured listeners and runs until `shutdown`.
pub async fn run(
    cfg: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listeners = Listeners::bind(&cfg).await?;
    run_on(cfg, listeners, shutdown).await
}

/// Runs ingestd on pre-bound listeners until `shutdown`.
pub async fn run_on(
    cfg: Config,
    Listeners { rtmp, admin }: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (db, admin_token) = stage_core::http::open_state(&cfg).await?;
    let ended = db.end_all_live_streams().await?;
    for id in &ended {
        let _ = db
            .add_event(
                *id,
                "ended",
                serde_json::json!({"reason": "ingestd restarted"}),
            )
            .await;
    }
    if !ended.is_empty() {
        tracing::warn!(streams = ?ended, "ended streams left live by a previous ingestd");
    }
    let hub = hub::spawn(cfg.clone(), db.clone());
    let shared = Arc::new(Shared {
        cfg,
        db,
        hub: hub.clone(),
    });
    tracing::info!(
        rtmp = %rtmp.local_addr()?,
        admin = %admin.local_addr()?,
        "ingestd listening"
    );
    stage_core::daemon::ready();
    let stop = stage_core::daemon::Stop::new();
    let admin_task = stop.serve(admin, http::router(admin_token, hub.clone()));
    let server = tokio::spawn(server::run(rtmp, shared, stop.receiver()));
    stop.after(shutdown, "ingestd").await;
    hub.shutdown().await;
    let _ = server.await;
    let _ = admin_task.await;
    Ok(())
}
