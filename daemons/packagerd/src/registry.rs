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

/// What HTTP serves for one stream, as of its last change.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub stream_id: i64,
    pub channel: String,
    pub title: String,
    pub started_at_ms: i64,
    pub multivariant: Option<String>,
    pub media_playlist: String,
    pub segments: BTreeMap<String, Bytes>,
    pub segment_count: usize,
    pub ended: bool,
    pub bandwidth: u64,
    pub codecs: Vec<String>,
    pub resolution: Option<(u32, u32)>,
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

fn snapshot(info: &StreamInfo, seg: &Segmenter) -> Snapshot {
    let playlist = seg.playlist();
    let mut segments = BTreeMap::new();
    for (id, bytes) in seg.inits() {
        segments.insert(format!("s{}-init-{id}.mp4", info.stream_id), bytes.clone());
    }
    let mut count = 0;
    for segment in seg.held() {
        segments.insert(segment.entry.uri.clone(), segment.data.clone());
        count += 1;
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
        media_playlist: playlist.render(),
        segments,
        segment_count: count,
        ended: seg.ended(),
        bandwidth: variant.as_ref().map_or(0, |v| v.bandwidth),
        codecs: variant
            .as_ref()
            .map(|v| v.codecs.clone())
            .unwrap_or_default(),
        resolution: variant.as_ref().and_then(|v| v.resolution),
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
    loop {
        let deadline =
            orphaned.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(86_400));
        tokio::select! {
            input = rx.recv() => match input {
                Some(Input::Media(msg)) => {
                    orphaned = None;
                    let is_end = matches!(msg, LinkMessage::End(_));
                    match seg.push(msg) {
                        Ok(true) => { snap.send_replace(Arc::new(snapshot(&info, &seg))); }
                        Ok(false) => {}
                        Err(e) => {
                            tracing::warn!(stream = info.stream_id, cause = %e, "bad media on link; ending stream");
                            seg.finish();
                            snap.send_replace(Arc::new(snapshot(&info, &seg)));
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
                snap.send_replace(Arc::new(snapshot(&info, &seg)));
                break;
            }
        }
    }
    if !seg.ended() {
        seg.finish();
        snap.send_replace(Arc::new(snapshot(&info, &seg)));
    }
    tokio::time::sleep(LINGER).await;
    registry.remove_if(&info.channel, info.stream_id);
}
