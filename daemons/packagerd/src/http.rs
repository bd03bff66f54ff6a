//! packagerd's public HTTP surface: HLS from memory, channel info, the
//! player page. Routes per ARCHITECTURE.md.

use crate::access;
use crate::registry::{Registry, Snapshot, StreamHandle};
use crate::viewers::{SESSION_HEADER, ViewerKey, Viewers};
use crate::web;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use stage_core::Db;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

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
    (
        StatusCode::NOT_FOUND,
        [(header::CACHE_CONTROL, "no-cache")],
        Json(serde_json::json!({"error": "not_found", "message": format!("{what} not found")})),
    )
        .into_response()
}

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
/// Playlists change every part: shared caches (CDNs) may hold one a second
/// to coalesce viewers, browsers none (a stale copy in the player's own
/// cache would move its live edge back in time).
const PLAYLIST_CACHE: &str = "public, max-age=0, s-maxage=1";
/// Segment and init URIs are never reused, so they are immutable.
const SEGMENT_CACHE: &str = "public, max-age=31536000, immutable";

async fn multivariant(
    State(s): State<AppState>,
    Path(channel): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(h) = s.registry.get(&channel) else {
        return not_found("stream");
    };
    let token = match gate(&s, h.info.members_only, &channel, query.as_deref()) {
        Ok(t) => t,
        Err(r) => return r.into_response(),
    };
    let snap = h.snapshot.borrow().clone();
    match (&snap.multivariant, token) {
        (Some(text), None) => (
            [
                (header::CONTENT_TYPE, PLAYLIST_TYPE),
                (header::CACHE_CONTROL, PLAYLIST_CACHE),
            ],
            text.clone(),
        )
            .into_response(),
        (Some(text), Some(t)) => (
            [
                (header::CONTENT_TYPE, PLAYLIST_TYPE),
                (header::CACHE_CONTROL, access::PRIVATE_PLAYLIST),
            ],
            access::rewrite_hls(text, t),
        )
            .into_response(),
        (None, _) => not_found("playlist (stream starting)"),
    }
}

/// The DASH manifest (dynamic; players reload it every second).
async fn mpd(
    State(s): State<AppState>,
    Path(channel): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(h) = s.registry.get(&channel) else {
        return not_found("stream");
    };
    let token = match gate(&s, h.info.members_only, &channel, query.as_deref()) {
        Ok(t) => t,
        Err(r) => return r.into_response(),
    };
    let snap = h.snapshot.borrow().clone();
    match (&snap.mpd, token) {
        (Some(text), None) => (
            [
                (header::CONTENT_TYPE, "application/dash+xml"),
                (header::CACHE_CONTROL, PLAYLIST_CACHE),
            ],
            text.clone(),
        )
            .into_response(),
        (Some(text), Some(t)) => (
            [
                (header::CONTENT_TYPE, "application/dash+xml"),
                (header::CACHE_CONTROL, access::PRIVATE_PLAYLIST),
            ],
            access::rewrite_dash(&String::from_utf8_lossy(text), t),
        )
            .into_response(),
        (None, _) => not_found("manifest (stream starting)"),
    }
}

/// The LL-HLS delivery directives of a playlist request (RFC 8216bis 6.2.5).
#[derive(Debug, Default, PartialEq)]
pub struct HlsQuery {
    pub msn: Option<u64>,
    pub part: Option<u64>,
    pub skip: bool,
    /// Only `_HLS_` directives, each once, in the spec's order: a shared
    /// cache may keep the response under this URL.
    pub canonical: bool,
}

/// Parses `_HLS_msn`, `_HLS_part` and `_HLS_skip`; other parameters (cache
/// busters) are ignored but make the query non-canonical.
pub fn parse_hls_query(q: Option<&str>) -> Result<HlsQuery, String> {
    let mut out = HlsQuery {
        canonical: true,
        ..HlsQuery::default()
    };
    let mut last_rank = -1;
    for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let rank = match k {
            "_HLS_msn" => {
                out.msn = Some(
                    v.parse()
                        .map_err(|_| format!("_HLS_msn={v}: not a number"))?,
                );
                0
            }
            "_HLS_part" => {
                out.part = Some(
                    v.parse()
                        .map_err(|_| format!("_HLS_part={v}: not a number"))?,
                );
                1
            }
            "_HLS_skip" => {
                out.skip = match v {
                    "YES" | "v2" => true,
                    _ => return Err(format!("_HLS_skip={v}: must be YES or v2")),
                };
                2
            }
            _ => {
                out.canonical = false;
                continue;
            }
        };
        if rank <= last_rank {
            out.canonical = false;
        }
        last_rank = rank;
    }
    if out.part.is_some() && out.msn.is_none() {
        return Err("_HLS_part needs _HLS_msn".into());
    }
    Ok(out)
}

