//! Live streams in this packagerd: one task per stream owns its segmenter;
//! HTTP handlers read immutable snapshots it publishes after each change.

use crate::transcode::Transcoder;
use bytes::Bytes;
use stage_core::config::Ladder;
use stage_media::hls::{MediaPlaylist, RenditionReport, render_multivariant};
use stage_media::link::{LinkMessage, StreamInfo};
use stage_media::llhls::Segmenter;
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
    /// The DASH manifest of every rendition (top-level snapshot only).
    pub mpd: Option<Bytes>,
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
    /// The latest thumbnail (JPEG), every `packagerd.thumbnail_interval`.
    pub thumbnail: Arc<std::sync::Mutex<Option<Bytes>>>,
    /// The same snapshots, published just before `snapshot`: requests for
    /// the hinted part wait here, so when a part completes its waiters are
    /// woken (and answered) ahead of the blocked playlist reloads. Media
    /// first: a viewer needs the part to play, the playlist only to ask
    /// for the next one.
    pub media: watch::Receiver<Arc<Snapshot>>,
}

/// Packaging settings the stream tasks need.
#[derive(Clone)]
pub struct Settings {
    pub target_ms: i64,
    pub part_target_ms: i64,
    pub window: usize,
    pub ladders: BTreeMap<String, Ladder>,
    pub thumbnail_interval_ms: i64,
    /// The DVR window (ms of media live playlists list from the recording;
    /// 0: none). Only with recording on.
    pub dvr_ms: i64,
    /// Where live streams are recorded (None: recording off).
    pub recorder: Option<Arc<crate::recorder::Recorder>>,
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

