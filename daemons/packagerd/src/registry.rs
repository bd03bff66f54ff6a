//! Live streams in this packagerd: one task per stream owns its segmenter;
//! HTTP handlers read immutable snapshots it publishes after each change.

use crate::segmenter::Segmenter;
use bytes::Bytes;
use stage_media::hls::render_multivariant;
use stage_media::link::{LinkMessage, StreamInfo};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How long a stream whose link broke (without End) waits for ingestd to resume it.
const ORPHAN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an ended stream's final playlist stays servable.
const LINGER: Duration = Duration::from_secs(60);

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
    pub media_playlist: Bytes,
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
}

impl Snapshot {
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

/// Input to a stream task.
pub enum Input {
    Media(LinkMessage),
    /// The link connection carrying this stream broke without `End`.
    LinkLost,
}

/// A stream's handle in the registry.
pub struct StreamHandle {
    pub info: StreamInfo,
    pub tx: mpsc::Sender<Input>,
    pub snapshot: watch::Receiver<Arc<Snapshot>>,
}

/// Packaging settings the stream tasks need.
#[derive(Clone)]
pub struct Settings {
    pub target_ms: i64,
    pub part_target_ms: i64,
    pub window: usize,
}

/// Channel name → its current stream.
pub struct Registry {
    streams: RwLock<HashMap<String, Arc<StreamHandle>>>,
    settings: Settings,
}

impl Registry {
    /// An empty registry.
    pub fn new(settings: Settings) -> Arc<Registry> {
        Arc::new(Registry {
            streams: RwLock::new(HashMap::new()),
            settings,
        })
    }

    /// The current stream of a channel (live or just ended).
    pub fn get(&self, channel: &str) -> Option<Arc<StreamHandle>> {
        self.streams.read().ok()?.get(channel).cloned()
    }

    /// All streams.
    pub fn all(&self) -> Vec<Arc<StreamHandle>> {
        self.streams
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The stream a link connection announced: the existing one when this
    /// resumes it, else a new one (replacing an older stream of the channel).
    pub fn attach(self: &Arc<Self>, info: StreamInfo) -> Arc<StreamHandle> {
        let mut map = match self.streams.write() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        if let Some(h) = map.get(&info.channel)
            && h.info.stream_id == info.stream_id
            && !h.snapshot.borrow().ended
        {
            return h.clone();
        }
        // A stream that resumes here after packagerd restarted starts its
        // numbering past anything the old process could have served.
        let first_seq = if info.resumed {
            ((stage_core::time::now_ms() - info.started_at_ms).max(0) / 100) as u64 + 1
        } else {
            0
        };
        let seg = Segmenter::new(
            info.stream_id,
            self.settings.target_ms,
            self.settings.part_target_ms,
            self.settings.window,
            first_seq,
        );
        let (tx, rx) = mpsc::channel(512);
        let (snap_tx, snap_rx) = watch::channel(Arc::new(Snapshot {
            stream_id: info.stream_id,
            channel: info.channel.clone(),
            title: info.title.clone(),
            started_at_ms: info.started_at_ms,
            ..Default::default()
        }));
        let handle = Arc::new(StreamHandle {
            info: info.clone(),
            tx,
            snapshot: snap_rx,
        });
        map.insert(info.channel.clone(), handle.clone());
        tracing::info!(channel = %info.channel, stream = info.stream_id, resumed = info.resumed, first_seq, "stream attached");
        tokio::spawn(run_stream(self.clone(), info, seg, rx, snap_tx));
        handle
    }

    fn remove_if(&self, channel: &str, stream_id: i64) {
        if let Ok(mut m) = self.streams.write()
            && m.get(channel)
                .is_some_and(|h| h.info.stream_id == stream_id)
        {
            m.remove(channel);
        }
    }
}

/// When each part and segment of a stream was complete (Unix ms).
#[derive(Default)]
struct Completed {
    at: HashMap<String, i64>,
    last_part_ms: i64,
}

impl Completed {
    /// Stamps what is new since the last call and forgets what is gone.
    fn stamp(&mut self, seg: &Segmenter, now: i64) {
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

fn snapshot(info: &StreamInfo, seg: &Segmenter, done: &Completed) -> Snapshot {
    let playlist = seg.playlist();
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
        stream_id: info.stream_id,
        channel: info.channel.clone(),
        title: info.title.clone(),
        started_at_ms: info.started_at_ms,
        multivariant: variant
            .as_ref()
            .map(|v| render_multivariant(std::slice::from_ref(v))),
        media_playlist: Bytes::from(playlist.render()),
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
    }
}

async fn run_stream(
    registry: Arc<Registry>,
    info: StreamInfo,
    mut seg: Segmenter,
    mut rx: mpsc::Receiver<Input>,
    snap: watch::Sender<Arc<Snapshot>>,
) {
    let mut orphaned: Option<tokio::time::Instant> = None;
    let mut done = Completed::default();
    let mut publish = |seg: &Segmenter| {
        done.stamp(seg, stage_core::time::now_ms());
        snap.send_replace(Arc::new(snapshot(&info, seg, &done)));
    };
    loop {
        let deadline =
            orphaned.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(86_400));
        tokio::select! {
            input = rx.recv() => match input {
                Some(Input::Media(msg)) => {
                    orphaned = None;
                    let is_end = matches!(msg, LinkMessage::End(_));
                    match seg.push(msg) {
                        Ok(c) if c.any() => publish(&seg),
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(stream = info.stream_id, cause = %e, "bad media on link; ending stream");
                            seg.finish();
                            publish(&seg);
                            break;
                        }
                    }
                    if is_end {
                        tracing::info!(channel = %info.channel, stream = info.stream_id, "stream ended; playlist closed");
                        break;
                    }
                }
                Some(Input::LinkLost) => {
                    orphaned = Some(tokio::time::Instant::now() + ORPHAN_TIMEOUT);
                }
                None => break,
            },
            _ = tokio::time::sleep_until(deadline), if orphaned.is_some() => {
                tracing::warn!(stream = info.stream_id, "media link not resumed; ending stream");
                seg.finish();
                publish(&seg);
                break;
            }
        }
    }
    if !seg.ended() {
        seg.finish();
        publish(&seg);
    }
    tokio::time::sleep(LINGER).await;
    registry.remove_if(&info.channel, info.stream_id);
}