/// The spec's Advance Part Limit: how many parts past the last one a
/// blocking request may ask for before it is refused.
const ADVANCE_PART_LIMIT: u64 = 3;
/// Header on parts, segments and playlists: Unix ms when the (newest) part
/// was complete, for latency measurements.
pub const COMPLETED_AT: &str = "stage-completed-at";

fn bad_request(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CACHE_CONTROL, "no-cache")],
        Json(serde_json::json!({"error": "bad_request", "message": message})),
    )
        .into_response()
}

fn unavailable(message: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CACHE_CONTROL, "no-cache")],
        Json(serde_json::json!({"error": "unavailable", "message": message})),
    )
        .into_response()
}

/// Whether a blocking request asks for more than the spec lets a server
/// wait for: a segment past the next two, or parts past the advance limit.
fn too_far_ahead(snap: &Snapshot, msn: u64, part: Option<u64>) -> bool {
    if msn > snap.open_msn + 1 {
        return true;
    }
    match part {
        Some(p) if msn == snap.open_msn => p >= snap.open_parts + ADVANCE_PART_LIMIT,
        Some(p) if msn > snap.open_msn => p >= ADVANCE_PART_LIMIT,
        _ => false,
    }
}

/// Waits until `ready` holds for the stream's snapshot, at most three target
/// durations (the spec's bound for blocking requests).
async fn wait_for(
    mut rx: tokio::sync::watch::Receiver<Arc<Snapshot>>,
    ready: impl Fn(&Snapshot) -> bool,
) -> Result<Arc<Snapshot>, Response> {
    let first = rx.borrow_and_update().clone();
    if ready(&first) {
        return Ok(first);
    }
    let limit = Duration::from_secs(3 * first.target_duration_secs.max(1));
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {
                let snap = rx.borrow_and_update().clone();
                if ready(&snap) {
                    return Ok(snap);
                }
            }
            Ok(Err(_)) => return Err(not_found("stream")),
            Err(_) => return Err(unavailable("not ready within three target durations")),
        }
    }
}

/// Counts the request towards the stream's viewers.
fn touch(s: &AppState, h: &StreamHandle, headers: &HeaderMap, addr: SocketAddr) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let who = ViewerKey::from_request(
        header(SESSION_HEADER),
        Some(addr.ip()),
        header("user-agent").unwrap_or(""),
    );
    s.viewers
        .touch(h.info.stream_id, who, stage_core::time::now_ms());
}

