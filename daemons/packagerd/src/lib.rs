//! packagerd: receives streams from ingestd over the media link, packages
//! them into CMAF/fMP4 HLS in memory, and serves playlists, segments, channel
//! info and the player page over HTTP.
//!
//! - `link_server`: the media link listener.
//! - `registry`: live streams; one task per stream owns its segmenter
//!   (`stage_media::llhls`: access units → parts, segments, playlists; pure).
//! - `dash`: the DASH manifest over the same segments.
//! - `http`: public routes; `admin`: /status and /metrics; `web`: player assets.
//! - `viewers`: playback sessions per stream, recorded in the database.
//! - `recorder`: every rendition's segments into the object store; VODs.

mod abr;
pub mod access;
pub mod admin;
pub mod dash;
pub mod http;
pub mod link_server;
pub mod recorder;
pub mod registry;
pub mod snapshot;
mod stream;
mod thumbnails;
pub mod tls;
pub mod transcode;
pub mod viewers;
pub mod web;

use stage_core::{Config, Db};
use std::future::Future;

/// packagerd's three listeners: public HTTP, the admin API, the media link
/// from ingestd.
pub struct Listeners {
    pub public: tokio::net::TcpListener,
    pub admin: tokio::net::TcpListener,
    pub media: tokio::net::TcpListener,
}

impl Listeners {
    /// Binds `packagerd.listen`, `packagerd.admin_listen` and `packagerd.media_listen`.
    pub async fn bind(cfg: &Config) -> anyhow::Result<Listeners> {
        let bind = stage_core::http::bind;
        Ok(Listeners {
            public: bind(cfg.packagerd.listen, "packagerd.listen").await?,
            admin: bind(cfg.packagerd.admin_listen, "packagerd.admin_listen").await?,
            media: bind(cfg.packagerd.media_listen, "packagerd.media_listen").await?,
        })
    }

    /// All three on free loopback ports (tests).
    pub async fn loopback() -> std::io::Result<Listeners> {
        let bind = || tokio::net::TcpListener::bind("127.0.0.1:0");
        Ok(Listeners {
            public: bind().await?,
            admin: bind().await?,
            media: bind().await?,
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

/// Runs packagerd on pre-bound listeners until `shutdown`.
pub async fn run_on(
    cfg: Config,
    l: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (db, admin_token) = stage_core::http::open_state(&cfg).await?;
    let recorder = open_recorder(&cfg, &db)?;
    let registry = registry::Registry::new(registry::Settings {
        target_ms: cfg.packagerd.segment_duration.0.as_millis() as i64,
        part_target_ms: cfg.packagerd.part_duration.0.as_millis() as i64,
        window: cfg.packagerd.playlist_segments,
        ladders: cfg.ladders.clone(),
        thumbnail_interval_ms: cfg.packagerd.thumbnail_interval.0.as_millis() as i64,
        dvr_ms: cfg.recording.dvr_window.0.as_millis() as i64,
        recorder: recorder.clone(),
    });
    if let Some(r) = &recorder {
        match r.recover(&db).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                recordings = n,
                "finalising recordings left by an earlier run"
            ),
            Err(e) => tracing::warn!(cause = %e, "cannot look for unfinished recordings"),
        }
    }
    let cors = if cfg.packagerd.cors_allow_origin.is_empty() {
        None
    } else {
        Some(cfg.packagerd.cors_allow_origin.parse().map_err(|_| {
            anyhow::anyhow!("config key `packagerd.cors_allow_origin`: not a valid header value")
        })?)
    };
    tracing::info!(
        public = %l.public.local_addr()?,
        admin = %l.admin.local_addr()?,
        media = %l.media.local_addr()?,
        "packagerd listening"
    );
    stage_core::daemon::ready();
    let stop = stage_core::daemon::Stop::new();
    let stop_rx = stop.receiver();
    let viewers = viewers::Viewers::new();
    let state = http::AppState {
        registry: registry.clone(),
        viewers: viewers.clone(),
        db: db.clone(),
        cors,
        web_dir: cfg.packagerd.web_dir.clone(),
        recorder: recorder.clone(),
        chat_url: cfg.chat_public_url(),
        auth_url: cfg.auth_public_url(),
        signer: stage_core::tokens::Signer::from_config(&cfg)?,
    };
    let router = http::router(state);
    let stopped = stop.stopped();
    let public = match (&cfg.packagerd.tls_cert, &cfg.packagerd.tls_key) {
        (Some(cert), Some(key)) => {
            let acceptor = tls::acceptor(cert, key)?;
            tracing::info!("public listener speaks HTTPS (HTTP/2 and HTTP/1.1 by ALPN)");
            tokio::spawn(tls::serve(l.public, acceptor, router, stopped))
        }
        _ => tokio::spawn(stage_core::http::serve(l.public, router, stopped)),
    };
    let admin = stop.serve(
        l.admin,
        admin::router(admin_token, registry.clone(), viewers.clone()),
    );
    let link = tokio::spawn(link_server::run(l.media, registry, stop_rx.clone()));
    if let Some(r) = &recorder
        && cfg.recording.retention_days > 0
    {
        tokio::spawn(recorder::retention(
            r.store(),
            db.clone(),
            cfg.recording.retention_days,
            stop_rx.clone(),
        ));
    }
    let counting = tokio::spawn(viewers.run(db, stop_rx));
    stop.after(shutdown, "packagerd").await;
    let _ = link.await;
    let _ = public.await;
    let _ = admin.await;
    let _ = counting.await;
    if let Some(r) = &recorder
        && !r.drain(std::time::Duration::from_secs(10)).await
    {
        tracing::warn!("recording queue not written within 10 s; stopping anyway");
    }
    Ok(())
}

/// The recorder, when recording is on: local disk is its own spool; a
/// remote store gets a spool in the data dir.
fn open_recorder(
    cfg: &Config,
    db: &Db,
) -> anyhow::Result<Option<std::sync::Arc<recorder::Recorder>>> {
    Ok(if cfg.recording.enabled {
        let st = stage_store::open(cfg)?;
        tracing::info!(store = %st.describe, "recording live streams");
        Some(match st.local_dir {
            // The local store is its own spool.
            Some(dir) => {
                recorder::Recorder::new(st.store, dir, false, cfg.recording.queue_bytes, db.clone())
            }
            None => {
                let spool = cfg.data_dir.join("spool");
                std::fs::create_dir_all(&spool).map_err(|e| {
                    anyhow::anyhow!("cannot create the upload spool {}: {e}", spool.display())
                })?;
                recorder::Recorder::new(
                    st.store,
                    spool,
                    true,
                    cfg.recording.queue_bytes,
                    db.clone(),
                )
            }
        })
    } else {
        None
    })
}
