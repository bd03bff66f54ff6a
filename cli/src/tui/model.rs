//! What the dashboard shows, built from the daemons' /status documents.
//! Pure: the typed answers in, rows out. A figure whose daemon did not
//! answer is `None` (drawn as `-`), never a guess.

use stage_core::api::status::{
    self, BillingStatus, ChatStatus, IngestStatus, PackagerStatus, PackagerStream,
};
use stage_core::billing::TipSum;

/// One daemon's health.
#[derive(Debug, Clone, PartialEq)]
pub struct Daemon {
    pub name: &'static str,
    pub up: bool,
    /// Why it is down, or its version when up.
    pub detail: String,
}

/// One live stream, merged across the daemons.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamRow {
    pub channel: String,
    pub stream_id: i64,
    /// `live`, `grace` (publisher gone, waiting for it) or `ended`.
    pub state: String,
    pub uptime_s: u64,
    pub publisher: Option<String>,
    pub bitrate_bps: Option<u64>,
    pub fps: Option<f64>,
    pub keyframe_ms: Option<i64>,
    pub av_warnings: Option<u64>,
    pub frames_dropped: Option<u64>,
    pub reconnects: Option<u64>,
    pub renditions: Option<Vec<String>>,
    pub transcode_speed: Option<f64>,
    /// Rungs dropped or a transcoding error.
    pub transcode_note: Option<String>,
    pub latency_ms: Option<i64>,
    pub hls_viewers: Option<u64>,
    pub chat_viewers: Option<u64>,
    pub msgs_per_min: Option<u64>,
    pub tips_today: Option<String>,
}

/// Something that happened at ingest.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub at_ms: i64,
    pub channel: String,
    pub kind: String,
    pub detail: String,
}

/// Everything the dashboard knows at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fleet {
    pub daemons: Vec<Daemon>,
    pub streams: Vec<StreamRow>,
    pub events: Vec<Event>,
    /// All channels' tips since midnight UTC, e.g. `12.50 USD`.
    pub tips_today: Option<String>,
}

/// Each daemon's /status answer, or why there was none.
#[derive(Debug, Clone)]
pub struct Statuses {
    pub ingestd: Result<IngestStatus, String>,
    pub packagerd: Result<PackagerStatus, String>,
    pub chatd: Result<ChatStatus, String>,
    pub billingd: Result<BillingStatus, String>,
}

impl Statuses {
    /// Each daemon's version, or why it did not answer, in the order
    /// ingestd, packagerd, chatd, billingd.
    pub fn health(&self) -> [(&'static str, Result<&str, &str>); 4] {
        fn v<T>(r: &Result<T, String>, version: fn(&T) -> &str) -> Result<&str, &str> {
            r.as_ref().map(version).map_err(String::as_str)
        }
        [
            ("ingestd", v(&self.ingestd, |s| &s.version)),
            ("packagerd", v(&self.packagerd, |s| &s.version)),
            ("chatd", v(&self.chatd, |s| &s.version)),
            ("billingd", v(&self.billingd, |s| &s.version)),
        ]
    }
}

/// Sums of tips per currency, as text (`5.00 USD + 300 JPY`).
fn tips_text<'a>(tips: impl Iterator<Item = &'a TipSum>) -> String {
    let mut by: std::collections::BTreeMap<&str, i64> = Default::default();
    for t in tips {
        *by.entry(&t.currency).or_default() += t.amount_minor;
    }
    if by.is_empty() {
        return "0".into();
    }
    by.iter()
        .map(|(c, a)| stage_core::billing::format_amount(*a, c))
        .collect::<Vec<_>>()
        .join(" + ")
}