async fn media_playlist(
    State(s): State<AppState>,
    Path((channel, rendition)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let Some(h) = s.registry.get(&channel) else {
        return not_found("stream");
    };
    let token = match gate(&s, h.info.members_only, &channel, query.as_deref()) {
        Ok(t) => t,
        Err(r) => return r.into_response(),
    };
    touch(&s, &h, &headers, addr);
    let q = match parse_hls_query(query.as_deref()) {
        Ok(q) => q,
        Err(m) => return bad_request(m),
    };
    let top = match q.msn {
        Some(msn) => {
            let top = h.snapshot.borrow().clone();
            let Some(now) = top.rendition(&rendition) else {
                return not_found("rendition");
            };
            if !now.ended && too_far_ahead(now, msn, q.part) {
                return bad_request(format!(
                    "_HLS_msn={msn}{} is too far ahead of the live edge",
                    q.part
                        .map(|p| format!(" _HLS_part={p}"))
                        .unwrap_or_default()
                ));
            }
            let ready = |snap: &Snapshot| {
                snap.rendition(&rendition)
                    .is_none_or(|r| r.has(msn, q.part))
            };
            match wait_for(h.snapshot.clone(), ready).await {
                Ok(snap) => snap,
                Err(r) => return r,
            }
        }
        None => h.snapshot.borrow().clone(),
    };
    let Some(snap) = top.rendition(&rendition) else {
        return not_found("rendition");
    };
    if snap.segment_count == 0 {
        return not_found("playlist (stream starting)");
    }
    let mut body = match (&snap.delta_playlist, q.skip) {
        (Some(delta), true) => delta.clone(),
        _ => snap.media_playlist(),
    };
    if let Some(t) = token {
        body = access::rewrite_hls(&String::from_utf8_lossy(&body), t).into();
    }
    // A blocking response stays valid (it holds at least what was asked
    // for); a plain reload is stale after a part.
    let cache = if token.is_some() {
        access::PRIVATE_PLAYLIST.to_string()
    } else if snap.ended {
        "public, max-age=60".to_string()
    } else if q.msn.is_some() && q.canonical {
        format!(
            "public, max-age=0, s-maxage={}",
            6 * snap.target_duration_secs
        )
    } else if q.msn.is_some() || !q.canonical {
        "no-cache".to_string()
    } else {
        PLAYLIST_CACHE.to_string()
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(PLAYLIST_TYPE),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_str(&cache).unwrap_or(HeaderValue::from_static("no-cache")),
            ),
            (
                HeaderName::from_static(COMPLETED_AT),
                HeaderValue::from(snap.last_part_at_ms),
            ),
        ],
        body,
    )
        .into_response()
}

/// A segment of the DVR window (gone from memory, listed under its live
/// URI) or an init segment it needs, from the recording.
async fn dvr_file(
    s: &AppState,
    h: &StreamHandle,
    now: &Snapshot,
    rendition: &str,
    file: &str,
) -> Response {
    let Some(rec) = &s.recorder else {
        return not_found("segment");
    };
    let init = format!("s{}-init-", h.info.stream_id);
    let object = match now.dvr.get(file) {
        Some(name) => name,
        None => match file
            .strip_prefix(&init)
            .and_then(|x| x.strip_suffix(".mp4"))
            .and_then(|id| id.parse::<u64>().ok())
        {
            Some(id) => stage_media::llhls::names::init_name(id),
            None => return not_found("segment"),
        },
    };
    let key = format!(
        "{}/{rendition}/{object}",
        crate::recorder::prefix(h.info.stream_id)
    );
    recording_object(rec, &key).await
}

async fn media_file(
    State(s): State<AppState>,
    Path((channel, rendition, file)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let Some(h) = s.registry.get(&channel) else {
        return not_found("stream");
    };
    let token = match gate(&s, h.info.members_only, &channel, query.as_deref()) {
        Ok(t) => t,
        Err(r) => return r.into_response(),
    };
    touch(&s, &h, &headers, addr);
    let res = media_file_inner(s, h, channel, rendition, file).await;
    match token {
        Some(_) => private(res, access::PRIVATE_MEDIA),
        None => res,
    }
}

async fn media_file_inner(
    s: AppState,
    h: Arc<StreamHandle>,
    channel: String,
    rendition: String,
    file: String,
) -> Response {
    // `media` is published first, so it is never older than `snapshot`.
    let top = h.media.borrow().clone();
    let Some(now) = top.rendition(&rendition) else {
        return not_found("rendition");
    };
    // A DASH per-track copy, cut from the segment or init HLS serves.
    if let Some((whole, track)) = crate::dash::track_file(&file) {
        let Some(f) = now.files.get(&whole) else {
            return not_found("segment");
        };
        let cut = if whole.ends_with(".mp4") {
            stage_media::fmp4::track_init(&f.data, track)
        } else {
            stage_media::fmp4::track_segment(&f.data, track)
        };
        return match cut {
            Ok(data) if !data.is_empty() => (
                [
                    (header::CONTENT_TYPE, "video/mp4"),
                    (header::CACHE_CONTROL, SEGMENT_CACHE),
                ],
                data,
            )
                .into_response(),
            Ok(_) => not_found("track"),
            Err(e) => {
                tracing::warn!(channel = %channel, file = %file, cause = %e, "cannot cut a track out of a segment");
                not_found("track")
            }
        };
    }
    let found = match now.files.get(&file) {
        Some(f) => Some(f.clone()),
        // The preload hint's part: answered the moment it is complete.
        None if file == now.next_part_uri && !now.ended => {
            let ready = |snap: &Snapshot| {
                snap.rendition(&rendition)
                    .is_none_or(|r| r.files.contains_key(&file) || r.ended)
            };
            match wait_for(h.media.clone(), ready).await {
                Ok(snap) => snap
                    .rendition(&rendition)
                    .and_then(|r| r.files.get(&file).cloned()),
                Err(r) => return r,
            }
        }
        None => None,
    };
    let Some(f) = found else {
        return dvr_file(&s, &h, now, &rendition, &file).await;
    };
    let ctype = if file.ends_with(".mp4") {
        "video/mp4"
    } else {
        "video/iso.segment"
    };
    let mut res = (
        [
            (header::CONTENT_TYPE, ctype),
            (header::CACHE_CONTROL, SEGMENT_CACHE),
        ],
        f.data,
    )
        .into_response();
    if f.completed_at_ms > 0 {
        res.headers_mut().insert(
            HeaderName::from_static(COMPLETED_AT),
            HeaderValue::from(f.completed_at_ms),
        );
    }
    res
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
                "chat_url": s.chat_url,
                "auth_url": s.auth_url,
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

async fn front_page(State(s): State<AppState>) -> Response {
    web::serve(s.web_dir.as_deref(), "index.html")
}

/// The channels live now, most watched first (the front page's list).
async fn live_channels(State(s): State<AppState>) -> Response {
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

async fn channel_live(State(s): State<AppState>, Path(channel): Path<String>) -> Response {
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
                Err(_) => {
                    return (
                        StatusCode::SERVICE_UNAVAILABLE,
                        Json(serde_json::json!({"error": "unavailable"})),
                    )
                        .into_response();
                }
            }
            serde_json::json!({"live": false, "ready": false, "stream_id": null, "started_at": null, "playlist_url": null, "viewers": 0})
        }
    };
    ([(header::CACHE_CONTROL, "no-cache")], Json(body)).into_response()
}

