//! What the dashboard shows, built from the daemons' /status documents.
//! Pure: JSON in, rows out. A figure whose daemon did not answer is `None`
//! (drawn as `-`), never a guess.

use serde_json::Value;

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

/// The /status answer of each daemon (or why there was none), in the order
/// ingestd, packagerd, chatd, billingd.
pub type Statuses = Vec<(&'static str, Result<Value, String>)>;

fn get<'a>(all: &'a Statuses, name: &str) -> Option<&'a Value> {
    all.iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, r)| r.as_ref().ok())
}

fn list<'a>(v: Option<&'a Value>, key: &str) -> Vec<&'a Value> {
    v.and_then(|v| v[key].as_array())
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// Sums of tips per currency, as text (`5.00 USD + 300 JPY`).
fn tips_text<'a>(tips: impl Iterator<Item = &'a Value>) -> String {
    let mut by: std::collections::BTreeMap<String, i64> = Default::default();
    for t in tips {
        let cur = t["currency"].as_str().unwrap_or("").to_string();
        *by.entry(cur).or_default() += t["amount_minor"].as_i64().unwrap_or(0);
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
            .iter()
            .map(|(name, r)| Daemon {
                name,
                up: r.is_ok(),
                detail: match r {
                    Ok(v) => v["version"].as_str().unwrap_or("").to_string(),
                    Err(e) => e.clone(),
                },
            })
            .collect();
        let ingest = get(all, "ingestd");
        let packager = get(all, "packagerd");
        let chat = get(all, "chatd");
        let billing = get(all, "billingd");
        let tips = billing.map(|_| list(billing, "tips_today"));

        let mut streams: Vec<StreamRow> = Vec::new();
        for s in list(ingest, "streams") {
            let channel = s["channel"].as_str().unwrap_or("").to_string();
            streams.push(StreamRow {
                stream_id: s["stream_id"].as_i64().unwrap_or(0),
                state: match s["state"].as_str() {
                    Some("publishing") => "live",
                    Some("reconnect_grace") => "grace",
                    _ => "?",
                }
                .into(),
                uptime_s: s["uptime_s"].as_u64().unwrap_or(0),
                publisher: s["publisher"].as_str().map(String::from),
                bitrate_bps: s["bitrate_bps"].as_u64(),
                fps: s["fps"].as_f64(),
                keyframe_ms: s["keyframe_interval_ms"].as_i64().filter(|k| *k > 0),
                av_warnings: s["av_warnings"].as_u64(),
                frames_dropped: s["frames_dropped"].as_u64(),
                reconnects: s["publisher_reconnects"].as_u64(),
                channel,
                ..Default::default()
            });
        }
        // Streams packagerd serves that ingestd did not list (ingestd down,
        // or a stream just ended).
        for p in list(packager, "streams") {
            let channel = p["channel"].as_str().unwrap_or("");
            let ended = p["state"].as_str() == Some("ended");
            if ended || streams.iter().any(|s| s.channel == channel) {
                continue;
            }
            let since = p["started_at_ms"].as_i64().unwrap_or(0);
            streams.push(StreamRow {
                channel: channel.into(),
                stream_id: p["stream_id"].as_i64().unwrap_or(0),
                state: "live".into(),
                uptime_s: ((stage_core::time::now_ms() - since).max(0) / 1000) as u64,
                ..Default::default()
            });
        }
        for row in &mut streams {
            if let Some(p) = list(packager, "streams")
                .into_iter()
                .find(|p| p["channel"].as_str() == Some(&row.channel) && p["state"] == "live")
            {
                let mut names = vec!["source".to_string()];
                names.extend(
                    list(Some(p), "renditions")
                        .iter()
                        .filter_map(|r| r["name"].as_str().map(String::from)),
                );
                row.renditions = Some(names);
                row.hls_viewers = p["viewers"].as_u64();
                row.latency_ms = p["latency_ms"].as_i64();
                let t = &p["transcode"];
                row.transcode_speed = t["speed"].as_f64();
                row.transcode_note = t["error"].as_str().map(String::from).or_else(|| {
                    let dropped: Vec<&str> = list(Some(t), "dropped")
                        .iter()
                        .filter_map(|d| d.as_str())
                        .collect();
                    (!dropped.is_empty()).then(|| format!("dropped {}", dropped.join(",")))
                });
            }
            if let Some(r) = list(chat, "rooms")
                .into_iter()
                .find(|r| r["channel"].as_str() == Some(&row.channel))
            {
                row.chat_viewers = r["viewers"].as_u64();
                row.msgs_per_min = r["messages_per_min"].as_u64();
            } else if chat.is_some() {
                // chatd answered and has no room open: nobody is chatting.
                row.chat_viewers = Some(0);
                row.msgs_per_min = Some(0);
            }
            if let Some(t) = &tips {
                row.tips_today = Some(tips_text(
                    t.iter()
                        .copied()
                        .filter(|t| t["channel"].as_str() == Some(&row.channel)),
                ));
            }
        }
        streams.sort_by(|a, b| a.channel.cmp(&b.channel));
        let events = list(ingest, "events")
            .iter()
            .map(|e| Event {
                at_ms: e["at_ms"].as_i64().unwrap_or(0),
                channel: e["channel"].as_str().unwrap_or("").into(),
                kind: e["kind"].as_str().unwrap_or("").into(),
                detail: e["detail"].as_str().unwrap_or("").into(),
            })
            .collect();
        Fleet {
            daemons,
            streams,
            events,
            tips_today: tips.map(|t| tips_text(t.into_iter())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merges_ingest_packager_chat_and_billing_by_channel() {
        let all: Statuses = vec![
            (
                "ingestd",
                Ok(json!({"version": "0.1.0", "streams": [{
                    "channel": "demo", "stream_id": 7, "state": "publishing", "uptime_s": 65,
                    "bitrate_bps": 2_500_000, "fps": 30.0, "keyframe_interval_ms": 2000,
                    "av_warnings": 0, "publisher": "10.0.0.5:5000"}],
                    "events": [{"at_ms": 5, "channel": "demo", "kind": "publish", "detail": "x"}]})),
            ),
            (
                "packagerd",
                Ok(
                    json!({"streams": [{"channel": "demo", "state": "live", "viewers": 12,
                    "latency_ms": 900, "renditions": [{"name": "480p"}],
                    "transcode": {"speed": 2.5, "dropped": ["240p"]}}]}),
                ),
            ),
            ("chatd", Err("connection refused".into())),
            (
                "billingd",
                Ok(json!({"tips_today": [
                    {"channel": "demo", "currency": "usd", "amount_minor": 250},
                    {"channel": "other", "currency": "usd", "amount_minor": 100}]})),
            ),
        ];
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
        let all: Statuses = vec![
            ("ingestd", Err("down".into())),
            (
                "packagerd",
                Ok(json!({"streams": [
                    {"channel": "b", "state": "live", "viewers": 3},
                    {"channel": "old", "state": "ended"}]})),
            ),
        ];
        let f = Fleet::from_status(&all);
        assert_eq!(f.streams.len(), 1);
        assert_eq!(f.streams[0].bitrate_bps, None);
        assert_eq!(f.streams[0].hls_viewers, Some(3));
        assert_eq!(f.tips_today, None);
    }
}