impl Fleet {
    /// Merges the daemons' answers.
    pub fn from_status(all: &Statuses) -> Fleet {
        let daemons = all
            .health()
            .into_iter()
            .map(|(name, r)| Daemon {
                name,
                up: r.is_ok(),
                detail: r.unwrap_or_else(|e| e).to_string(),
            })
            .collect();
        let packager: &[PackagerStream] = all.packagerd.as_ref().map_or(&[], |p| &p.streams);
        let tips: Option<&[TipSum]> = all
            .billingd
            .as_ref()
            .ok()
            .map(|b| b.tips_today.as_deref().unwrap_or_default());

        let mut streams: Vec<StreamRow> = Vec::new();
        for s in all.ingestd.iter().flat_map(|i| &i.streams) {
            streams.push(StreamRow {
                stream_id: s.stream_id,
                state: match s.state.as_str() {
                    status::PUBLISHING => "live",
                    status::RECONNECT_GRACE => "grace",
                    _ => "?",
                }
                .into(),
                uptime_s: s.uptime_s,
                publisher: s.publisher.clone(),
                bitrate_bps: Some(s.reading.bitrate_bps),
                fps: Some(s.reading.fps),
                keyframe_ms: Some(s.reading.keyframe_interval_ms).filter(|k| *k > 0),
                av_warnings: Some(s.reading.av_warnings),
                frames_dropped: Some(s.frames_dropped),
                reconnects: Some(s.publisher_reconnects),
                channel: s.channel.clone(),
                ..Default::default()
            });
        }
        // Streams packagerd serves that ingestd did not list (ingestd down,
        // or a stream just ended).
        for p in packager {
            if p.state == "ended" || streams.iter().any(|s| s.channel == p.channel) {
                continue;
            }
            streams.push(StreamRow {
                channel: p.channel.clone(),
                stream_id: p.stream_id,
                state: "live".into(),
                uptime_s: ((stage_core::time::now_ms() - p.started_at_ms).max(0) / 1000) as u64,
                ..Default::default()
            });
        }
        for row in &mut streams {
            if let Some(p) = packager
                .iter()
                .find(|p| p.channel == row.channel && p.state == "live")
            {
                let mut names = vec!["source".to_string()];
                names.extend(p.renditions.iter().map(|r| r.name.clone()));
                row.renditions = Some(names);
                row.hls_viewers = Some(p.viewers);
                row.latency_ms = p.latency_ms;
                if let Some(t) = &p.transcode {
                    row.transcode_speed = t.speed;
                    row.transcode_note = t.error.clone().or_else(|| {
                        (!t.dropped.is_empty()).then(|| format!("dropped {}", t.dropped.join(",")))
                    });
                }
            }
            if let Ok(chat) = &all.chatd {
                // chatd answered and has no room open: nobody is chatting.
                let room = chat.rooms.iter().find(|r| r.channel == row.channel);
                row.chat_viewers = Some(room.map_or(0, |r| r.viewers));
                row.msgs_per_min = Some(room.map_or(0, |r| r.messages_per_min));
            }
            if let Some(t) = tips {
                row.tips_today = Some(tips_text(t.iter().filter(|t| t.channel == row.channel)));
            }
        }
        streams.sort_by(|a, b| a.channel.cmp(&b.channel));
        let events = all
            .ingestd
            .iter()
            .flat_map(|i| &i.events)
            .map(|e| Event {
                at_ms: e.at_ms,
                channel: e.channel.clone(),
                kind: e.kind.clone(),
                detail: e.detail.clone(),
            })
            .collect();
        Fleet {
            daemons,
            streams,
            events,
            tips_today: tips.map(|t| tips_text(t.iter())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn merges_ingest_packager_chat_and_billing_by_channel() {
        let all = Statuses {
            ingestd: parse(json!({"version": "0.1.0", "streams": [{
                    "channel": "demo", "stream_id": 7, "state": "publishing", "uptime_s": 65,
                    "bitrate_bps": 2_500_000, "fps": 30.0, "keyframe_interval_ms": 2000,
                    "av_warnings": 0, "publisher": "10.0.0.5:5000"}],
                    "events": [{"at_ms": 5, "channel": "demo", "kind": "publish", "detail": "x"}]})),
            packagerd: parse(
                json!({"streams": [{"channel": "demo", "state": "live", "viewers": 12,
                    "latency_ms": 900, "renditions": [{"name": "480p"}],
                    "transcode": {"speed": 2.5, "dropped": ["240p"]}}]}),
            ),
            chatd: Err("connection refused".into()),
            billingd: parse(json!({"tips_today": [
                    {"channel": "demo", "currency": "usd", "count": 1, "amount_minor": 250},
                    {"channel": "other", "currency": "usd", "count": 1, "amount_minor": 100}]})),
        };
        assert!(all.ingestd.is_ok() && all.packagerd.is_ok() && all.billingd.is_ok());
        let f = Fleet::from_status(&all);
        assert_eq!(f.daemons.iter().filter(|d| d.up).count(), 3);
        assert!(!f.daemons[2].up && f.daemons[2].detail.contains("refused"));
        let s = &f.streams[0];
        assert_eq!(s.state, "live");
        assert_eq!(s.bitrate_bps, Some(2_500_000));
        assert_eq!(s.renditions.as_deref().map(|r| r.len()), Some(2));
        assert_eq!(s.hls_viewers, Some(12));
        assert_eq!(s.transcode_note.as_deref(), Some("dropped 240p"));
        assert_eq!(s.chat_viewers, None, "chatd is down: unknown, not zero");
        assert_eq!(s.tips_today.as_deref(), Some("2.50 USD"));
        assert_eq!(f.tips_today.as_deref(), Some("3.50 USD"));
        assert_eq!(f.events.len(), 1);
    }

    #[test]
    fn a_stream_only_packagerd_knows_is_listed_without_ingest_figures() {
        let all = Statuses {
            ingestd: Err("down".into()),
            packagerd: parse(json!({"streams": [
                    {"channel": "b", "state": "live", "viewers": 3},
                    {"channel": "old", "state": "ended"}]})),
            chatd: Err("down".into()),
            billingd: Err("down".into()),
        };
        let f = Fleet::from_status(&all);
        assert_eq!(f.streams.len(), 1);
        assert_eq!(f.streams[0].bitrate_bps, None);
        assert_eq!(f.streams[0].hls_viewers, Some(3));
        assert_eq!(f.tips_today, None);
    }
}
