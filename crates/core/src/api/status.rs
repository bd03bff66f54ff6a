//! What each daemon's `GET /status` answers: the daemons serialize these
//! and stagectl (`status`, the TUI) reads them back, so a field renamed on
//! one side fails to compile on the other instead of showing `-`.
//!
//! Every struct takes missing fields as their defaults (`#[serde(default)]`):
//! a newer stagectl reads an older daemon's answer.

use crate::billing::TipSum;
use crate::config::Provider;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// ingestd's `/status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IngestStatus {
    pub daemon: String,
    pub version: String,
    pub streams: Vec<IngestStream>,
    /// The last events (publishes, reconnects, refusals), oldest first.
    pub events: Vec<IngestEvent>,
}

/// One stream ingestd is taking in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IngestStream {
    pub channel: String,
    pub stream_id: i64,
    /// [`PUBLISHING`] or [`RECONNECT_GRACE`] (the publisher is gone and the
    /// stream waits for it).
    pub state: String,
    /// The publisher's address, while connected.
    pub publisher: Option<String>,
    pub uptime_s: u64,
    pub ingest_bytes: u64,
    pub video_frames: u64,
    pub audio_frames: u64,
    pub keyframes: u64,
    pub packager_connected: bool,
    pub backlog_bytes: u64,
    pub frames_dropped: u64,
    pub link_reconnects: u64,
    pub publisher_reconnects: u64,
    #[serde(flatten)]
    pub reading: IngestReading,
}

/// [`IngestStream::state`] while a publisher is connected.
pub const PUBLISHING: &str = "publishing";
/// [`IngestStream::state`] while the stream waits for its publisher.
pub const RECONNECT_GRACE: &str = "reconnect_grace";

/// What ingestd's meter reads off a stream's tags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IngestReading {
    /// Media payload (audio + video) bits per second over the last 5 s.
    pub bitrate_bps: u64,
    /// Video frames per second over the last 5 s.
    pub fps: f64,
    /// Stream time between the last two keyframes (ms); 0 before the second.
    pub keyframe_interval_ms: i64,
    /// Times the stream went out of A/V sync (> 1 s apart) or a track's
    /// timestamps stepped backwards.
    pub av_warnings: u64,
}

/// Something that happened to a channel's ingest, for the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IngestEvent {
    pub at_ms: i64,
    /// Empty when the channel is unknown (a wrong key).
    pub channel: String,
    /// `publish`, `reconnect`, `publisher_lost`, `ended`, `refused`.
    pub kind: String,
    pub detail: String,
}

/// packagerd's `/status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PackagerStatus {
    pub daemon: String,
    pub version: String,
    /// By channel.
    pub streams: Vec<PackagerStream>,
    /// With recording on.
    pub recording: Option<RecordingStatus>,
}

/// One stream packagerd serves (a stream that ended lingers a minute).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PackagerStream {
    pub channel: String,
    pub stream_id: i64,
    /// `live` or `ended`.
    pub state: String,
    pub segments: u64,
    /// The segment being written.
    pub media_sequence: u64,
    /// Seconds.
    pub part_target: f64,
    pub long_parts: u64,
    pub keyframeless_cuts: u64,
    pub audio_frames_dropped: u64,
    pub viewers: u64,
    pub peak_viewers: u64,
    /// How old the newest part's first frame was when the part was ready.
    pub latency_ms: Option<i64>,
    pub frame_rate: Option<f64>,
    pub started_at_ms: i64,
    /// The source's, bits per second.
    pub bandwidth: u64,
    pub codecs: Vec<String>,
    /// `1280x720`.
    pub resolution: Option<String>,
    /// The ABR rungs made from the source.
    pub renditions: Vec<RenditionStatus>,
    /// Transcoding, when the ladder has rungs.
    pub transcode: Option<TranscodeStatus>,
}

/// One ABR rung of a stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RenditionStatus {
    pub name: String,
    pub resolution: Option<String>,
    pub bandwidth: u64,
    pub codecs: Vec<String>,
    pub media_sequence: u64,
}

