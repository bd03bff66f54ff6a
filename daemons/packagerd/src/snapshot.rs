//! What HTTP serves for a stream, as of its last change: one immutable
//! snapshot per change, with its playlists rendered and its files listed.

use bytes::Bytes;
use stage_media::hls::{MediaPlaylist, RenditionReport, render_multivariant};
use stage_media::link::StreamInfo;
use stage_media::llhls::Segmenter;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A servable file: init segment, segment or part.
#[derive(Debug, Clone)]
pub struct File {
    pub data: Bytes,
    /// Unix ms when it was complete (parts and segments; 0 for inits).
    pub completed_at_ms: i64,
}

/// What HTTP serves for one stream, as of its last change. Playlists are
/// rendered once here, not per request.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub stream_id: i64,
    pub channel: String,
    pub title: String,
    pub started_at_ms: i64,
    pub multivariant: Option<String>,
    /// The media playlist, rendered in full when first asked for (see
    /// `media_playlist`).
    pub playlist: Option<Arc<MediaPlaylist>>,
    pub(crate) full_playlist: std::sync::OnceLock<Bytes>,
    /// The `_HLS_skip=YES` delta update, when there is anything to skip.
    pub delta_playlist: Option<Bytes>,
    pub files: BTreeMap<String, File>,
    pub segment_count: usize,
    /// Media sequence number of the segment being written.
    pub open_msn: u64,
    /// Parts of that segment that are complete.
    pub open_parts: u64,
    /// Number of the next part (the preload hint) and its URI.
    pub next_part: u64,
    pub next_part_uri: String,
    /// Unix ms when the newest part was complete.
    pub last_part_at_ms: i64,
    pub target_duration_secs: u64,
    pub part_target: f64,
    pub ended: bool,
    pub bandwidth: u64,
    pub codecs: Vec<String>,
    pub resolution: Option<(u32, u32)>,
    pub long_parts: u64,
    pub forced_cuts: u64,
    /// AAC frames dropped because they overlapped audio already placed.
    pub audio_dropped: u64,
    /// The ABR renditions made from this stream, by name (each a snapshot
    /// of its own segmenter; their `rungs` are empty).
    pub rungs: BTreeMap<String, Arc<Snapshot>>,
    /// Transcoding state, when the stream's ladder has rungs.
    pub transcode: Option<TranscodeStatus>,
    /// The playlist window's segments as DASH describes them.
    pub dash: Vec<stage_media::llhls::DashSegment>,
    pub frame_rate: Option<f64>,
    /// How old the newest part's first frame (by its arrival at ingestd)
    /// was when the part was ready here (ms): the part's duration plus the
    /// packager's own delay, the least a LL-HLS player can be behind.
    pub latency_ms: Option<i64>,
    /// The DASH manifest of every rendition (top-level snapshot only),
    /// rendered, and its model (rendered again with a viewer's token).
    pub mpd: Option<Bytes>,
    pub mpd_model: Option<Arc<stage_media::dash::Mpd>>,
    /// What the multivariant playlist lists (rendered again with a
    /// viewer's token).
    pub variants: Vec<stage_media::hls::Variant>,
    /// The DVR window's segments (gone from memory) → their recording
    /// objects' names.
    pub dvr: Arc<stage_media::llhls::DvrObjects>,
}

/// What /status reports about a stream's transcoding.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TranscodeStatus {
    pub ladder: String,
    /// Rungs being made now, with the encoder each uses.
    pub active: Vec<(String, String)>,
    /// Rungs dropped because transcoding fell behind real time.
    pub dropped: Vec<String>,
    pub error: Option<String>,
    /// Seconds of video transcoded per second spent transcoding, over the
    /// last ~2 s of media: below 1.0 the ladder cannot keep up.
    pub speed: Option<f64>,
    /// How long the newest video frame waited for the transcoder (ms).
    pub lag_ms: i64,
}

impl Snapshot {
    /// The full media playlist. Rendered on the first request for it, not
    /// at every part: players follow a live stream with delta updates
    /// (`delta_playlist`), and with a DVR window the full one lists hours
    /// of segments (~130 KB an hour of them); rendered five times a second
    /// it churned the heap into growth of ~4.5 MB an hour (bench/README.md,
    /// "where packagerd's memory went").
    pub fn media_playlist(&self) -> Bytes {
        self.full_playlist
            .get_or_init(|| {
                self.playlist
                    .as_ref()
                    .map_or_else(Bytes::new, |p| Bytes::from(p.render()))
            })
            .clone()
    }

    /// A rendition by name: `source` is this snapshot itself.
    pub fn rendition(&self, name: &str) -> Option<&Snapshot> {
        if name == "source" {
            Some(self)
        } else {
            self.rungs.get(name).map(|r| &**r)
        }
    }

