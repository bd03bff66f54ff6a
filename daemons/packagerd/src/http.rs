//! packagerd's public HTTP surface: HLS from memory, channel info, the
//! player page. Routes per ARCHITECTURE.md.

use crate::registry::Registry;
use crate::web;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use stage_core::Db;
use std::sync::Arc;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub db: Db,
    pub cors: Option<HeaderValue>,
    pub web_dir: Option<std::path::PathBuf>,
}

/// The public router.
pub fn router(state: AppState) -> Router {
    let cors = state.cors.clone();
    Router::new()
        .route("/healthz", get(stage_core::http::healthz))
        .route("/hls/{channel}/index.m3u8", get(multivariant))
        .route("/hls/{channel}/source/index.m3u8", get(media_playlist))
        .route("/hls/{channel}/source/{file}", get(media_file))
        .route("/channels/{channel}", get(channel_info))
        .route("/channels/{channel}/live", get(channel_live))
        .route("/watch/{channel}", get(watch_page))
        .route("/static/{file}", get(static_file))
        .with_state(state)
        .layer(axum::middleware::from_fn(
            move |req, next: axum::middleware::Next| {
                let cors = cors.clone();
                async move {
                    let mut res = next.run(req).await;
                    if let Some(v) = cors {
                        res.headers_mut()
                            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
                    }
                    res
                }
            },
        ))
}

fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CACHE_CONTROL, "no-cache")],
        Json(serde_json::json!({"error": "not_found", "message": format!("{what} not found")})),
    )
        .into_response()
}

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
/// Playlists change every segment; CDNs may hold them a second.
const PLAYLIST_CACHE: &str = "public, max-age=1";
/// Segment and init URIs are never reused, so they are immutable.
const SEGMENT_CACHE: &str = "public, max-age=31536000, immutable";

async fn multivariant(State(s): State<AppState>, Path(channel): Path<String>) -> Response {
    let Some(h) = s.registry.get(&channel) else {
        return not_found("stream");
    };
    let snap = h.snapshot.borrow().clone();
    match &snap.multivariant {
        Some(text) => (
            [
                (header::CONTENT_TYPE, PLAYLIST_TYPE),
                (header::CACHE_CONTROL, PLAYLIST_CACHE),
            ],
            text.clone(),
        )
            .into_response(),
        None => not_found("playlist (stream starting)"),
    }
}

async fn media_playlist(State(s): State<AppState>, Path(channel): Path<String>) -> Response {
    let Some(h) = s.registry.get(&channel) else {
        return not_found("stream");
    };
    let snap = h.snapshot.borrow().clone();
    if snap.segment_count == 0 {
        return not_found("playlist (stream starting)");
    }
    (
        [
            (header::CONTENT_TYPE, PLAYLIST_TYPE),
            (header::CACHE_CONTROL, PLAYLIST_CACHE),
        ],
        snap.media_playlist.clone(),
    )
        .into_response()
}

async fn media_file(
    State(s): State<AppState>,
    Path((channel, file)): Path<(String, String)>,
) -> Response {
    let Some(h) = s.registry.get(&channel) else {
        return not_found("stream");
    };
    let data = h.snapshot.borrow().segments.get(&file).cloned();
    let Some(data) = data else {
        return not_found("segment");
    };
    let ctype = if file.ends_with(".mp4") {
        "video/mp4"
    } else {
        "video/iso.segment"
    };
    (
        [
            (header::CONTENT_TYPE, ctype),
            (header::CACHE_CONTROL, SEGMENT_CACHE),
        ],
        data,
    )
        .into_response()
}

async fn channel_info(State(s): State<AppState>, Path(channel): Path<String>) -> Response {
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
            }))
            .into_response()
        }
        Ok(_) => not_found("channel"),
        Err(e) => {
            tracing::error!(cause = %e, "channel lookup failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"error": "unavailable"})),
            )
                .into_response()
        }
    }
}

async fn channel_live(State(s): State<AppState>, Path(channel): Path<String>) -> Response {
    let snap = s
        .registry
        .get(&channel)
        .map(|h| h.snapshot.borrow().clone());
    let body = match snap {
        Some(snap) if !snap.ended => serde_json::json!({
            "live": true,
            "ready": snap.multivariant.is_some(),
            "stream_id": snap.stream_id,
            "title": snap.title,
            "started_at": stage_core::time::rfc3339_ms(snap.started_at_ms),
            "playlist_url": format!("/hls/{}/index.m3u8", snap.channel),
            "codecs": snap.codecs,
            "resolution": snap.resolution.map(|(w, h)| format!("{w}x{h}")),
            "bandwidth": snap.bandwidth,
        }),
        _ => {
            match s.db.channel(&channel).await {
                Ok(Some(c)) if c.enabled => {}
                Ok(_) => return not_found("channel"),
                Err(_) => {
                    return (
                        StatusCode::SERVICE_UNAVAILABLE,
                        Json(serde_json::json!({"error": "unavailable"})),
                    )
                        .into_response();
                }
            }
            serde_json::json!({"live": false, "ready": false, "stream_id": null, "started_at": null, "playlist_url": null})
        }
    };
    ([(header::CACHE_CONTROL, "no-cache")], Json(body)).into_response()
}

async fn watch_page(State(s): State<AppState>, Path(_channel): Path<String>) -> Response {
    // The page reads the channel from its own URL; nothing user-supplied is
    // templated into the HTML.
    web::serve(s.web_dir.as_deref(), "watch.html")
}

async fn static_file(State(s): State<AppState>, Path(file): Path<String>) -> Response {
    web::serve(s.web_dir.as_deref(), &file)
}
