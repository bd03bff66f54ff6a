//! packagerd's public HTTP surface: HLS from memory, channel info, the
//! player page. Routes per ARCHITECTURE.md.

mod live;
mod pages;
mod vod;

pub use live::{COMPLETED_AT, HlsQuery, parse_hls_query};
use live::{media_file, media_playlist, mpd, multivariant, thumbnail};
use pages::{channel_info, channel_live, front_page, live_channels, static_file, watch_page};
use vod::{vod, vod_file, vod_multivariant, vod_thumbnail, vods};

use crate::access;
use crate::registry::Registry;
use crate::viewers::Viewers;
use axum::Router;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use stage_core::Db;
use std::sync::Arc;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub viewers: Arc<Viewers>,
    pub db: Db,
    pub cors: Option<HeaderValue>,
    pub web_dir: Option<std::path::PathBuf>,
    /// Recordings (VODs are served from its store).
    pub recorder: Option<Arc<crate::recorder::Recorder>>,
    /// Where the page reaches chatd and billingd (accounts).
    pub chat_url: String,
    pub auth_url: String,
    /// Checks playback tokens of members-only streams.
    pub signer: stage_core::tokens::Signer,
}

/// For a members-only stream: the request's playback token (checked), or
/// the 403 refusing it; `None` for a public stream.
fn gate<'q>(
    s: &AppState,
    members_only: bool,
    channel: &str,
    query: Option<&'q str>,
) -> Result<Option<&'q str>, access::Denied> {
    if !members_only {
        return Ok(None);
    }
    access::check(&s.signer, query, channel, stage_core::tokens::now_s()).map(Some)
}

/// Makes a members-only response private to its viewer.
fn private(mut res: Response, cache: &'static str) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    res
}

/// The public router.
pub fn router(state: AppState) -> Router {
    let cors = state.cors.clone();
    Router::new()
        .route("/healthz", get(stage_core::http::healthz))
        .route("/", get(front_page))
        .route("/live", get(live_channels))
        .route("/hls/{channel}/index.m3u8", get(multivariant))
        .route("/hls/{channel}/manifest.mpd", get(mpd))
        .route("/hls/{channel}/{rendition}/index.m3u8", get(media_playlist))
        .route("/hls/{channel}/{rendition}/{file}", get(media_file))
        .route("/channels/{channel}", get(channel_info))
        .route("/channels/{channel}/live", get(channel_live))
        .route("/channels/{channel}/thumbnail.jpg", get(thumbnail))
        .route("/watch/{channel}", get(watch_page))
        .route("/vod/{id}", get(watch_page))
        .route("/vods", get(vods))
        .route("/vods/{id}", get(vod))
        .route("/vods/{id}/index.m3u8", get(vod_multivariant))
        .route("/vods/{id}/thumbnail.jpg", get(vod_thumbnail))
        .route("/vods/{id}/{rendition}/{file}", get(vod_file))
        .route("/static/{file}", get(static_file))
        .with_state(state)
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let cors = cors.clone();
                async move {
                    let preflight = req.method() == Method::OPTIONS;
                    let mut res = match (&cors, preflight) {
                        (Some(_), true) => StatusCode::NO_CONTENT.into_response(),
                        _ => next.run(req).await,
                    };
                    if let Some(v) = cors {
                        let h = res.headers_mut();
                        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
                        h.insert(
                            header::ACCESS_CONTROL_EXPOSE_HEADERS,
                            HeaderValue::from_static(COMPLETED_AT),
                        );
                        if preflight {
                            h.insert(
                                header::ACCESS_CONTROL_ALLOW_METHODS,
                                HeaderValue::from_static("GET, HEAD, OPTIONS"),
                            );
                            h.insert(
                                header::ACCESS_CONTROL_ALLOW_HEADERS,
                                HeaderValue::from_static(crate::viewers::SESSION_HEADER),
                            );
                            h.insert(
                                header::ACCESS_CONTROL_MAX_AGE,
                                HeaderValue::from_static("86400"),
                            );
                        }
                    }
                    res
                }
            },
        ))
}

fn not_found(what: &str) -> Response {
    stage_core::http::error(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("{what} not found"),
    )
}

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
/// Playlists change every part: shared caches (CDNs) may hold one a second
/// to coalesce viewers, browsers none (a stale copy in the player's own
/// cache would move its live edge back in time).
const PLAYLIST_CACHE: &str = "public, max-age=0, s-maxage=1";
/// Segment and init URIs are never reused, so they are immutable.
const SEGMENT_CACHE: &str = "public, max-age=31536000, immutable";

fn bad_request(message: String) -> Response {
    stage_core::http::error(StatusCode::BAD_REQUEST, "bad_request", message)
}

fn unavailable(message: &str) -> Response {
    stage_core::http::error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
}

fn db_unavailable() -> Response {
    unavailable("database unavailable")
}
