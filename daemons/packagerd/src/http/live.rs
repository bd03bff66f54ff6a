//! Live HLS and DASH from memory: playlists (blocking reloads, delta
//! updates), parts and segments, the DVR window from the recording, the
//! live thumbnail.

use super::vod::recording_object;
use super::{
    AppState, PLAYLIST_CACHE, PLAYLIST_TYPE, SEGMENT_CACHE, bad_request, gate, not_found, private,
    unavailable,
};
use crate::access;
use crate::registry::{Snapshot, StreamHandle};
use crate::viewers::{SESSION_HEADER, ViewerKey};
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use stage_media::hls::render_multivariant_with;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub(super) async fn multivariant(
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
        (Some(_), Some(t)) => (
            [
                (header::CONTENT_TYPE, PLAYLIST_TYPE),
                (header::CACHE_CONTROL, access::PRIVATE_PLAYLIST),
            ],
            render_multivariant_with(&snap.variants, &access::query(t)),
        )
            .into_response(),
        (None, _) => not_found("playlist (stream starting)"),
    }
}

/// The DASH manifest (dynamic; players reload it every second).
pub(super) async fn mpd(
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
        (Some(_), Some(t)) => (
            [
                (header::CONTENT_TYPE, "application/dash+xml"),
                (header::CACHE_CONTROL, access::PRIVATE_PLAYLIST),
            ],
            snap.mpd_model
                .as_ref()
                .map(|m| m.render_with(&access::query(t)))
                .unwrap_or_default(),
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
pub(super) const ADVANCE_PART_LIMIT: u64 = 3;
/// Header on parts, segments and playlists: Unix ms when the (newest) part
/// was complete, for latency measurements.
pub const COMPLETED_AT: &str = "stage-completed-at";

/// Whether a blocking request asks for more than the spec lets a server
/// wait for: a segment past the next two, or parts past the advance limit.
pub(super) fn too_far_ahead(snap: &Snapshot, msn: u64, part: Option<u64>) -> bool {
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
pub(super) async fn wait_for(
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
pub(super) fn touch(s: &AppState, h: &StreamHandle, headers: &HeaderMap, addr: SocketAddr) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let who = ViewerKey::from_request(
        header(SESSION_HEADER),
        Some(addr.ip()),
        header("user-agent").unwrap_or(""),
    );
    s.viewers
        .touch(h.info.stream_id, who, stage_core::time::now_ms());
}

pub(super) async fn media_playlist(
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
    let body = match (token, &snap.playlist) {
        // A members-only viewer's: rendered with the token on every URI.
        (Some(t), Some(playlist)) => {
            let query = access::query(t);
            let delta = q.skip.then(|| playlist.render_delta_with(&query)).flatten();
            Bytes::from(delta.unwrap_or_else(|| playlist.render_with(&query)))
        }
        _ => match (&snap.delta_playlist, q.skip) {
            (Some(delta), true) => delta.clone(),
            _ => snap.media_playlist(),
        },
    };
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
pub(super) async fn dvr_file(
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

pub(super) async fn media_file(
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

pub(super) async fn media_file_inner(
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

pub(super) async fn thumbnail(State(s): State<AppState>, Path(channel): Path<String>) -> Response {
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