/// A stream's transcoding.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TranscodeStatus {
    pub ladder: String,
    /// Rungs being made now, with the encoder each uses.
    pub active: Vec<ActiveRung>,
    /// Rungs dropped because transcoding fell behind real time.
    pub dropped: Vec<String>,
    pub error: Option<String>,
    /// Seconds of video transcoded per second spent transcoding: below 1.0
    /// the ladder cannot keep up.
    pub speed: Option<f64>,
    /// How long the newest video frame waited for the transcoder (ms).
    pub lag_ms: i64,
}

/// A rung being made, and by which encoder (`libx264`, `h264_nvenc`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActiveRung {
    pub rung: String,
    pub encoder: String,
}

/// Recording to the store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecordingStatus {
    /// Objects written and their bytes.
    pub objects: u64,
    pub bytes: u64,
    /// Segments left out because the queue was full.
    pub dropped: u64,
    /// Failed writes that were retried.
    pub retries: u64,
    /// The last write error, until a write succeeds again.
    pub error: Option<String>,
    /// Bytes waiting for the store.
    pub queued_bytes: u64,
    /// VODs finalised.
    pub vods: u64,
}

/// chatd's `/status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatStatus {
    pub daemon: String,
    pub version: String,
    pub uptime_s: u64,
    /// This node's id among chatd nodes sharing Redis (hex).
    pub node: String,
    /// Whether rooms are shared through Redis.
    pub redis: bool,
    pub connections: u64,
    pub messages: u64,
    pub deliveries: u64,
    pub slow_consumer_drops: u64,
    /// The rooms open on this node.
    pub rooms: Vec<RoomStatus>,
}

/// One open chat room.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RoomStatus {
    pub channel: String,
    /// Connections on this node.
    pub clients: u64,
    /// Connections on every node.
    pub viewers: u64,
    pub messages_per_min: u64,
    pub stream_id: Option<i64>,
    pub slow_ms: i64,
    pub members_only: bool,
    pub guests: bool,
    pub bans: u64,
    /// The open poll's id.
    pub poll: Option<i64>,
}

/// billingd's `/status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BillingStatus {
    pub daemon: String,
    pub version: String,
    pub uptime_s: u64,
    pub provider: Provider,
    pub webhooks: WebhookCounts,
    /// Tips since midnight UTC, per channel and currency; `None` when the
    /// database did not answer (see `db_error`).
    pub tips_today: Option<Vec<TipSum>>,
    pub db_error: Option<String>,
}

/// Webhook deliveries since billingd started.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhookCounts {
    /// Recorded, by event type.
    pub processed: BTreeMap<String, u64>,
    /// Refused, by reason.
    pub refused: BTreeMap<String, u64>,
    /// Deliveries of events already recorded.
    pub duplicates: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_reads_back_as_it_was_written_with_the_reading_flat() {
        let s = IngestStream {
            channel: "demo".into(),
            stream_id: 7,
            state: PUBLISHING.into(),
            publisher: Some("127.0.0.1:5000".into()),
            reading: IngestReading {
                bitrate_bps: 2_500_000,
                fps: 30.0,
                keyframe_interval_ms: 2000,
                av_warnings: 1,
            },
            ..Default::default()
        };
        let v = serde_json::to_value(&s).unwrap();
        // The meter's figures sit beside the others, as they always have.
        assert_eq!(v["bitrate_bps"], 2_500_000);
        assert_eq!(v["state"], "publishing");
        assert!(v.get("reading").is_none(), "{v}");
        assert_eq!(serde_json::from_value::<IngestStream>(v).unwrap(), s);
    }

    #[test]
    fn an_older_daemon_without_a_field_still_reads() {
        let s: PackagerStatus = serde_json::from_value(serde_json::json!({
            "daemon": "packagerd",
            "streams": [{"channel": "demo", "state": "live", "viewers": 3}],
        }))
        .unwrap();
        assert_eq!(s.streams[0].viewers, 3);
        assert_eq!(s.streams[0].latency_ms, None);
        assert!(s.recording.is_none());
        let b: BillingStatus =
            serde_json::from_value(serde_json::json!({"provider": "stripe"})).unwrap();
        assert_eq!(b.provider, Provider::Stripe);
        assert!(b.tips_today.is_none());
    }

    #[test]
    fn a_wrong_type_is_an_error_not_a_default() {
        let r = serde_json::from_value::<ChatStatus>(serde_json::json!({"rooms": "none"}));
        assert!(r.is_err());
    }
}
