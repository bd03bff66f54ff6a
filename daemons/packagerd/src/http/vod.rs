//! Recordings as VODs: the list, one VOD, its playlists and objects from
//! the store.

use super::{
    AppState, PLAYLIST_TYPE, SEGMENT_CACHE, bad_request, db_unavailable, gate, not_found, private,
    unavailable,
};
use crate::access;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

/// `GET /vods?channel=NAME&before=ID&limit=N`: published VODs, newest first.
pub(super) async fn vods(State(s): State<AppState>, RawQuery(query): RawQuery) -> Response {
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

pub(super) async fn published_vod(s: &AppState, id: &str) -> Result<stage_core::db::Vod, Response> {
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
pub(super) async fn vod(State(s): State<AppState>, Path(id): Path<String>) -> Response {
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
pub(super) async fn vod_object(
    s: &AppState,
    id: &str,
    path: &str,
    query: Option<&str>,
) -> Response {
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
pub(super) async fn recording_object(rec: &crate::recorder::Recorder, key: &str) -> Response {
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

pub(super) async fn vod_thumbnail(State(s): State<AppState>, Path(id): Path<String>) -> Response {
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

pub(super) async fn vod_multivariant(
    State(s): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    vod_object(&s, &id, "index.m3u8", query.as_deref()).await
}

pub(super) async fn vod_file(
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
