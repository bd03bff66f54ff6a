//! Members-only streams: every playlist, segment and part (live, DVR and
//! VOD) needs a playback token (billingd issues them to members; short-lived,
//! signed, bound to the channel). The token travels in the query string, and
//! the playlists served with it carry it on every URI they list, so a player
//! needs nothing beyond the first URL. Such responses are `private`: no
//! shared cache (CDN) may serve them to someone else.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use stage_core::tokens::Signer;

/// Cache policy of members-only playlists.
pub const PRIVATE_PLAYLIST: &str = "private, no-cache";
/// Cache policy of members-only media (immutable, but only for this viewer).
pub const PRIVATE_MEDIA: &str = "private, max-age=600";

/// The `token` parameter of a query string.
pub fn token_param(query: Option<&str>) -> Option<&str> {
    query?
        .split('&')
        .find_map(|p| p.strip_prefix("token="))
        .filter(|t| !t.is_empty())
}

/// A refused request: 403 with the reason.
#[derive(Debug)]
pub struct Denied(String);

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        let mut res = stage_core::http::error(StatusCode::FORBIDDEN, "members_only", self.0);
        res.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("private, no-store"),
        );
        res
    }
}

fn refuse(message: &str) -> Denied {
    Denied(message.to_string())
}

/// Checks the request's playback token for `channel`; returns the token to
/// carry on in rewritten playlists.
pub fn check<'q>(
    signer: &Signer,
    query: Option<&'q str>,
    channel: &str,
    now_s: i64,
) -> Result<&'q str, Denied> {
    let Some(token) = token_param(query) else {
        return Err(refuse("members only: a playback token is required"));
    };
    match signer.verify(token, "play", now_s) {
        Ok(c) if c.channel == channel => Ok(token),
        Ok(_) => Err(refuse("the playback token is for another channel")),
        Err(e) => Err(refuse(&format!("playback token refused: {e}"))),
    }
}

/// The query a playlist rendered for a members-only viewer puts on every
/// URI it lists (live playlists and manifests are rendered with it:
/// `MediaPlaylist::render_with`, `Mpd::render_with`).
pub fn query(token: &str) -> String {
    format!("token={token}")
}

fn with_token(uri: &str, token: &str) -> String {
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}token={token}")
}

/// `body` (an HLS playlist) with `token` added to every URI: URI lines and
/// `URI="…"` attributes (maps, parts, preload hints, rendition reports,
/// media). Tokens are base64url and a dot, so they need no escaping. Only
/// for a VOD's playlists, which are read back from the store as text (live
/// ones are rendered with the token instead).
pub fn rewrite_hls(body: &str, token: &str) -> String {
    let mut out = String::with_capacity(body.len() + 64 * token.len());
    for line in body.split_inclusive('\n') {
        let (text, nl) = match line.strip_suffix('\n') {
            Some(t) => (t, "\n"),
            None => (line, ""),
        };
        if text.is_empty() {
            out.push_str(line);
        } else if text.starts_with('#') {
            out.push_str(&rewrite_attr(text, "URI=\"", token));
            out.push_str(nl);
        } else {
            out.push_str(&with_token(text, token));
            out.push_str(nl);
        }
    }
    out
}

/// Adds `token` inside every `key…"` value of `text`.
fn rewrite_attr(text: &str, key: &str, token: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(key) {
        let start = i + key.len();
        let Some(len) = rest[start..].find('"') else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push_str(&with_token(&rest[start..start + len], token));
        rest = &rest[start + len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use stage_core::tokens::Claims;

    #[test]
    fn every_uri_of_a_playlist_carries_the_token() {
        let pl = "#EXTM3U\n#EXT-X-MAP:URI=\"s1-init-0.mp4\"\n\
            #EXT-X-PART:DURATION=0.5,URI=\"s1-3.0.m4s\",INDEPENDENT=YES\n\
            #EXTINF:2.0,\ns1-3.m4s\n\
            #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"s1-4.1.m4s\"\n\
            #EXT-X-RENDITION-REPORT:URI=\"../360p/index.m3u8\",LAST-MSN=4\n\
            360p/index.m3u8?x=1\n";
        let out = rewrite_hls(pl, "T.k");
        assert_eq!(
            out,
            "#EXTM3U\n#EXT-X-MAP:URI=\"s1-init-0.mp4?token=T.k\"\n\
            #EXT-X-PART:DURATION=0.5,URI=\"s1-3.0.m4s?token=T.k\",INDEPENDENT=YES\n\
            #EXTINF:2.0,\ns1-3.m4s?token=T.k\n\
            #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"s1-4.1.m4s?token=T.k\"\n\
            #EXT-X-RENDITION-REPORT:URI=\"../360p/index.m3u8?token=T.k\",LAST-MSN=4\n\
            360p/index.m3u8?x=1&token=T.k\n"
        );
    }

    #[test]
    fn only_a_valid_unexpired_token_for_this_channel_passes() {
        let signer = Signer::new(b"0123456789abcdef0123456789abcdef");
        let make = |kind: &str, channel: &str, exp: i64| {
            signer.sign(&Claims {
                kind: kind.into(),
                sub: 7,
                name: "ana".into(),
                role: "member".into(),
                exp,
                channel: channel.into(),
            })
        };
        let good = make("play", "demo", 2000);
        let q = format!("_HLS_msn=3&token={good}");
        assert_eq!(
            check(&signer, Some(&q), "demo", 1000).ok(),
            Some(good.as_str())
        );
        let refused = |q: String| {
            check(&signer, Some(&q), "demo", 1000)
                .unwrap_err()
                .into_response()
                .status()
        };
        assert_eq!(refused(String::new()), StatusCode::FORBIDDEN);
        assert_eq!(
            refused(format!("token={}", make("play", "demo", 999))),
            StatusCode::FORBIDDEN,
            "expired"
        );
        assert_eq!(
            refused(format!("token={}", make("play", "other", 2000))),
            StatusCode::FORBIDDEN,
            "another channel"
        );
        assert_eq!(
            refused(format!("token={}", make("login", "demo", 2000))),
            StatusCode::FORBIDDEN,
            "a login token is not a playback token"
        );
        let mut tampered = good.clone().into_bytes();
        tampered[3] ^= 1;
        assert_eq!(
            refused(format!("token={}", String::from_utf8(tampered).unwrap())),
            StatusCode::FORBIDDEN,
            "tampered"
        );
    }
}