    /// The recorder, when recording is on.
    pub fn recorder(&self) -> Option<Arc<crate::recorder::Recorder>> {
        self.settings.recorder.clone()
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
        // The channel's switch: a stream it turns off has no recording (and
        // so no DVR window).
        let settings = {
            let mut s = self.settings.clone();
            if !info.record {
                s.recorder = None;
            }
            s
        };
        let new_segmenter = {
            let s = settings.clone();
            let id = info.stream_id;
            move || {
                let mut seg =
                    Segmenter::new(id, s.target_ms, s.part_target_ms, s.window, first_seq);
                if s.recorder.is_some() {
                    seg.set_dvr(s.dvr_ms);
                }
                seg
            }
        };
        let seg = new_segmenter();
        let ladder_name = if info.ladder.is_empty() {
            "default"
        } else {
            info.ladder.as_str()
        };
        let ladder = match self.settings.ladders.get(ladder_name) {
            Some(l) => Some((ladder_name.to_string(), l.clone())),
            None => {
                tracing::warn!(channel = %info.channel, ladder = ladder_name, "no such ladder in the config; serving the source only");
                None
            }
        }
        .filter(|(_, l)| !l.rungs.is_empty());
        let (tx, rx) = mpsc::channel(512);
        let first = Arc::new(Snapshot {
            stream_id: info.stream_id,
            channel: info.channel.clone(),
            title: info.title.clone(),
            started_at_ms: info.started_at_ms,
            ..Default::default()
        });
        let (snap_tx, snap_rx) = watch::channel(first.clone());
        let (media_tx, media_rx) = watch::channel(first);
        let thumbnail = Arc::new(std::sync::Mutex::new(None));
        let handle = Arc::new(StreamHandle {
            info: info.clone(),
            tx,
            snapshot: snap_rx,
            thumbnail: thumbnail.clone(),
            media: media_rx,
        });
        map.insert(info.channel.clone(), handle.clone());
        tracing::info!(channel = %info.channel, stream = info.stream_id, resumed = info.resumed, first_seq, "stream attached");
        let rungs = Rungs::new(
            ladder,
            Box::new(new_segmenter),
            (self.settings.target_ms, self.settings.part_target_ms),
        );
        let thumbs = Thumbnails::new(
            self.settings.thumbnail_interval_ms,
            thumbnail,
            settings.recorder.clone().map(|r| (r, info.stream_id)),
        );
        tokio::spawn(run_stream(
            self.clone(),
            settings.recorder.clone(),
            info,
            seg,
            (rungs, thumbs),
            rx,
            (media_tx, snap_tx),
        ));
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

fn snapshot(
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
        dvr: seg.dvr_objects(),
        playlist: Some(Arc::new(playlist)),
        full_playlist: Default::default(),
    }
}

/// What a stream has handed to the recorder: per rendition, the last
/// segment and the init segments.
#[derive(Default)]
struct Recorded {
    last: HashMap<String, u64>,
    inits: std::collections::HashSet<(String, u64)>,
}

impl Recorded {
    /// Queues the rendition's segments finished since the last call.
    fn record(
        &mut self,
        recorder: &crate::recorder::Recorder,
        stream_id: i64,
        rendition: &str,
        seg: &mut Segmenter,
    ) {
        let last = self.last.get(rendition).copied();
        let mut written = Vec::new();
        for s in seg.held() {
            if last.is_some_and(|l| s.entry.seq <= l) {
                continue;
            }
            let init = if self.inits.insert((rendition.to_string(), s.init_id)) {
                let variant: crate::recorder::VariantInfo =
                    seg.variant("").map(|v| (&v).into()).unwrap_or_default();
                seg.inits().get(&s.init_id).map(|i| (i.clone(), variant))
            } else {
                None
            };
            let ok = recorder.segment(
                stream_id,
                rendition,
                &stage_media::llhls::names::RecordedSegment {
                    seq: s.entry.seq,
                    duration: s.entry.duration,
                    init_id: s.init_id,
                    discontinuity: s.entry.discontinuity,
                },
                &s.data,
                init.as_ref().map(|(i, v)| (&i[..], v.clone())),
            );
            if ok {
                written.push(s.entry.seq);
            } else {
                // The init may not have been written either: try it again
                // with the next segment.
                self.inits.remove(&(rendition.to_string(), s.init_id));
            }
            self.last.insert(rendition.to_string(), s.entry.seq);
        }
        for seq in written {
            seg.mark_recorded(seq);
        }
    }
}

/// How far (ms) transcoding may fall behind real time before the lowest
/// rung is dropped.
const MAX_TRANSCODE_LAG_MS: i64 = 1_500;
/// Media queued for the transcoder before input is dropped (and decoding
/// restarts at the next keyframe).
const TRANSCODE_QUEUE: usize = 1024;

type NewSegmenter = Box<dyn Fn() -> Segmenter + Send>;

/// A stream's ABR rungs: the transcoder thread's channels and one
/// segmenter per rung, fed from its output.
struct Rungs {
    names: Vec<String>,
    segs: Vec<Option<Segmenter>>,
    done: Vec<Completed>,
    new_segmenter: NewSegmenter,
    /// Media for the transcoder, with when packagerd received it (Unix ms).
    input: Option<mpsc::Sender<(LinkMessage, i64)>>,
    output: Option<mpsc::Receiver<(usize, LinkMessage)>>,
    status: Arc<std::sync::Mutex<TranscodeStatus>>,
    resync: Arc<std::sync::atomic::AtomicBool>,
}

impl Rungs {
    /// `timing`: the segmenters' target and part durations, ms.
    fn new(
        ladder: Option<(String, Ladder)>,
        new_segmenter: NewSegmenter,
        timing: (i64, i64),
    ) -> Rungs {
        let status = Arc::new(std::sync::Mutex::new(TranscodeStatus::default()));
        let resync = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut names = Vec::new();
        let (mut input, mut output) = (None, None);
        if let Some((name, ladder)) = ladder {
            names = ladder.rungs.iter().map(|r| r.name.clone()).collect();
            if let Ok(mut s) = status.lock() {
                s.ladder = name;
            }
            let (in_tx, in_rx) = mpsc::channel(TRANSCODE_QUEUE);
            let (out_tx, out_rx) = mpsc::channel(4096);
            let (st, rs) = (status.clone(), resync.clone());
            match std::thread::Builder::new()
                .name("transcode".into())
                .spawn(move || transcode_thread(ladder, timing, in_rx, out_tx, st, rs))
            {
                Ok(_) => (input, output) = (Some(in_tx), Some(out_rx)),
                Err(e) => {
                    tracing::warn!(cause = %e, "cannot start a transcoding thread; serving the source only");
                }
            }
        }
        Rungs {
            segs: names.iter().map(|_| None).collect(),
            done: names.iter().map(|_| Completed::default()).collect(),
            names,
            new_segmenter,
            input,
            output,
            status,
            resync,
        }
    }