fn db_unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CACHE_CONTROL, "no-cache")],
        Json(serde_json::json!({"error": "unavailable", "message": "database unavailable"})),
    )
        .into_response()
}

/// `GET /vods?channel=NAME&before=ID&limit=N`: published VODs, newest first.
async fn vods(State(s): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let mut channel = None;
    let mut before = None;
    let mut limit = 20i64;
    for pair in query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "channel" => channel = Some(v.to_string()),
            "before" => match v.parse() {
                Ok(b) => before = Some(b),
                Err(_) => return bad_request(format!("before={v}: not a VOD id")),
            },
            "limit" => match v.parse::<i64>() {
                Ok(n) if (1..=100).contains(&n) => limit = n,
                _ => return bad_request(format!("limit={v}: must be 1 to 100")),
            },
            _ => {}
        }
    }
    let channel_id = match channel {
        None => None,
        Some(name) => match s.db.channel(&name).await {
            Ok(Some(c)) => Some(c.id),
            Ok(None) => return not_found("channel"),
            Err(_) => return db_unavailable(),
        },
    };
    match s.db.vods(channel_id, before, limit).await {
        Ok(list) => {
            let next = (list.len() as i64 == limit)
                .then(|| list.last().map(|v| v.id))
                .flatten();
            (
                [(header::CACHE_CONTROL, "public, max-age=5")],
                Json(serde_json::json!({
                    "vods": list.iter().map(stage_core::db::Vod::public_json).collect::<Vec<_>>(),
                    "next_before": next,
                })),
            )
                .into_response()
        }
        Err(_) => db_unavailable(),
    }
}

async fn published_vod(s: &AppState, id: &str) -> Result<stage_core::db::Vod, Response> {
    let Ok(id) = id.parse::<i64>() else {
        return Err(not_found("VOD"));
    };
    match s.db.vod(id).await {
        Ok(Some(v)) if v.published => Ok(v),
        Ok(_) => Err(not_found("VOD")),
        Err(_) => Err(db_unavailable()),
    }
}

/// `GET /vods/{id}`.
async fn vod(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    match published_vod(&s, &id).await {
        Ok(v) => {
            let j = v.public_json();
            ([(header::CACHE_CONTROL, "public, max-age=5")], Json(j)).into_response()
        }
        Err(r) => r,
    }
}

