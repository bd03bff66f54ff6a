//! Viewer counting: every playlist, part and segment request of a stream
//! touches a playback session. The player page sends a random session id in
//! `X-Playback-Session-Id` (the header Apple's players send too); a client
//! without one is told apart by address + user agent. A session that makes
//! no request for 30 s has left.
//!
//! The request path only updates memory; a task flushes once a second:
//! sessions that started or left go to `viewer_sessions`, a new peak to
//! `streams.peak_viewers`. Behind a CDN only cache misses reach packagerd, so
//! counts there are a lower bound (the CDN's logs have the rest).

use sha2::{Digest, Sha256};
use stage_core::Db;
use stage_core::db::NewViewerSession;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The request header carrying the player's session id.
pub const SESSION_HEADER: &str = "x-playback-session-id";
/// A session with no request for this long has left.
pub const WINDOW_MS: i64 = 30_000;
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Who is asking, as the request tells it.
#[derive(Debug, Clone)]
pub struct ViewerKey {
    /// SHA-256 (hex, first 32 chars) of the session id or address + agent.
    pub key: String,
    pub identified: bool,
    pub user_agent: String,
}

impl ViewerKey {
    /// From the session header if it looks like one (8–128 visible ASCII
    /// characters), else from the address and user agent.
    pub fn from_request(session: Option<&str>, addr: Option<IpAddr>, user_agent: &str) -> Self {
        let ua: String = user_agent.chars().take(200).collect();
        let session = session
            .filter(|s| (8..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic()));
        let (material, identified) = match session {
            Some(s) => (format!("id:{s}"), true),
            None => (
                format!(
                    "addr:{}|{ua}",
                    addr.map(|a| a.to_string()).unwrap_or_default()
                ),
                false,
            ),
        };
        let digest = Sha256::digest(material.as_bytes());
        ViewerKey {
            key: hex::encode(&digest[..16]),
            identified,
            user_agent: ua,
        }
    }
}

#[derive(Debug)]
struct Session {
    identified: bool,
    user_agent: String,
    joined_ms: i64,
    last_ms: i64,
    /// Row id once recorded.
    row: Option<i64>,
}

#[derive(Debug, Default)]
struct StreamViewers {
    sessions: HashMap<String, Session>,
    peak: u64,
    peak_written: u64,
}

/// Live viewer sessions of every stream in this packagerd.
#[derive(Default)]
pub struct Viewers {
    streams: Mutex<HashMap<i64, StreamViewers>>,
}

impl Viewers {
    pub fn new() -> Arc<Viewers> {
        Arc::new(Viewers::default())
    }

    /// Notes a request of `stream_id` by `who` at `now_ms`.
    pub fn touch(&self, stream_id: i64, who: ViewerKey, now_ms: i64) {
        let mut map = match self.streams.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        let sv = map.entry(stream_id).or_default();
        match sv.sessions.get_mut(&who.key) {
            Some(s) => s.last_ms = s.last_ms.max(now_ms),
            None => {
                sv.sessions.insert(
                    who.key,
                    Session {
                        identified: who.identified,
                        user_agent: who.user_agent,
                        joined_ms: now_ms,
                        last_ms: now_ms,
                        row: None,
                    },
                );
                sv.peak = sv.peak.max(sv.sessions.len() as u64);
            }
        }
    }

    /// Current viewers of a stream.
    pub fn count(&self, stream_id: i64) -> u64 {
        self.streams
            .lock()
            .map(|m| m.get(&stream_id).map_or(0, |s| s.sessions.len() as u64))
            .unwrap_or(0)
    }

    /// Peak concurrent viewers of a stream seen by this packagerd.
    pub fn peak(&self, stream_id: i64) -> u64 {
        self.streams
            .lock()
            .map(|m| m.get(&stream_id).map_or(0, |s| s.peak))
            .unwrap_or(0)
    }

    /// One flush: expires idle sessions (all of them when `closing`) and
    /// returns what the database must learn.
    fn collect(&self, now_ms: i64, closing: bool) -> Flush {
        let mut f = Flush::default();
        let mut map = match self.streams.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        for (stream_id, sv) in map.iter_mut() {
            let mut gone = Vec::new();
            for (key, s) in sv.sessions.iter() {
                let left = closing || now_ms - s.last_ms > WINDOW_MS;
                if s.row.is_none() {
                    f.open.push((
                        *stream_id,
                        key.clone(),
                        NewViewerSession {
                            stream_id: *stream_id,
                            session_key: key.clone(),
                            identified: s.identified,
                            user_agent: s.user_agent.clone(),
                            joined_at: s.joined_ms,
                        },
                    ));
                }
                if left {
                    gone.push(key.clone());
                }
            }
            for key in gone {
                if let Some(s) = sv.sessions.remove(&key) {
                    f.close.push(Closing {
                        stream_id: *stream_id,
                        key,
                        row: s.row,
                        left_ms: s.last_ms,
                        watch_ms: s.last_ms - s.joined_ms,
                    });
                }
            }
            if sv.peak > sv.peak_written {
                f.peaks.push((*stream_id, sv.peak));
                sv.peak_written = sv.peak;
            }
        }
        map.retain(|_, sv| !sv.sessions.is_empty() || sv.peak > sv.peak_written);
        f
    }

