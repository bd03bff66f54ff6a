//! packagerd's HTTP surface through `router()` + `oneshot`: no socket. A
//! stream is attached to the registry and fed synthetic access units as
//! the media link would; the requests are what a player sends.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use bytes::Bytes;
use packagerd::http::{AppState, router};
use packagerd::registry::{Input, Registry, Settings, StreamHandle};
use stage_core::tokens::{Claims, Signer};
use stage_media::link::{LinkMessage, StreamInfo, VERSION};
use stage_media::testdata::{ASC_48K_STEREO, AVCC_720P, grid};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

struct World {
    state: AppState,
    _db_dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let db = stage_core::Db::connect(&url, 2, Duration::from_secs(5))
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let registry = Registry::new(Settings {
        target_ms: 2000,
        part_target_ms: 200,
        window: 6,
        ladders: BTreeMap::new(),
        thumbnail_interval_ms: 3_600_000,
        dvr_ms: 0,
        recorder: None,
    });
    World {
        state: AppState {
            registry,
            viewers: packagerd::viewers::Viewers::new(),
            db,
            cors: None,
            web_dir: None,
            recorder: None,
            chat_url: "http://127.0.0.1:1".into(),
            auth_url: "http://127.0.0.1:1".into(),
            signer: Signer::new(SECRET),
        },
        _db_dir: dir,
    }
}

/// Attaches channel `c` (stream 9) and feeds it `ms` of media from 0.
async fn stream(w: &World, members_only: bool, ms: i64) -> Arc<StreamHandle> {
    let h = w.state.registry.attach(StreamInfo {
        version: VERSION,
        stream_id: 9,
        channel: "c".into(),
        title: "t".into(),
        started_at_ms: stage_core::time::now_ms(),
        members_only,
        resumed: false,
        ladder: String::new(),
        record: false,
    });
    for m in [
        LinkMessage::VideoConfig(Bytes::from_static(AVCC_720P)),
        LinkMessage::AudioConfig(Bytes::from_static(ASC_48K_STEREO)),
    ] {
        h.tx.send(Input::Media(m)).await.unwrap();
    }
    feed(&h, 0, ms).await;
    h
}

/// Media for [from, from + ms), then waits until the playlist shows it.
async fn feed(h: &StreamHandle, from: i64, ms: i64) {
    for m in grid(from, ms, 60) {
        h.tx.send(Input::Media(m)).await.unwrap();
    }
    let mut snap = h.snapshot.clone();
    // Complete segments of 2 s; the last one stays open.
    let want = ((from + ms) / 2000).saturating_sub(1) as usize;
    tokio::time::timeout(
        Duration::from_secs(10),
        snap.wait_for(|s| s.segment_count > want),
    )
    .await
    .expect("the stream task packaged what it was fed")
    .unwrap();
}

struct Got {
    status: StatusCode,
    cache: String,
    body: String,
}

async fn get(w: &World, uri: &str) -> Got {
    let mut req = Request::get(uri).body(Body::empty()).unwrap();
    let peer: SocketAddr = "127.0.0.1:50000".parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(peer));
    let res = router(w.state.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let cache = res
        .headers()
        .get(header::CACHE_CONTROL)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 24)
        .await
        .unwrap();
    Got {
        status,
        cache,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn token(channel: &str, exp: i64) -> String {
    Signer::new(SECRET).sign(&Claims {
        kind: "play".into(),
        sub: 1,
        name: "ana".into(),
        role: "viewer".into(),
        exp,
        channel: channel.into(),
    })
}

/// Every URI a playlist lists: URI lines and `URI="…"` attributes.
fn uris(playlist: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in playlist.lines() {
        if line.is_empty() {
            continue;
        }
        if !line.starts_with('#') {
            out.push(line.to_string());
        }
        let mut rest = line;
        while let Some(i) = rest.find("URI=\"") {
            let from = &rest[i + 5..];
            let end = from.find('"').unwrap();
            out.push(from[..end].to_string());
            rest = &from[end..];
        }
    }
    out
}

#[tokio::test]
async fn a_live_playlist_lists_parts_and_its_media_is_immutable() {
    let w = world().await;
    stream(&w, false, 6_500).await;
    let multi = get(&w, "/hls/c/index.m3u8").await;
    assert_eq!(multi.status, StatusCode::OK);
    assert!(multi.body.contains("source/index.m3u8"), "{}", multi.body);
    let pl = get(&w, "/hls/c/source/index.m3u8").await;
    assert_eq!(pl.status, StatusCode::OK);
    assert_eq!(pl.cache, "public, max-age=0, s-maxage=1");
    assert!(pl.body.contains("#EXT-X-PART:"), "{}", pl.body);
    assert!(pl.body.contains("#EXT-X-PRELOAD-HINT:"), "{}", pl.body);
    let segment = uris(&pl.body)
        .into_iter()
        .find(|u| !u.contains("-p") && u.ends_with(".m4s"))
        .expect("a segment URI");
    let seg = get(&w, &format!("/hls/c/source/{segment}")).await;
    assert_eq!(seg.status, StatusCode::OK, "{segment}");
    assert_eq!(seg.cache, "public, max-age=31536000, immutable");
    let gone = get(&w, "/hls/c/source/s9-999.m4s").await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let nobody = get(&w, "/hls/nobody/source/index.m3u8").await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
    assert_eq!(nobody.cache, "no-cache");
}

#[tokio::test]
async fn a_blocking_reload_answers_when_its_part_exists() {
    let w = world().await;
    let h = stream(&w, false, 4_500).await;
    let (msn, parts) = {
        let s = h.snapshot.borrow();
        (s.open_msn, s.open_parts)
    };
    let uri = format!("/hls/c/source/index.m3u8?_HLS_msn={msn}&_HLS_part={parts}");
    let waiting = tokio::spawn({
        let w_state = w.state.clone();
        async move {
            let mut req = Request::get(uri).body(Body::empty()).unwrap();
            req.extensions_mut().insert(ConnectInfo(
                "127.0.0.1:50001".parse::<SocketAddr>().unwrap(),
            ));
            router(w_state).oneshot(req).await.unwrap()
        }
    });
    // Not answered before the part is there.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiting.is_finished(), "answered before its part existed");
    feed(&h, 4_500, 1_000).await;
    let res = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the reload was answered")
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = axum::body::to_bytes(res.into_body(), 1 << 24)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&body);
    let listed = text
        .lines()
        .filter(|l| l.starts_with("#EXT-X-PART:"))
        .count();
    assert!(listed > 0, "{text}");
    // Asking far past the live edge is refused at once.
    let far = get(
        &w,
        &format!("/hls/c/source/index.m3u8?_HLS_msn={}", msn + 5),
    )
    .await;
    assert_eq!(far.status, StatusCode::BAD_REQUEST, "{}", far.body);
}