/// An object of a VOD from the recording store; a members-only stream's
/// VOD needs a playback token for its channel, like the live stream.
async fn vod_object(s: &AppState, id: &str, path: &str, query: Option<&str>) -> Response {
    let v = match published_vod(s, id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let token = match gate(s, v.members_only, &v.channel, query) {
        Ok(t) => t,
        Err(r) => return r.into_response(),
    };
    let Some(rec) = &s.recorder else {
        return not_found("recording");
    };
    let res = recording_object(rec, &format!("{}/{path}", v.prefix)).await;
    let Some(t) = token else {
        return res;
    };
    if !path.ends_with(".m3u8") || !res.status().is_success() {
        return private(res, access::PRIVATE_MEDIA);
    }
    let body = match axum::body::to_bytes(res.into_body(), 16 << 20).await {
        Ok(b) => b,
        Err(_) => return unavailable("recording unreadable"),
    };
    (
        [
            (header::CONTENT_TYPE, PLAYLIST_TYPE),
            (header::CACHE_CONTROL, access::PRIVATE_PLAYLIST),
        ],
        access::rewrite_hls(&String::from_utf8_lossy(&body), t),
    )
        .into_response()
}

/// An object of a recording (a VOD's, or a live stream's DVR window), with
/// its content type and cache policy.
async fn recording_object(rec: &crate::recorder::Recorder, key: &str) -> Response {
    let data = match rec.get(key).await {
        Ok(Some(b)) => b,
        Ok(None) => return not_found("file"),
        Err(e) => {
            tracing::warn!(object = %key, cause = %e, "cannot read a recording");
            return unavailable("recording unreadable");
        }
    };
    let path = key;
    let ctype = if path.ends_with(".m3u8") {
        PLAYLIST_TYPE
    } else if path.ends_with(".jpg") {
        "image/jpeg"
    } else if path.ends_with(".mp4") {
        "video/mp4"
    } else {
        "video/iso.segment"
    };
    // Playlists may be rewritten (a re-finalised recording); media never.
    let cache = if path.ends_with(".m3u8") {
        "public, max-age=60"
    } else {
        SEGMENT_CACHE
    };
    (
        [
            (header::CONTENT_TYPE, ctype),
            (header::CACHE_CONTROL, cache),
        ],
        data,
    )
        .into_response()
}

async fn vod_thumbnail(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    match published_vod(&s, &id).await {
        // Posters stay public (listings show them), members-only or not.
        Ok(v) if !v.thumbnail.is_empty() => match &s.recorder {
            Some(rec) => recording_object(rec, &format!("{}/{}", v.prefix, v.thumbnail)).await,
            None => not_found("recording"),
        },
        Ok(_) => not_found("thumbnail"),
        Err(r) => r,
    }
}

async fn vod_multivariant(
    State(s): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    vod_object(&s, &id, "index.m3u8", query.as_deref()).await
}

async fn vod_file(
    State(s): State<AppState>,
    Path((id, rendition, file)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let safe = |x: &str| {
        !x.is_empty()
            && !x.starts_with('.')
            && x.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    if !safe(&rendition) || !safe(&file) {
        return not_found("file");
    }
    vod_object(&s, &id, &format!("{rendition}/{file}"), query.as_deref()).await
}

async fn thumbnail(State(s): State<AppState>, Path(channel): Path<String>) -> Response {
    let jpeg = s
        .registry
        .get(&channel)
        .filter(|h| !h.snapshot.borrow().ended)
        .and_then(|h| h.thumbnail.lock().ok().and_then(|t| t.clone()));
    match jpeg {
        Some(j) => (
            [
                (header::CONTENT_TYPE, "image/jpeg"),
                (header::CACHE_CONTROL, "public, max-age=5"),
            ],
            j,
        )
            .into_response(),
        None => not_found("thumbnail (no live stream)"),
    }
}

async fn watch_page(State(s): State<AppState>, Path(_channel): Path<String>) -> Response {
    // The page reads the channel (or, at /vod/{id}, the VOD) from its own
    // URL; nothing user-supplied is templated into the HTML.
    web::serve(s.web_dir.as_deref(), "watch.html")
}

async fn static_file(State(s): State<AppState>, Path(file): Path<String>) -> Response {
    web::serve(s.web_dir.as_deref(), &file)
}