    fn set_rows(&self, rows: &[(i64, String, i64)]) {
        if let Ok(mut map) = self.streams.lock() {
            for (stream_id, key, row) in rows {
                if let Some(s) = map
                    .get_mut(stream_id)
                    .and_then(|sv| sv.sessions.get_mut(key))
                {
                    s.row = Some(*row);
                }
            }
        }
    }

    /// Writes one flush to the database.
    async fn write(&self, db: &Db, f: Flush) -> anyhow::Result<()> {
        let new: Vec<NewViewerSession> = f.open.iter().map(|o| o.2.clone()).collect();
        let ids = if new.is_empty() {
            Vec::new()
        } else {
            db.open_viewer_sessions(&new).await?
        };
        let rows: Vec<(i64, String, i64)> = f
            .open
            .iter()
            .zip(ids)
            .map(|((stream, key, _), id)| (*stream, key.clone(), id))
            .collect();
        self.set_rows(&rows);
        // A session that left before its row was written gets it now.
        let closed: Vec<(i64, i64, i64)> = f
            .close
            .iter()
            .filter_map(|c| {
                let row = c.row.or_else(|| {
                    rows.iter()
                        .find(|(s, k, _)| *s == c.stream_id && *k == c.key)
                        .map(|r| r.2)
                })?;
                Some((row, c.left_ms, c.watch_ms))
            })
            .collect();
        if !closed.is_empty() {
            db.close_viewer_sessions(&closed).await?;
        }
        for (stream_id, peak) in f.peaks {
            db.raise_peak_viewers(stream_id, peak as i64).await?;
        }
        Ok(())
    }

    /// Flushes every second until `stop`, then closes every session.
    pub async fn run(self: Arc<Self>, db: Db, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stage_core::telemetry::stopped(&mut stop) => break,
            }
            let f = self.collect(stage_core::time::now_ms(), false);
            if let Err(e) = self.write(&db, f).await {
                tracing::warn!(cause = %e, "recording viewer sessions failed; will retry");
            }
        }
        let f = self.collect(stage_core::time::now_ms(), true);
        if let Err(e) = self.write(&db, f).await {
            tracing::warn!(cause = %e, "recording viewer sessions at shutdown failed");
        }
    }
}

struct Closing {
    stream_id: i64,
    key: String,
    row: Option<i64>,
    left_ms: i64,
    watch_ms: i64,
}

#[derive(Default)]
struct Flush {
    open: Vec<(i64, String, NewViewerSession)>,
    close: Vec<Closing>,
    peaks: Vec<(i64, u64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(id: &str) -> ViewerKey {
        ViewerKey::from_request(Some(id), None, "test")
    }

    #[test]
    fn keys_come_from_the_session_id_or_address_and_agent() {
        let a = ViewerKey::from_request(Some("0123456789abcdef"), None, "UA");
        assert!(a.identified);
        assert_eq!(a.key.len(), 32);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let b = ViewerKey::from_request(Some("short"), Some(ip), "UA");
        assert!(!b.identified);
        let c = ViewerKey::from_request(None, Some(ip), "UA");
        assert_eq!(b.key, c.key);
        let d = ViewerKey::from_request(None, Some(ip), "Other");
        assert_ne!(c.key, d.key);
        assert!(!c.key.contains("192"));
    }

    #[test]
    fn sessions_count_until_idle_for_the_window_and_peak_is_kept() {
        let v = Viewers::default();
        v.touch(1, who("viewer-aaaaaaaa"), 1_000);
        v.touch(1, who("viewer-bbbbbbbb"), 1_000);
        v.touch(1, who("viewer-aaaaaaaa"), 20_000);
        assert_eq!(v.count(1), 2);
        let f = v.collect(25_000, false);
        assert_eq!(f.open.len(), 2);
        assert!(f.close.is_empty());
        assert_eq!(f.peaks, vec![(1, 2)]);
        // b's last request was at 1 s: gone after 31 s; a stays until 50 s.
        let f = v.collect(31_001, false);
        assert_eq!(f.close.len(), 1);
        assert_eq!(f.close[0].watch_ms, 0);
        assert_eq!(v.count(1), 1);
        assert_eq!(v.peak(1), 2);
        let f = v.collect(60_000, false);
        assert_eq!(f.close.len(), 1);
        assert_eq!(f.close[0].watch_ms, 19_000);
        assert_eq!(v.count(1), 0);
    }
}
