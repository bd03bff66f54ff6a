//! Channels and pages: channel info, who is live, the front and watch
//! pages and their static files.

use super::{AppState, db_unavailable, not_found};
use crate::web;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

pub(super) async fn channel_info(
    State(s): State<AppState>,
    Path(channel): Path<String>,
) -> Response {
    match s.db.channel(&channel).await {
        Ok(Some(c)) if c.enabled => {
            let live = s
                .registry
                .get(&channel)
                .is_some_and(|h| !h.snapshot.borrow().ended);
            Json(serde_json::json!({
                "name": c.name,
                "title": c.title,
                "description": c.description,
                "members_only": c.members_only,
                "live": live,
                "watch_url": format!("/watch/{}", c.name),
                "chat_url": s.chat_url,
                "auth_url": s.auth_url,
            }))
            .into_response()
        }
        Ok(_) => not_found("channel"),
        Err(e) => {
            tracing::error!(cause = %e, "channel lookup failed");
            db_unavailable()
        }
    }
}

pub(super) async fn front_page(State(s): State<AppState>) -> Response {
    web::serve(s.web_dir.as_deref(), "index.html")
}

/// The channels live now, most watched first (the front page's list).
pub(super) async fn live_channels(State(s): State<AppState>) -> Response {
    let mut live: Vec<(u64, serde_json::Value)> = s
        .registry
        .all()
        .into_iter()
        .map(|h| h.snapshot.borrow().clone())
        .filter(|snap| !snap.ended && snap.multivariant.is_some())
        .map(|snap| {
            let viewers = s.viewers.count(snap.stream_id);
            (
                viewers,
                serde_json::json!({
                    "channel": snap.channel,
                    "title": snap.title,
                    "stream_id": snap.stream_id,
                    "started_at": stage_core::time::rfc3339_ms(snap.started_at_ms),
                    "viewers": viewers,
                    "watch_url": format!("/watch/{}", snap.channel),
                    "thumbnail_url": format!("/channels/{}/thumbnail.jpg", snap.channel),
                    "playlist_url": format!("/hls/{}/index.m3u8", snap.channel),
                }),
            )
        })
        .collect();
    live.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then_with(|| a.1["channel"].as_str().cmp(&b.1["channel"].as_str()))
    });
    let channels: Vec<serde_json::Value> = live.into_iter().map(|(_, v)| v).collect();
    (
        [(header::CACHE_CONTROL, "no-cache")],
        Json(serde_json::json!({ "channels": channels })),
    )
        .into_response()
}

pub(super) async fn channel_live(
    State(s): State<AppState>,
    Path(channel): Path<String>,
) -> Response {
    let snap = s
        .registry
        .get(&channel)
        .map(|h| (h.snapshot.borrow().clone(), h.info.members_only));
    let body = match snap {
        Some((snap, members_only)) if !snap.ended => serde_json::json!({
            "live": true,
            "members_only": members_only,
            "ready": snap.multivariant.is_some(),
            "stream_id": snap.stream_id,
            "title": snap.title,
            "started_at": stage_core::time::rfc3339_ms(snap.started_at_ms),
            "playlist_url": format!("/hls/{}/index.m3u8", snap.channel),
            "codecs": snap.codecs,
            "resolution": snap.resolution.map(|(w, h)| format!("{w}x{h}")),
            "bandwidth": snap.bandwidth,
            "viewers": s.viewers.count(snap.stream_id),
            "server_time_ms": stage_core::time::now_ms(),
        }),
        _ => {
            match s.db.channel(&channel).await {
                Ok(Some(c)) if c.enabled => {}
                Ok(_) => return not_found("channel"),
                Err(_) => return db_unavailable(),
            }
            serde_json::json!({"live": false, "ready": false, "stream_id": null, "started_at": null, "playlist_url": null, "viewers": 0})
        }
    };
    ([(header::CACHE_CONTROL, "no-cache")], Json(body)).into_response()
}

pub(super) async fn watch_page(
    State(s): State<AppState>,
    Path(_channel): Path<String>,
) -> Response {
    // The page reads the channel (or, at /vod/{id}, the VOD) from its own
    // URL; nothing user-supplied is templated into the HTML.
    web::serve(s.web_dir.as_deref(), "watch.html")
}

pub(super) async fn static_file(State(s): State<AppState>, Path(file): Path<String>) -> Response {
    web::serve(s.web_dir.as_deref(), &file)
}