    /// Whether the playlist holds segment `msn` complete or, with `part`,
    /// that part of it (RFC 8216bis 6.2.5.2); an ended stream holds all.
    pub fn has(&self, msn: u64, part: Option<u64>) -> bool {
        if self.ended {
            return true;
        }
        match part {
            None => msn < self.open_msn,
            Some(p) => msn < self.open_msn || (msn == self.open_msn && p < self.open_parts),
        }
    }
}

/// When each part and segment of a stream was complete (Unix ms).
#[derive(Default)]
pub(crate) struct Completed {
    pub(crate) at: HashMap<String, i64>,
    pub(crate) last_part_ms: i64,
}

impl Completed {
    /// Stamps what is new since the last call and forgets what is gone.
    pub(crate) fn stamp(&mut self, seg: &Segmenter, now: i64) {
        let mut live: HashMap<String, i64> = HashMap::with_capacity(self.at.len() + 2);
        let mut keep = |uri: &String, part: bool, last: &mut i64| {
            let t = *self.at.get(uri).unwrap_or(&now);
            if part && t == now {
                *last = now;
            }
            live.insert(uri.clone(), t);
        };
        let mut last = self.last_part_ms;
        for s in seg.held() {
            keep(&s.entry.uri, false, &mut last);
            for p in &s.parts {
                keep(&p.entry.uri, true, &mut last);
            }
        }
        for p in seg.open_parts() {
            keep(&p.entry.uri, true, &mut last);
        }
        self.at = live;
        self.last_part_ms = last;
    }
}

/// The snapshot of one rendition's segmenter as of now.
pub(crate) fn snapshot(
    info: &StreamInfo,
    seg: &Segmenter,
    done: &Completed,
    reports: Vec<RenditionReport>,
) -> Snapshot {
    let mut playlist = seg.playlist();
    if let Some(ll) = playlist.low_latency.as_mut() {
        ll.rendition_reports = reports;
    }
    // The newest part starts at its segment's date plus the parts before it.
    let latency_ms = playlist.low_latency.as_ref().and_then(|ll| {
        let start = ll.open_program_date_time_ms?;
        let (_, before) = ll.open_parts.split_last()?;
        let before: f64 = before.iter().map(|p| p.duration).sum();
        (done.last_part_ms > 0)
            .then(|| done.last_part_ms - start - (before * 1000.0).round() as i64)
    });
    let mut files = BTreeMap::new();
    for (id, bytes) in seg.inits() {
        files.insert(
            format!("s{}-init-{id}.mp4", info.stream_id),
            File {
                data: bytes.clone(),
                completed_at_ms: 0,
            },
        );
    }
    let at = |uri: &str| done.at.get(uri).copied().unwrap_or(0);
    let mut count = 0;
    for segment in seg.held() {
        for p in &segment.parts {
            files.insert(
                p.entry.uri.clone(),
                File {
                    data: p.data.clone(),
                    completed_at_ms: at(&p.entry.uri),
                },
            );
        }
        files.insert(
            segment.entry.uri.clone(),
            File {
                data: segment.data.clone(),
                completed_at_ms: at(&segment.entry.uri),
            },
        );
        count += 1;
    }
    for p in seg.open_parts() {
        files.insert(
            p.entry.uri.clone(),
            File {
                data: p.data.clone(),
                completed_at_ms: at(&p.entry.uri),
            },
        );
    }
    let variant = seg.variant("source/index.m3u8");
    Snapshot {
        rungs: BTreeMap::new(),
        transcode: None,
        stream_id: info.stream_id,
        channel: info.channel.clone(),
        title: info.title.clone(),
        started_at_ms: info.started_at_ms,
        multivariant: variant
            .as_ref()
            .map(|v| render_multivariant(std::slice::from_ref(v))),
        variants: variant.iter().cloned().collect(),
        delta_playlist: playlist.render_delta().map(Bytes::from),
        files,
        segment_count: count,
        open_msn: seg.open_msn(),
        open_parts: seg.open_parts().len() as u64,
        next_part: seg.next_part_number(),
        next_part_uri: seg.part_uri(seg.next_part_number()),
        last_part_at_ms: done.last_part_ms,
        target_duration_secs: playlist.target_duration_secs(),
        part_target: seg.part_target_ms() / 1000.0,
        ended: seg.ended(),
        bandwidth: variant.as_ref().map_or(0, |v| v.bandwidth),
        codecs: variant
            .as_ref()
            .map(|v| v.codecs.clone())
            .unwrap_or_default(),
        resolution: variant.as_ref().and_then(|v| v.resolution),
        long_parts: seg.long_parts,
        forced_cuts: seg.forced_cuts,
        audio_dropped: seg.audio_dropped,
        dash: seg.dash_segments(),
        frame_rate: variant.as_ref().and_then(|v| v.frame_rate),
        latency_ms,
        mpd: None,
        mpd_model: None,
        dvr: seg.dvr_objects(),
        playlist: Some(Arc::new(playlist)),
        full_playlist: Default::default(),
    }
}