#[tokio::test]
async fn members_only_media_needs_a_token_for_its_channel_and_stays_private() {
    let w = world().await;
    stream(&w, true, 4_500).await;
    let now = stage_core::tokens::now_s();
    for (uri, why) in [
        ("/hls/c/source/index.m3u8".to_string(), "no token"),
        (
            format!(
                "/hls/c/source/index.m3u8?token={}",
                token("other", now + 600)
            ),
            "another channel",
        ),
        (
            format!("/hls/c/source/index.m3u8?token={}", token("c", now - 10)),
            "expired",
        ),
        (
            format!("/hls/c/index.m3u8?token={}x", token("c", now + 600)),
            "forged",
        ),
    ] {
        let r = get(&w, &uri).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{why}: {}", r.body);
        assert_eq!(r.cache, "private, no-store", "{why}");
        assert!(r.body.contains("members_only"), "{why}: {}", r.body);
    }
    let t = token("c", now + 600);
    let pl = get(&w, &format!("/hls/c/source/index.m3u8?token={t}")).await;
    assert_eq!(pl.status, StatusCode::OK);
    assert_eq!(pl.cache, "private, no-cache");
    let listed = uris(&pl.body);
    assert!(listed.len() > 5, "{}", pl.body);
    for u in &listed {
        assert!(u.ends_with(&format!("token={t}")), "{u} lacks the token");
    }
    let part = listed
        .iter()
        .find(|u| u.contains("-p"))
        .expect("a part URI");
    let media = get(&w, &format!("/hls/c/source/{part}")).await;
    assert_eq!(media.status, StatusCode::OK, "{part}");
    assert_eq!(media.cache, "private, max-age=600");
    let bare = part.split('?').next().unwrap();
    let refused = get(&w, &format!("/hls/c/source/{bare}")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn every_refusal_is_one_error_body_and_never_cached() {
    let w = world().await;
    stream(&w, true, 2_500).await;
    for (uri, status, code) in [
        ("/hls/nobody/index.m3u8", StatusCode::NOT_FOUND, "not_found"),
        ("/channels/nobody", StatusCode::NOT_FOUND, "not_found"),
        ("/vods/12345", StatusCode::NOT_FOUND, "not_found"),
        (
            "/hls/c/source/index.m3u8?_HLS_part=1",
            StatusCode::FORBIDDEN,
            "members_only",
        ),
    ] {
        let r = get(&w, uri).await;
        assert_eq!(r.status, status, "{uri}: {}", r.body);
        let e: stage_core::api::ErrorBody =
            serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{uri}: {e}: {}", r.body));
        assert_eq!(e.code, code, "{uri}");
        assert!(!e.message.is_empty(), "{uri}");
        assert!(
            r.cache == "no-cache" || r.cache == "private, no-store",
            "{uri}: {}",
            r.cache
        );
    }
    // A public stream's bad blocking-reload query: 400 in the same shape.
    let h = w.state.registry.attach(StreamInfo {
        version: VERSION,
        stream_id: 10,
        channel: "open".into(),
        title: "t".into(),
        started_at_ms: stage_core::time::now_ms(),
        members_only: false,
        resumed: false,
        ladder: String::new(),
        record: false,
    });
    drop(h);
    let r = get(&w, "/hls/open/source/index.m3u8?_HLS_part=1").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let e: stage_core::api::ErrorBody = serde_json::from_str(&r.body).unwrap();
    assert_eq!(e.code, "bad_request");
    assert!(e.message.contains("_HLS_msn"), "{}", e.message);
}
