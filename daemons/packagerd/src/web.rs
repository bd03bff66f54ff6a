//! The static player page. Built into the binary (hls.js from npm is copied
//! in by build.rs when `npm ci` has run), or served from `packagerd.web_dir`.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const WATCH_HTML: &str = include_str!("../../../web/watch.html");
const PLAYER_JS: &str = include_str!("../../../web/player.js");
const LATENCY_JS: &str = include_str!("../../../web/latency.js");
const INDEX_HTML: &str = include_str!("../../../web/index.html");
const CARDS_JS: &str = include_str!("../../../web/cards.js");
const PLAYER_CSS: &str = include_str!("../../../web/player.css");
const CHAT_JS: &str = include_str!("../../../web/chat.js");
const MEMBERS_JS: &str = include_str!("../../../web/members.js");
const HLS_JS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/hls.min.js"));

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn builtin(name: &str) -> Option<&'static [u8]> {
    Some(match name {
        "watch.html" => WATCH_HTML.as_bytes(),
        "player.js" => PLAYER_JS.as_bytes(),
        "latency.js" => LATENCY_JS.as_bytes(),
        "player.css" => PLAYER_CSS.as_bytes(),
        "index.html" => INDEX_HTML.as_bytes(),
        "cards.js" => CARDS_JS.as_bytes(),
        "chat.js" => CHAT_JS.as_bytes(),
        "members.js" => MEMBERS_JS.as_bytes(),
        "hls.min.js" => HLS_JS,
        _ => return None,
    })
}

/// Serves one asset by name.
pub fn serve(dir: Option<&std::path::Path>, name: &str) -> Response {
    if builtin(name).is_none() {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    let body: Vec<u8> = match dir.map(|d| std::fs::read(d.join(name))) {
        Some(Ok(b)) => b,
        _ => builtin(name).unwrap_or_default().to_vec(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type(name)),
            (header::CACHE_CONTROL, "public, max-age=60"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}