    /// Hands a source message to the transcoder without ever waiting: the
    /// source is never held up by its renditions.
    fn feed(&mut self, msg: &LinkMessage) {
        let Some(tx) = &self.input else { return };
        match tx.try_send((msg.clone(), stage_core::time::now_ms())) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.resync
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => self.input = None,
        }
    }

    fn push(&mut self, index: usize, msg: LinkMessage) -> bool {
        let Some(slot) = self.segs.get_mut(index) else {
            return false;
        };
        let seg = slot.get_or_insert_with(&self.new_segmenter);
        match seg.push(msg) {
            Ok(c) => c.any(),
            Err(e) => {
                tracing::warn!(rung = %self.names[index], cause = %e, "rendition stopped");
                seg.finish();
                true
            }
        }
    }

    /// After the source ended: the rungs' last frames, then their end.
    async fn finish(&mut self) {
        self.input = None;
        if let Some(mut rx) = self.output.take() {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while let Ok(Some((i, m))) = tokio::time::timeout_at(deadline, rx.recv()).await {
                self.push(i, m);
            }
        }
        for s in self.segs.iter_mut().flatten() {
            s.finish();
        }
    }
}

fn transcode_thread(
    ladder: Ladder,
    (target_ms, part_ms): (i64, i64),
    mut input: mpsc::Receiver<(LinkMessage, i64)>,
    output: mpsc::Sender<(usize, LinkMessage)>,
    status: Arc<std::sync::Mutex<TranscodeStatus>>,
    resync: Arc<std::sync::atomic::AtomicBool>,
) {
    let names: Vec<String> = ladder.rungs.iter().map(|r| r.name.clone()).collect();
    let every_ms = ladder.switch_interval.0.as_millis() as f64;
    let mut t = Transcoder::new(ladder.rungs, &ladder.preset).with_switch_points(
        stage_media::llhls::SwitchPoints::new(target_ms, part_ms as f64, every_ms),
    );
    let mut last_drop: Option<std::time::Instant> = None;
    // Transcode speed: media time in over time spent in `push`.
    let mut busy = Duration::ZERO;
    let mut media_from: Option<i64> = None;
    let report = |t: &Transcoder, f: &dyn Fn(&mut TranscodeStatus)| {
        if let Ok(mut s) = status.lock() {
            s.active = t
                .active()
                .into_iter()
                .map(|(i, e)| (names[i].clone(), e))
                .collect();
            f(&mut s);
        }
    };
    while let Some((msg, received_ms)) = input.blocking_recv() {
        if resync.swap(false, std::sync::atomic::Ordering::Relaxed) {
            tracing::warn!(
                "transcoder input queue full; frames dropped, resuming at the next keyframe"
            );
            t.resync();
        }
        if matches!(msg, LinkMessage::Video(_)) {
            // How long the frame waited for the transcoder here. Not its
            // age since ingest: a resumed stream (packagerd restarted)
            // starts with ingestd's cached GOP, seconds old on arrival.
            let lag = stage_core::time::now_ms() - received_ms;
            let settled = last_drop.is_none_or(|d| d.elapsed() > Duration::from_secs(3));
            if lag > MAX_TRANSCODE_LAG_MS
                && settled
                && let Some(i) = t.drop_lowest()
            {
                tracing::warn!(rung = %names[i], lag_ms = lag, "transcoding behind real time; rung dropped");
                last_drop = Some(std::time::Instant::now());
                report(&t, &|s| s.dropped.push(names[i].clone()));
            }
        }
        let configured = matches!(msg, LinkMessage::VideoConfig(_));
        let started = std::time::Instant::now();
        let pushed = t.push(&msg);
        if let LinkMessage::Video(f) = &msg {
            busy += started.elapsed();
            let lag = stage_core::time::now_ms() - received_ms;
            let from = *media_from.get_or_insert(f.dts_ms);
            let media = f.dts_ms - from;
            if media >= 2000 {
                let speed = media as f64 / 1000.0 / busy.as_secs_f64().max(1e-6);
                report(&t, &|s| {
                    s.speed = Some((speed * 100.0).round() / 100.0);
                    s.lag_ms = lag;
                });
                busy = Duration::ZERO;
                media_from = Some(f.dts_ms);
            } else if media < 0 {
                media_from = Some(f.dts_ms);
            }
        }
        match pushed {
            Ok(out) => {
                for o in out {
                    if output.blocking_send(o).is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                tracing::warn!(cause = %e, "transcoding stopped; serving the source only");
                report(&t, &|s| s.error = Some(e.to_string()));
                return;
            }
        }
        if configured {
            report(&t, &|_| {});
            for (i, enc) in t.active() {
                tracing::info!(rung = %names[i], encoder = %enc, "rendition started");
            }
        }
    }
}

/// Takes a stream's thumbnail at the first keyframe every `every_ms` of
/// media, off the stream task (a blocking decode + JPEG encode).
struct Thumbnails {
    every_ms: i64,
    /// Each thumbnail also goes into the stream's recording.
    recorder: Option<(Arc<crate::recorder::Recorder>, i64)>,
    record: Option<Bytes>,
    last_ms: Option<i64>,
    busy: Arc<std::sync::atomic::AtomicBool>,
    latest: Arc<std::sync::Mutex<Option<Bytes>>>,
}

/// Thumbnail width in pixels (never upscaled).
const THUMBNAIL_WIDTH: u32 = 640;

impl Thumbnails {
    fn new(
        every_ms: i64,
        latest: Arc<std::sync::Mutex<Option<Bytes>>>,
        recorder: Option<(Arc<crate::recorder::Recorder>, i64)>,
    ) -> Thumbnails {
        Thumbnails {
            every_ms,
            recorder,
            record: None,
            last_ms: None,
            busy: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            latest,
        }
    }

    fn see(&mut self, msg: &LinkMessage) {
        use std::sync::atomic::Ordering;
        match msg {
            LinkMessage::VideoConfig(r) => self.record = Some(r.clone()),
            LinkMessage::Video(f) if f.keyframe => {
                let due = self
                    .last_ms
                    .is_none_or(|l| f.dts_ms - l >= self.every_ms || f.dts_ms < l);
                let Some(record) = self.record.clone().filter(|_| due) else {
                    return;
                };
                if self.busy.swap(true, Ordering::AcqRel) {
                    return;
                }
                self.last_ms = Some(f.dts_ms);
                let (frame, busy, latest) = (f.clone(), self.busy.clone(), self.latest.clone());
                let recorder = self.recorder.clone();
                tokio::task::spawn_blocking(move || {
                    match crate::transcode::thumbnail(&record, &frame, THUMBNAIL_WIDTH) {
                        Ok(jpeg) => {
                            if let Some((r, stream_id)) = &recorder {
                                r.thumbnail(*stream_id, frame.dts_ms, jpeg.clone());
                            }
                            if let Ok(mut l) = latest.lock() {
                                *l = Some(jpeg);
                            }
                        }
                        Err(e) => tracing::debug!(cause = %e, "no thumbnail from this keyframe"),
                    }
                    busy.store(false, Ordering::Release);
                });
            }
            _ => {}
        }
    }
}

async fn run_stream(
    registry: Arc<Registry>,
    recorder: Option<Arc<crate::recorder::Recorder>>,
    info: StreamInfo,
    mut seg: Segmenter,
    (mut rungs, mut thumbs): (Rungs, Thumbnails),
    mut rx: mpsc::Receiver<Input>,
    (media, snap): (watch::Sender<Arc<Snapshot>>, watch::Sender<Arc<Snapshot>>),
) {
    let mut orphaned: Option<tokio::time::Instant> = None;
    let mut done = Completed::default();
    let mut recorded = Recorded::default();
    let mut publish = |seg: &mut Segmenter, done: &mut Completed, rungs: &mut Rungs| {
        let now = stage_core::time::now_ms();
        // Every rung dates its segments as the source does, as of now.
        let dates = seg.dates();
        for s in rungs.segs.iter_mut().flatten() {
            s.follow_dates(&dates);
        }
        done.stamp(seg, now);
        if let Some(r) = &recorder {
            recorded.record(r, info.stream_id, "source", seg);
            for (name, s) in rungs.names.iter().zip(&mut rungs.segs) {
                if let Some(s) = s {
                    recorded.record(r, info.stream_id, name, s);
                }
            }
        }
        // Each rendition's playlist reports where the others are.
        let mut all: Vec<(String, &Segmenter)> = vec![("source".into(), seg)];
        for (name, s) in rungs.names.iter().zip(&rungs.segs) {
            if let Some(s) = s {
                all.push((name.clone(), s));
            }
        }
        let reports = |me: &str| -> Vec<RenditionReport> {
            all.iter()
                .filter(|(n, _)| n != me)
                .filter_map(|(n, s)| s.report(format!("../{n}/index.m3u8")))
                .collect()
        };
        let mut top = snapshot(&info, seg, done, reports("source"));
        let mut variants: Vec<stage_media::hls::Variant> =
            seg.variant("source/index.m3u8").into_iter().collect();
        for i in 0..rungs.names.len() {
            let (Some(s), Some(d)) = (&rungs.segs[i], rungs.done.get_mut(i)) else {
                continue;
            };
            d.stamp(s, now);
            let name = rungs.names[i].clone();
            if let Some(v) = s.variant(&format!("{name}/index.m3u8")) {
                variants.push(v);
            }
            let r = reports(&name);
            top.rungs.insert(name, Arc::new(snapshot(&info, s, d, r)));
        }
        if top.multivariant.is_some() {
            top.multivariant = Some(render_multivariant(&variants));
        }
        let mut renditions: Vec<(&str, &Snapshot)> = vec![("source", &top)];
        renditions.extend(top.rungs.iter().map(|(n, s)| (n.as_str(), &**s)));
        let target = top.target_duration_secs as f64;
        // The availability start lies before any date the stream can carry
        // (its first dates may precede the publish by a start-up burst).
        let ast = info.started_at_ms - 10_000;
        top.mpd = crate::dash::manifest(&renditions, ast, now, target).map(Bytes::from);
        if !rungs.names.is_empty() {
            top.transcode = rungs.status.lock().ok().map(|s| s.clone());
        }
        let s = Arc::new(top);
        // Part waiters are woken first, so they run first.
        media.send_replace(s.clone());
        snap.send_replace(s);
    };
    loop {
        let deadline =
            orphaned.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(86_400));
        let transcoding = rungs.output.is_some();
        tokio::select! {
            input = rx.recv() => match input {
                Some(Input::Media(msg)) => {
                    orphaned = None;
                    let is_end = matches!(msg, LinkMessage::End(_));
                    rungs.feed(&msg);
                    thumbs.see(&msg);
                    match seg.push(msg) {
                        Ok(c) if c.any() => publish(&mut seg, &mut done, &mut rungs),
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(stream = info.stream_id, cause = %e, "bad media on link; ending stream");
                            seg.finish();
                            publish(&mut seg, &mut done, &mut rungs);
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
            out = async { rungs.output.as_mut().expect("transcoding").recv().await }, if transcoding => match out {
                Some((i, msg)) => {
                    if rungs.push(i, msg) {
                        publish(&mut seg, &mut done, &mut rungs);
                    }
                }
                None => rungs.output = None,
            },
            _ = tokio::time::sleep_until(deadline), if orphaned.is_some() => {
                tracing::warn!(stream = info.stream_id, "media link not resumed; ending stream");
                seg.finish();
                publish(&mut seg, &mut done, &mut rungs);
                break;
            }
        }
    }
    if !seg.ended() {
        seg.finish();
    }
    // The source's end is published at once; the renditions' after their
    // last frames are through the transcoder.
    publish(&mut seg, &mut done, &mut rungs);
    if !rungs.names.is_empty() {
        rungs.finish().await;
        publish(&mut seg, &mut done, &mut rungs);
    }
    if let Some(r) = &recorder {
        r.finish(crate::recorder::Finish {
            stream_id: info.stream_id,
            title: info.title.clone(),
            started_at_ms: info.started_at_ms,
        });
    }
    tokio::time::sleep(LINGER).await;
    registry.remove_if(&info.channel, info.stream_id);
}
