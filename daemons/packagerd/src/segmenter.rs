//! Access units → CMAF parts, segments and the live LL-HLS playlist, for one
//! stream.
//!
//! Pure and synchronous (no sockets, no clocks): the stream task feeds it link
//! messages and publishes what it produces. Written here rather than taken
//! from a crate because LL-HLS packaging is the product's core and no crate
//! does it for a live, sans-IO pipeline.
//!
//! - A **part** is one CMAF chunk (`moof`+`mdat`). It closes when the next
//!   frame of the main track (video; audio for audio-only streams) would push
//!   it past the part target, so every part's duration is at most
//!   `PART-TARGET` and at least ~90% of it (save a segment's last part).
//! - A **segment** is the concatenation of its parts, so its `EXTINF` is
//!   exactly their sum. It closes at the first keyframe once the target
//!   duration is reached; when the encoder sends no keyframe in time it closes
//!   at a part boundary before its rounded duration would exceed
//!   `EXT-X-TARGETDURATION` (that next segment is then not independent).
//! - Audio that arrives after a cut point moves to the next part, so both
//!   tracks of a part cover the same span.
//! - Part URIs carry a number that runs across segments (`s7-p1234.m4s`), so
//!   the preload hint always names the part that really comes next, whether or
//!   not a segment boundary falls before it.

use bytes::{Bytes, BytesMut};
use stage_media::aac::AacConfig;
use stage_media::avc::AvcConfig;
use stage_media::fmp4::{self, Sample, Track, TrackConfig, TrackRun};
use stage_media::hls::{
    LowLatency, MediaPlaylist, PartEntry, RenderedSegments, RenditionReport, SegmentEntry, Variant,
};
use stage_media::link::{Frame, LinkMessage};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// Samples in an AAC frame.
const AAC_FRAME: u64 = 1024;
/// Video timescale (90 kHz, as MPEG systems use).
const VIDEO_TIMESCALE: u32 = 90_000;
/// Timestamps may start a little before the first frame seen (audio that
/// trails video); tfdt is unsigned, so the timeline starts this far in.
const HEADROOM_MS: i64 = 10_000;
/// A keyframe this close to the target already cuts (FLV ms rounding).
pub(crate) const CUT_TOLERANCE_MS: i64 = 50;
/// A DTS leap forward larger than this is a clock jump, not a slow frame.
const MAX_GAP_MS: i64 = 5_000;
/// A DTS step back larger than this is a clock reset. Smaller steps are
/// encoder jitter: the frame is kept, nudged just past its predecessor.
const MAX_BACK_STEP_MS: i64 = 1_000;
/// While ingestd replays frames after a link resume, steps back up to this
/// far are the replay (dropped), not a reset.
const MAX_REPLAY_MS: i64 = 60_000;
/// Where a re-anchored track continues: just after the last frame.
const JUMP_STEP_MS: i64 = 40;
/// Complete segments whose parts are listed in the playlist (the spec asks
/// to drop parts more than three target durations from the end).
const LISTED_PART_SEGMENTS: usize = 2;
/// Complete segments whose parts stay fetchable (one more, for late clients).
const KEPT_PART_SEGMENTS: usize = 3;
/// Part numbers of a stream that resumes in a restarted packagerd start
/// this many times its first sequence number, past anything served before.
const PART_NUMBER_STRIDE: u64 = 1_000;
/// PART-TARGET above a part's n frames, ms: more than the ±1 ms that RTMP's
/// ms-rounded timestamps add to n frame steps.
const PART_TARGET_MARGIN_MS: f64 = 2.0;
/// How far (ms) the date offset may move per segment once a timeline has
/// a complete segment: 1 ms per 2 s segment follows a 500 ppm clock
/// difference between encoder and server, and hls.js does not notice.
const PDT_SLEW_MS: i64 = 1;
/// How far (ms) another rendition's date offset may be from this one's own
/// estimate and still be followed (`follow_dates`): further, the two are
/// not on one timeline.
const PDT_FOLLOW_MS: i64 = 1_000;

/// A finished part.
#[derive(Debug, Clone)]
pub struct Part {
    /// Runs across the stream's segments.
    pub number: u64,
    pub entry: PartEntry,
    pub data: Bytes,
}

/// Segments held in memory with a DVR window, at least (see `set_dvr`).
const DVR_MIN_HELD: usize = 8;

/// The DVR window's entries: segments that have left memory, listed
/// from the recording under the URIs they had live (a live playlist never
/// renames a segment), at most `limit_ms` of media.
/// They are rendered once each time one joins (see `MediaPlaylist::head`).
#[derive(Debug, Default)]
struct Dvr {
    limit_ms: i64,
    entries: VecDeque<SegmentEntry>,
    secs: f64,
    /// Discontinuity tags among `entries`.
    discontinuities: u64,
    rendered: Option<Arc<RenderedSegments>>,
    /// Their recording objects.
    objects: Arc<DvrObjects>,
}

/// The DVR window's segments' recording objects, for HTTP to find one by
/// its live URI. Plain numbers, no string per segment: every snapshot
/// shares this, so each segment that joins copies it (`Arc::make_mut`),
/// and a map of two strings per segment made thousands of small
/// allocations every 2 s (bench/README.md, "where packagerd's memory
/// went").
#[derive(Debug, Default, Clone)]
pub struct DvrObjects {
    stream_id: i64,
    /// Ascending by sequence number.
    entries: VecDeque<DvrObject>,
}

#[derive(Debug, Clone, Copy)]
struct DvrObject {
    seq: u64,
    duration: f64,
    init_id: u64,
    discontinuity: bool,
}

impl DvrObjects {
    /// The recording object's name for a DVR segment's live URI
    /// (`s{stream}-{seq}.m4s`).
    pub fn get(&self, uri: &str) -> Option<String> {
        let seq: u64 = uri
            .strip_prefix(&format!("s{}-", self.stream_id))?
            .strip_suffix(".m4s")?
            .parse()
            .ok()?;
        let i = self.entries.binary_search_by_key(&seq, |o| o.seq).ok()?;
        let o = self.entries[i];
        Some(crate::recorder::segment_name(
            o.seq,
            o.duration,
            o.init_id,
            o.discontinuity,
        ))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Dvr {
    fn push(&mut self, e: SegmentEntry, stream_id: i64, init_id: u64) {
        self.secs += e.duration;
        self.discontinuities += e.discontinuity as u64;
        let objects = Arc::make_mut(&mut self.objects);
        objects.stream_id = stream_id;
        objects.entries.push_back(DvrObject {
            seq: e.seq,
            duration: e.duration,
            init_id,
            discontinuity: e.discontinuity,
        });
        self.entries.push_back(e);
        while self.secs * 1000.0 > self.limit_ms as f64 {
            let Some(old) = self.entries.pop_front() else {
                break;
            };
            objects.entries.pop_front();
            self.secs -= old.duration;
            self.discontinuities -= old.discontinuity as u64;
        }
        self.rendered =
            (!self.entries.is_empty()).then(|| Arc::new(RenderedSegments::new(&self.entries)));
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.objects = Arc::default();
        self.secs = 0.0;
        self.discontinuities = 0;
        self.rendered = None;
    }
}

/// A finished media segment.
#[derive(Debug, Clone)]
pub struct Segment {
    pub entry: SegmentEntry,
    pub data: Bytes,
    pub video_frames: u32,
    /// Its parts while they are fetchable (emptied as the segment ages).
    pub parts: Vec<Part>,
    /// Output DTS of its first frame, ms, and the timeline (discontinuity
    /// epoch) it belongs to: PROGRAM-DATE-TIME is derived from both.
    start_ms: i64,
    epoch: u64,
    /// Its init segment and that init's tracks.
    pub init_id: u64,
    pub tracks: Vec<Track>,
    /// Where each track's samples lie in time (for DASH's SegmentTimeline).
    pub spans: Vec<TrackSpan>,
    /// Whether the recording has it (so the DVR window may list it once it
    /// leaves memory).
    pub recorded: bool,
}

/// One track's samples within a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackSpan {
    pub track_id: u32,
    /// DTS of the first sample and the sum of the durations, in the
    /// track's timescale.
    pub base: u64,
    pub duration: u64,
    pub bytes: u64,
}

/// A held segment as DASH describes it.
#[derive(Debug, Clone)]
pub struct DashSegment {
    pub seq: u64,
    /// Timeline (changes at each discontinuity).
    pub epoch: u64,
    pub init_id: u64,
    pub uri: String,
    pub map_uri: String,
    /// Its PROGRAM-DATE-TIME, Unix ms.
    pub pdt_ms: Option<i64>,
    /// Where its timeline began: the first segment's video time (90 kHz,
    /// the clock every track's timestamps share) and date (Unix ms).
    pub epoch_start_ticks: u64,
    pub epoch_pdt_ms: Option<i64>,
    pub duration: f64,
    pub tracks: Vec<Track>,
    pub spans: Vec<TrackSpan>,
}

#[derive(Debug, Clone)]
struct Pending {
    dts_ms: i64,
    frame: Frame,
}

/// The segment being written.
#[derive(Debug)]
struct OpenSegment {
    start_ms: i64,
    discontinuity: bool,
    independent: bool,
    init_id: u64,
    tracks: Vec<Track>,
    parts: Vec<Part>,
    video_frames: u32,
    spans: Vec<TrackSpan>,
}

/// The part being written.
#[derive(Debug, Default)]
struct OpenPart {
    start_ms: Option<i64>,
    independent: bool,
    video: Vec<Pending>,
    audio: Vec<Pending>,
}

/// Errors that end the stream (bad configs the ingest let through).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SegmenterError(pub String);

/// What one input changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changed {
    pub part: bool,
    pub segment: bool,
}

impl Changed {
    pub fn any(self) -> bool {
        self.part || self.segment
    }
}

/// One stream's packager state.
pub struct Segmenter {
    stream_id: i64,
    target_ms: i64,
    part_target_cfg_ms: f64,
    /// The advertised part target, fixed when the first part closes.
    part_target_ms: Option<f64>,
    window: usize,
    keep: usize,
    avc: Option<AvcConfig>,
    aac: Option<AacConfig>,
    /// (id, tracks) of the init segment new segments use.
    init: Option<(u64, Vec<Track>)>,
    inits: BTreeMap<u64, Bytes>,
    configs_changed: bool,
    open: Option<OpenSegment>,
    part: OpenPart,
    base_ms: Option<i64>,
    last_video_dts: Option<i64>,
    last_audio_dts: Option<i64>,
    replaying_video: bool,
    replaying_audio: bool,
    audio_next: Option<u64>,
    /// AAC frames dropped because they overlapped audio already placed.
    pub audio_dropped: u64,
    next_seq: u64,
    next_part: u64,
    fragment_seq: u32,
    disc_pending: bool,
    disc_base: u64,
    dropped_disc: u64,
    /// Segments gone from memory that the DVR window still lists.
    dvr: Dvr,
    segments: VecDeque<Segment>,
    /// Recent positive DTS steps of the main track, for the frame duration.
    steps: VecDeque<i64>,
    last_main_dts: Option<i64>,
    shift_video_ms: i64,
    shift_audio_ms: i64,
    /// Latest output DTS of any track.
    high_water_ms: Option<i64>,
    /// Parts that ran over the part target (a frame gap longer than a part).
    pub long_parts: u64,
    /// Segments cut without a keyframe (keyframe interval over the target).
    pub forced_cuts: u64,
    ended: bool,
    /// Wall clock − output DTS, ms, of the current timeline: the earliest
    /// any frame arrived relative to its timestamp. PROGRAM-DATE-TIME is
    /// DTS + this, so it advances exactly with the media; players (hls.js)
    /// that place parts by date and segments by duration then agree.
    pdt_offset_ms: Option<i64>,
    /// The earliest arrival (as above) since the last segment opened.
    segment_arrival_ms: Option<i64>,
    /// Whether the current timeline has a complete segment (its offset no
    /// longer jumps, it slews).
    pdt_settled: bool,
    /// Counts discontinuities: each starts a new timeline and offset.
    epoch: u64,
    /// (epoch, output DTS ms of its first segment) of recent timelines.
    epoch_starts: VecDeque<(u64, i64)>,
    /// Dates taken from another rendition (`follow_dates`), by sequence
    /// number.
    followed: BTreeMap<u64, i64>,
}

/// Where an AAC frame goes on the output timeline, in samples, or None to
/// drop it.
///
/// `next` is where the previous frame ended, `actual` where the frame's own
/// timestamp puts it, `first` whether it opens a part's audio run, and `rate`
/// the sample rate. Frames follow each other exactly while `actual` stays
/// within two frames of that (RTMP's ms timestamps never make jittery
/// durations); beyond, the timeline moves toward `actual` without a step a
/// browser would call a discontinuity. MSE (coded frame processing, step 6)
/// breaks a track when a frame's DTS goes back, or forward by more than twice
/// the previous frame's duration, and Chromium then drops video up to the
/// next keyframe: seconds of stall. Within a part the previous sample's
/// duration covers any step forward; a part's first frame follows a sample
/// of one frame, so it moves at most one frame forward. Audio that falls
/// behind the timeline (a publisher's looped or drifting clock) loses a frame
/// instead of stepping back; only a step back of over a second, which the
/// segmenter treats as a clock reset anyway, restarts the timeline.
fn place_audio(next: Option<u64>, actual: u64, first: bool, rate: u64) -> Option<u64> {
    let Some(n) = next else {
        return Some(actual);
    };
    let drift = actual as i64 - n as i64;
    let frames2 = 2 * AAC_FRAME as i64;
    if drift.abs() < frames2 {
        Some(n)
    } else if drift < 0 {
        (drift < -(rate as i64)).then_some(actual)
    } else if first {
        Some(n + AAC_FRAME)
    } else {
        Some(actual)
    }
}

impl Segmenter {
    /// A segmenter whose first segment is `first_seq` (non-zero when a
    /// restarted packagerd resumes a stream, so numbers keep growing).
    pub fn new(
        stream_id: i64,
        target_ms: i64,
        part_target_ms: i64,
        window: usize,
        first_seq: u64,
    ) -> Segmenter {
        Segmenter {
            stream_id,
            target_ms,
            part_target_cfg_ms: part_target_ms.max(20) as f64,
            part_target_ms: None,
            window,
            keep: window + 2,
            avc: None,
            aac: None,
            init: None,
            inits: BTreeMap::new(),
            configs_changed: false,
            open: None,
            part: OpenPart::default(),
            base_ms: None,
            last_video_dts: None,
            last_audio_dts: None,
            replaying_video: false,
            replaying_audio: false,
            audio_next: None,
            audio_dropped: 0,
            next_seq: first_seq,
            next_part: first_seq * PART_NUMBER_STRIDE,
            fragment_seq: 1,
            disc_pending: first_seq > 0,
            disc_base: first_seq,
            dropped_disc: 0,
            dvr: Dvr::default(),
            segments: VecDeque::new(),
            steps: VecDeque::new(),
            last_main_dts: None,
            shift_video_ms: 0,
            shift_audio_ms: 0,
            high_water_ms: None,
            long_parts: 0,
            forced_cuts: 0,
            ended: false,
            pdt_offset_ms: None,
            segment_arrival_ms: None,
            pdt_settled: false,
            epoch: 0,
            epoch_starts: VecDeque::new(),
            followed: BTreeMap::new(),
        }
    }

    /// Feeds one link message; says whether a part or segment was completed.
    pub fn push(&mut self, msg: LinkMessage) -> Result<Changed, SegmenterError> {
        match msg {
            LinkMessage::VideoConfig(rec) => {
                let cfg = AvcConfig::parse(rec)
                    .map_err(|e| SegmenterError(format!("video config: {e}")))?;
                if self.avc.as_ref().is_none_or(|c| c.record != cfg.record) {
                    self.avc = Some(cfg);
                    self.configs_changed = true;
                }
                Ok(Changed::default())
            }
            LinkMessage::AudioConfig(asc) => {
                let cfg = AacConfig::parse(asc)
                    .map_err(|e| SegmenterError(format!("audio config: {e}")))?;
                if self.aac.as_ref().is_none_or(|c| c.asc != cfg.asc) {
                    self.aac = Some(cfg);
                    self.configs_changed = true;
                }
                Ok(Changed::default())
            }
            LinkMessage::Video(f) => Ok(self.video(f)),
            LinkMessage::Audio(f) => Ok(self.audio(f)),
            LinkMessage::Discontinuity => Ok(self.discontinuity()),
            LinkMessage::End(_) => Ok(self.finish()),
            LinkMessage::Start(info) => {
                // ingestd replays its buffered GOP after a link resume: what
                // this segmenter already has is dropped, not nudged.
                if info.resumed {
                    self.replaying_video = true;
                    self.replaying_audio = true;
                }
                Ok(Changed::default())
            }
        }
    }

    fn ensure_init(&mut self) {
        if self.init.is_some() && !self.configs_changed {
            return;
        }
        let mut tracks = Vec::new();
        if let Some(v) = &self.avc {
            tracks.push(Track {
                id: 1,
                timescale: VIDEO_TIMESCALE,
                config: TrackConfig::Video(v.clone()),
            });
        }
        if let Some(a) = &self.aac {
            tracks.push(Track {
                id: tracks.len() as u32 + 1,
                timescale: a.sample_rate,
                config: TrackConfig::Audio(a.clone()),
            });
        }
        let id = self.next_seq;
        self.inits.insert(id, fmp4::init_segment(&tracks));
        self.init = Some((id, tracks));
        self.configs_changed = false;
    }

    /// Maps a frame onto the output timeline. When the encoder's clock jumps
    /// (reset to zero, leap forward) the track is re-anchored just after the
    /// latest frame so timestamps stay monotonic; a jump of the main track
    /// (video, or audio when there is no video) also starts a new segment
    /// after a discontinuity.
    fn remap(&mut self, mut f: Frame, video: bool) -> (Frame, Changed) {
        let (shift, last, replaying) = if video {
            (
                self.shift_video_ms,
                self.last_video_dts,
                self.replaying_video,
            )
        } else {
            (
                self.shift_audio_ms,
                self.last_audio_dts,
                self.replaying_audio,
            )
        };
        let out = f.dts_ms + shift;
        let back_limit = if replaying {
            MAX_REPLAY_MS
        } else {
            MAX_BACK_STEP_MS
        };
        let jumped = match (last, self.high_water_ms) {
            (Some(l), _) if out < l - back_limit => true,
            (None, Some(h)) if out < h - MAX_REPLAY_MS => true,
            (_, Some(h)) => out > h + MAX_GAP_MS,
            _ => false,
        };
        let mut changed = Changed::default();
        if jumped && let Some(high) = self.high_water_ms {
            let anchored = high + JUMP_STEP_MS;
            let new_shift = anchored - f.dts_ms;
            if video {
                self.shift_video_ms = new_shift;
            } else {
                self.shift_audio_ms = new_shift;
            }
            if video || self.avc.is_none() {
                changed = self.discontinuity();
            } else {
                // The audio timeline carries on (`place_audio` closes the
                // step without a break browsers would see).
                self.last_audio_dts = None;
            }
            f.dts_ms = anchored;
        } else {
            f.dts_ms = out;
        }
        self.high_water_ms = Some(self.high_water_ms.map_or(f.dts_ms, |h| h.max(f.dts_ms)));
        (f, changed)
    }

    fn video(&mut self, f: Frame) -> Changed {
        if self.avc.is_none() || self.ended {
            return Changed::default();
        }
        let (mut f, mut changed) = self.remap(f, true);
        if let Some(last) = self.last_video_dts
            && f.dts_ms <= last
        {
            if self.replaying_video {
                return changed; // replayed after a link resume: already have it
            }
            // A non-increasing DTS from the encoder: keep the frame (later
            // frames may reference it), just after its predecessor.
            f.cts_ms += (f.dts_ms - (last + 1)) as i32;
            f.dts_ms = last + 1;
        } else {
            self.replaying_video = false;
        }
        self.base_ms.get_or_insert(f.dts_ms);
        self.last_video_dts = Some(f.dts_ms);
        let c = self.main_frame(f, true);
        changed.part |= c.part;
        changed.segment |= c.segment;
        changed
    }

    fn audio(&mut self, f: Frame) -> Changed {
        if self.aac.is_none() || self.ended {
            return Changed::default();
        }
        let (f, changed) = self.remap(f, false);
        if self.last_audio_dts.is_some_and(|l| f.dts_ms <= l) {
            return changed; // a replay or a duplicate: audio frames stand alone
        }
        self.replaying_audio = false;
        self.last_audio_dts = Some(f.dts_ms);
        if self.avc.is_some() {
            if self.open.is_none() {
                // Wait for the first keyframe so audio and video start together.
                return changed;
            }
            self.base_ms.get_or_insert(f.dts_ms);
            self.part.audio.push(Pending {
                dts_ms: f.dts_ms,
                frame: f,
            });
            return changed;
        }
        self.base_ms.get_or_insert(f.dts_ms);
        let c = self.main_frame(f, false);
        Changed {
            part: changed.part || c.part,
            segment: changed.segment || c.segment,
        }
    }

    /// The main track's frame duration, ms: AAC frames are exact; video is
    /// the median of recent DTS steps (30 fps until two frames are seen).
    fn frame_ms(&self) -> f64 {
        if self.avc.is_none() {
            return self
                .aac
                .as_ref()
                .map_or(21.333, |a| 1_024_000.0 / a.sample_rate as f64);
        }
        if self.steps.is_empty() {
            return self
                .avc
                .as_ref()
                .and_then(|v| v.fps)
                .filter(|f| *f > 1.0 && *f < 240.0)
                .map_or(1000.0 / 30.0, |f| 1000.0 / f);
        }
        let mut s: Vec<i64> = self.steps.iter().copied().collect();
        s.sort_unstable();
        // Average around the median: ms-rounded steps (33, 33, 34) give 33.3.
        let mid = s.len() / 2;
        let lo = mid.saturating_sub(2);
        let hi = (mid + 3).min(s.len());
        s[lo..hi].iter().sum::<i64>() as f64 / (hi - lo) as f64
    }

    /// `PART-TARGET` in ms: a whole number of frames near the configured
    /// target plus a small margin, so frame-aligned parts never exceed it
    /// with ms-rounded timestamps (n steps span n × frame ± 1 ms) and stay
    /// above 85% of it. The margin is kept small because players hold back
    /// 3 × PART-TARGET: every ms here is 3 ms of latency.
    pub fn part_target_ms(&self) -> f64 {
        if let Some(p) = self.part_target_ms {
            return p;
        }
        let fd = self.frame_ms();
        let n = (self.part_target_cfg_ms / fd).round().max(1.0);
        // Whole ms, so PART-HOLD-BACK = 3 × PART-TARGET prints exactly.
        (n * fd + PART_TARGET_MARGIN_MS.min(fd / 2.0)).ceil()
    }

    /// The longest segment whose duration still rounds to the target.
    fn max_segment_ms(&self) -> f64 {
        let td = (self.target_ms as f64 / 1000.0).round().max(1.0);
        td * 1000.0 + 450.0
    }

    /// A frame of the main track: closes parts and segments before it as
    /// due, then adds it to the current part.
    fn main_frame(&mut self, f: Frame, video: bool) -> Changed {
        if let Some(last) = self.last_main_dts {
            let step = f.dts_ms - last;
            if step > 0 && step < 1000 {
                self.steps.push_back(step);
                if self.steps.len() > 31 {
                    self.steps.pop_front();
                }
            }
        }
        self.last_main_dts = Some(f.dts_ms);
        // Frames never arrive before they were made: until the timeline's
        // first segment is complete, the earliest arrival (relative to its
        // timestamp) is the best estimate of capture time (a late start-up
        // burst would otherwise skew every date after it). After that the
        // estimate only slews (open_segment): players compare the dates of
        // segments they already have across reloads, and hls.js re-places
        // its timeline when they move.
        let arrival = f.wallclock_ms - f.dts_ms;
        if !self.pdt_settled && self.pdt_offset_ms.is_none_or(|o| arrival < o) {
            self.pdt_offset_ms = Some(arrival);
        }
        self.segment_arrival_ms = Some(self.segment_arrival_ms.map_or(arrival, |m| m.min(arrival)));
        let mut changed = Changed::default();
        if let Some((seg_start, seg_independent)) =
            self.open.as_ref().map(|o| (o.start_ms, o.independent))
            && self.part.start_ms.is_some()
        {
            let start = self.part.start_ms.unwrap_or(f.dts_ms);
            if (f.dts_ms - start) as f64 > self.part_target_ms() && self.main_frames() >= 2 {
                // This frame came late (a gap, a DTS step): end the part
                // before its last frame, which opens the next part, so the
                // part stays within PART-TARGET.
                if let Some(last) = self.pop_main(video) {
                    self.close_part(last.dts_ms);
                    self.part.start_ms = Some(last.dts_ms);
                    self.part.independent = last.frame.keyframe;
                    self.push_main(video, last);
                    changed.part = true;
                }
            }
            let seg_d = f.dts_ms - seg_start;
            let needs_new_init = self.configs_changed && f.keyframe;
            if f.keyframe
                && seg_d > 0
                && (seg_d >= self.target_ms - CUT_TOLERANCE_MS
                    || !seg_independent
                    || needs_new_init)
            {
                self.close_part(f.dts_ms);
                self.close_segment();
                changed = Changed {
                    part: true,
                    segment: true,
                };
            } else {
                let pt = self.part_target_ms();
                let start = self.part.start_ms.unwrap_or(f.dts_ms);
                if (f.dts_ms - start) as f64 + self.frame_ms() > pt {
                    self.close_part(f.dts_ms);
                    changed.part = true;
                }
                let next_start = self.part.start_ms.unwrap_or(f.dts_ms);
                if changed.part && (next_start - seg_start) as f64 + pt > self.max_segment_ms() {
                    // No keyframe in time: cut anyway, the next segment is
                    // not independent (players join at an independent part).
                    self.close_segment();
                    self.forced_cuts += 1;
                    changed.segment = true;
                    self.open_segment(next_start, false);
                }
            }
        }
        if self.open.is_none() {
            if !f.keyframe {
                return changed; // a stream starts with a keyframe
            }
            self.open_segment(f.dts_ms, true);
        }
        if self.part.start_ms.is_none() {
            self.part.start_ms = Some(f.dts_ms);
            self.part.independent = f.keyframe;
        }
        self.push_main(
            video,
            Pending {
                dts_ms: f.dts_ms,
                frame: f,
            },
        );
        changed
    }

    fn main_frames(&self) -> usize {
        if self.avc.is_some() {
            self.part.video.len()
        } else {
            self.part.audio.len()
        }
    }

    fn pop_main(&mut self, video: bool) -> Option<Pending> {
        if video {
            self.part.video.pop()
        } else {
            self.part.audio.pop()
        }
    }

    fn push_main(&mut self, video: bool, p: Pending) {
        if video {
            self.part.video.push(p);
        } else {
            self.part.audio.push(p);
        }
    }

    fn open_segment(&mut self, start_ms: i64, independent: bool) {
        // Once settled, the estimate follows the last segment's earliest
        // arrival (the encoder's clock drifting against ours, a burst from
        // a sender running ahead) by at most PDT_SLEW_MS per segment, so
        // dates never step.
        let m = self.segment_arrival_ms.take();
        if self.pdt_settled
            && let (Some(o), Some(m)) = (self.pdt_offset_ms, m)
        {
            self.pdt_offset_ms = Some(o + (m - o).clamp(-PDT_SLEW_MS, PDT_SLEW_MS));
        }
        if independent {
            self.ensure_init();
        }
        let Some((init_id, tracks)) = self.init.clone() else {
            return;
        };
        if self.epoch_starts.back().is_none_or(|e| e.0 != self.epoch) {
            self.epoch_starts.push_back((self.epoch, start_ms));
            if self.epoch_starts.len() > 64 {
                self.epoch_starts.pop_front();
            }
        }
        self.open = Some(OpenSegment {
            start_ms,
            discontinuity: std::mem::take(&mut self.disc_pending),
            independent,
            init_id,
            tracks,
            parts: Vec::new(),
            video_frames: 0,
            spans: Vec::new(),
        });
    }

    fn to_video_ticks(&self, ms: i64) -> u64 {
        ((ms - self.base_ms.unwrap_or(ms) + HEADROOM_MS).max(0) as u64)
            * (VIDEO_TIMESCALE as u64 / 1000)
    }

    /// Closes the current part at `end_ms` (where the next one starts).
    fn close_part(&mut self, end_ms: i64) {
        let Some(open) = self.open.as_ref() else {
            return;
        };
        let tracks = open.tracks.clone();
        let mut part = std::mem::take(&mut self.part);
        let Some(start_ms) = part.start_ms else {
            self.part = part;
            return;
        };
        let has_video = tracks
            .iter()
            .any(|t| matches!(t.config, TrackConfig::Video(_)));
        // Audio at or after the cut belongs to the next part.
        let carry = if has_video {
            let at = part
                .audio
                .iter()
                .position(|a| a.dts_ms >= end_ms)
                .unwrap_or(part.audio.len());
            part.audio.split_off(at)
        } else {
            Vec::new()
        };
        let mut runs_samples: Vec<(u32, u64, Vec<Sample>)> = Vec::new();
        let mut duration = 0f64;
        let mut video_frames = 0;
        for t in &tracks {
            match &t.config {
                TrackConfig::Video(_) => {
                    let end = self.to_video_ticks(end_ms);
                    let samples: Vec<Sample> = part
                        .video
                        .iter()
                        .enumerate()
                        .map(|(i, p)| {
                            let this = self.to_video_ticks(p.dts_ms);
                            let next = part
                                .video
                                .get(i + 1)
                                .map_or(end, |n| self.to_video_ticks(n.dts_ms));
                            Sample {
                                duration: next.saturating_sub(this).max(1) as u32,
                                cts_offset: p.frame.cts_ms.saturating_mul(90),
                                keyframe: p.frame.keyframe,
                                data: p.frame.data.clone(),
                            }
                        })
                        .collect();
                    video_frames = samples.len() as u32;
                    let total: u64 = samples.iter().map(|s| s.duration as u64).sum();
                    duration = total as f64 / VIDEO_TIMESCALE as f64;
                    runs_samples.push((t.id, self.to_video_ticks(start_ms), samples));
                }
                TrackConfig::Audio(a) => {
                    let rate = a.sample_rate as i64;
                    // Positions on the output timeline (see `place_audio`).
                    let mut kept: Vec<(u64, &Pending)> = Vec::with_capacity(part.audio.len());
                    for p in &part.audio {
                        let actual = ((p.dts_ms - self.base_ms.unwrap_or(p.dts_ms) + HEADROOM_MS)
                            .max(0)
                            * rate
                            / 1000) as u64;
                        match place_audio(self.audio_next, actual, kept.is_empty(), rate as u64) {
                            Some(at) => {
                                kept.push((at, p));
                                self.audio_next = Some(at + AAC_FRAME);
                            }
                            None => self.audio_dropped += 1,
                        }
                    }
                    let samples: Vec<Sample> = kept
                        .iter()
                        .enumerate()
                        .map(|(i, (at, p))| Sample {
                            duration: kept
                                .get(i + 1)
                                // A clock reset steps back: 1, not an underflow.
                                .map_or(AAC_FRAME as u32, |n| {
                                    n.0.saturating_sub(*at).clamp(1, 1 << 20) as u32
                                }),
                            cts_offset: 0,
                            keyframe: true,
                            data: p.frame.data.clone(),
                        })
                        .collect();
                    if !has_video {
                        let total: u64 = samples.iter().map(|s| s.duration as u64).sum();
                        duration = total as f64 / rate as f64;
                    }
                    if let Some((b, _)) = kept.first() {
                        runs_samples.push((t.id, *b, samples));
                    }
                }
            }
        }
        let runs: Vec<TrackRun<'_>> = runs_samples
            .iter()
            .map(|(id, base, s)| TrackRun {
                track_id: *id,
                base_decode_time: *base,
                samples: s,
            })
            .collect();
        let data = fmp4::media_segment(self.fragment_seq, &runs);
        self.fragment_seq = self.fragment_seq.wrapping_add(1);
        if self.part_target_ms.is_none() {
            self.part_target_ms = Some(self.part_target_ms());
        }
        if duration * 1000.0 > self.part_target_ms() + 0.5 {
            self.long_parts += 1;
        }
        let number = self.next_part;
        self.next_part += 1;
        let Some(open) = self.open.as_mut() else {
            return;
        };
        for (id, base, samples) in &runs_samples {
            let duration: u64 = samples.iter().map(|s| s.duration as u64).sum();
            let bytes: u64 = samples.iter().map(|s| s.data.len() as u64).sum();
            match open.spans.iter_mut().find(|x| x.track_id == *id) {
                Some(x) => {
                    x.duration = (base + duration).saturating_sub(x.base);
                    x.bytes += bytes;
                }
                None if !samples.is_empty() => open.spans.push(TrackSpan {
                    track_id: *id,
                    base: *base,
                    duration,
                    bytes,
                }),
                None => {}
            }
        }
        open.video_frames += video_frames;
        open.parts.push(Part {
            number,
            entry: PartEntry {
                duration,
                uri: format!("s{}-p{number}.m4s", self.stream_id),
                independent: part.independent,
            },
            data,
        });
        self.part = OpenPart {
            audio: carry,
            ..OpenPart::default()
        };
    }

    /// Closes the current segment (its last part must be closed already).
    fn close_segment(&mut self) -> bool {
        let Some(open) = self.open.take() else {
            return false;
        };
        if open.parts.is_empty() {
            return false;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut data = BytesMut::with_capacity(open.parts.iter().map(|p| p.data.len()).sum());
        for p in &open.parts {
            data.extend_from_slice(&p.data);
        }
        self.segments.push_back(Segment {
            entry: SegmentEntry {
                seq,
                duration: open.parts.iter().map(|p| p.entry.duration).sum(),
                uri: format!("s{}-{seq}.m4s", self.stream_id),
                map_uri: format!("s{}-init-{}.mp4", self.stream_id, open.init_id),
                discontinuity: open.discontinuity,
                // Set from the timeline's offset when listed or frozen.
                program_date_time_ms: None,
                independent: open.independent,
                // Filled from `parts` while the segment is near the live edge.
                parts: Vec::new(),
            },
            data: data.freeze(),
            video_frames: open.video_frames,
            parts: open.parts,
            start_ms: open.start_ms,
            epoch: self.epoch,
            init_id: open.init_id,
            tracks: open.tracks,
            spans: open.spans,
            recorded: false,
        });
        self.pdt_settled = true;
        while self.segments.len() > self.keep {
            let Some(old) = self.segments.pop_front() else {
                break;
            };
            if old.entry.discontinuity {
                self.dropped_disc += 1;
            }
            self.retire_into_dvr(old);
        }
        let n = self.segments.len();
        for s in self
            .segments
            .iter_mut()
            .take(n.saturating_sub(KEPT_PART_SEGMENTS))
        {
            s.parts.clear();
        }
        self.drop_unused_inits();
        true
    }

    /// Turns on the DVR window: up to `ms` of media that has left memory
    /// stays listed, served from the recording (0: off).
    pub fn set_dvr(&mut self, ms: i64) {
        self.dvr.limit_ms = ms.max(0);
        if ms > 0 {
            // Memory holds more than a delta update keeps (six target
            // durations), so a delta skips the whole pre-rendered DVR part.
            self.keep = self.keep.max(DVR_MIN_HELD);
        }
    }

    /// Marks a held segment as recorded.
    pub fn mark_recorded(&mut self, seq: u64) {
        if let Some(s) = self.segments.iter_mut().find(|s| s.entry.seq == seq) {
            s.recorded = true;
        }
    }

    /// A segment leaving memory joins the DVR window when it is in the
    /// recording; one that is not breaks the window (a live playlist has no
    /// gaps), which starts again after it.
    fn retire_into_dvr(&mut self, s: Segment) {
        if self.dvr.limit_ms == 0 {
            return;
        }
        if !s.recorded {
            self.dvr.clear();
            return;
        }
        let mut e = s.entry;
        if s.epoch == self.epoch {
            e.program_date_time_ms = self.listed_date(e.seq, s.start_ms);
        }
        // Not `clear`: that keeps the parts' capacity, ~400 B a segment
        // for the window's hours.
        e.parts = Vec::new();
        self.dvr.push(e, self.stream_id, s.init_id);
    }

    /// The DVR window's segments' recording objects.
    pub fn dvr_objects(&self) -> Arc<DvrObjects> {
        self.dvr.objects.clone()
    }

    fn drop_unused_inits(&mut self) {
        let used: Vec<String> = self
            .segments
            .iter()
            .map(|s| s.entry.map_uri.clone())
            .collect();
        let current = self.init.as_ref().map(|i| i.0);
        let sid = self.stream_id;
        self.inits.retain(|id, _| {
            Some(*id) == current || used.iter().any(|u| *u == format!("s{sid}-init-{id}.mp4"))
        });
    }

    /// Closes what is being written: the last frame lasts one frame duration.
    fn close_all(&mut self) -> Changed {
        let last = self
            .part
            .video
            .last()
            .or(self.part.audio.last())
            .map(|p| p.dts_ms);
        let mut changed = Changed::default();
        if let Some(last) = last
            && self.open.is_some()
        {
            let end = last + (self.frame_ms().round() as i64).max(1);
            self.close_part(end);
            changed.part = true;
        }
        changed.segment = self.close_segment();
        self.part = OpenPart::default();
        changed
    }

    fn discontinuity(&mut self) -> Changed {
        let changed = self.close_all();
        // The old timeline's dates are final; the next gets its own offset.
        for i in 0..self.segments.len() {
            if self.segments[i].epoch == self.epoch {
                let pdt = self.pdt_ms(self.segments[i].start_ms);
                self.segments[i].entry.program_date_time_ms = pdt;
            }
        }
        self.epoch += 1;
        self.pdt_offset_ms = None;
        self.segment_arrival_ms = None;
        self.pdt_settled = false;
        self.disc_pending = true;
        self.last_video_dts = None;
        self.last_audio_dts = None;
        self.last_main_dts = None;
        self.audio_next = None;
        changed
    }

    /// Closes the last segment and marks the playlist ended.
    pub fn finish(&mut self) -> Changed {
        if self.ended {
            return Changed::default();
        }
        let mut changed = self.close_all();
        self.ended = true;
        changed.segment = true;
        changed
    }

    /// Whether the stream has ended.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// The media sequence number of the segment being written (the next one).
    pub fn open_msn(&self) -> u64 {
        self.next_seq
    }

    /// Parts of the segment being written.
    pub fn open_parts(&self) -> &[Part] {
        self.open.as_ref().map_or(&[], |o| &o.parts)
    }

    /// The number the next part will carry.
    pub fn next_part_number(&self) -> u64 {
        self.next_part
    }

    /// URI of a part by number.
    pub fn part_uri(&self, number: u64) -> String {
        format!("s{}-p{number}.m4s", self.stream_id)
    }

    /// The live media playlist.
    pub fn playlist(&self) -> MediaPlaylist {
        // With a DVR window every held segment is listed after it (the
        // window's last one is the oldest still in memory).
        let start = if self.dvr.limit_ms > 0 {
            0
        } else {
            self.segments.len().saturating_sub(self.window)
        };
        let listed = self.segments.len() - start;
        let mut segments: Vec<SegmentEntry> = Vec::with_capacity(listed);
        segments.extend(self.segments.iter().skip(start).enumerate().map(|(i, s)| {
            let mut e = s.entry.clone();
            if s.epoch == self.epoch {
                e.program_date_time_ms = self.listed_date(e.seq, s.start_ms);
            }
            if !self.ended && i + LISTED_PART_SEGMENTS >= listed {
                e.parts = s.parts.iter().map(|p| p.entry.clone()).collect();
            }
            e
        }));
        // Each discontinuity that has left the window counts (RFC 8216bis 6.2.1),
        // on top of the base a resumed stream starts from; those the DVR
        // window still lists do not.
        let before = self
            .segments
            .iter()
            .take(start)
            .filter(|s| s.entry.discontinuity)
            .count() as u64;
        let open = self.open.as_ref();
        MediaPlaylist {
            target_duration: self.target_ms as f64 / 1000.0,
            discontinuity_sequence: self.disc_base + self.dropped_disc - self.dvr.discontinuities
                + before,
            segments,
            ended: self.ended,
            low_latency: Some(LowLatency {
                part_target: self.part_target_ms() / 1000.0,
                open_parts: open.map_or_else(Vec::new, |o| {
                    o.parts.iter().map(|p| p.entry.clone()).collect()
                }),
                open_discontinuity: open.is_some_and(|o| o.discontinuity),
                open_map_uri: open.map(|o| format!("s{}-init-{}.mp4", self.stream_id, o.init_id)),
                open_program_date_time_ms: open
                    .and_then(|o| self.listed_date(self.next_seq, o.start_ms)),
                preload_hint: (!self.ended).then(|| self.part_uri(self.next_part)),
                rendition_reports: Vec::new(),
            }),
            head: self.dvr.rendered.clone(),
        }
    }

    /// The dates this segmenter lists for its current timeline's held
    /// segments and the open one: (sequence number, PROGRAM-DATE-TIME).
    pub fn dates(&self) -> Vec<(u64, i64)> {
        let mut out: Vec<(u64, i64)> = self
            .segments
            .iter()
            .filter(|s| s.epoch == self.epoch)
            .filter_map(|s| Some((s.entry.seq, self.pdt_ms(s.start_ms)?)))
            .collect();
        if let Some(d) = self.open.as_ref().and_then(|o| self.pdt_ms(o.start_ms)) {
            out.push((self.next_seq, d));
        }
        out
    }

    /// Dates this rendition's segments as another rendition dates the
    /// same sequence numbers (`dates`): an ABR rung by its source. Each
    /// estimates its clock apart and the transcoder's timestamps round
    /// apart, so their dates differ by a millisecond or two; hls.js,
    /// switching to a level whose copy of a segment is dated 1 ms later,
    /// takes the buffer's end for the segment before and loads its last
    /// parts again (bench/README.md, "switching down"). A date further than
    /// PDT_FOLLOW_MS from this one's own is not taken (another timeline).
    pub fn follow_dates(&mut self, dates: &[(u64, i64)]) {
        self.followed.clear();
        for &(seq, date) in dates {
            let own = if seq == self.next_seq {
                self.open.as_ref().map(|o| (o.start_ms, self.epoch))
            } else {
                self.segments
                    .iter()
                    .find(|s| s.entry.seq == seq)
                    .map(|s| (s.start_ms, s.epoch))
            };
            let Some((start, epoch)) = own else { continue };
            if epoch == self.epoch
                && self
                    .pdt_ms(start)
                    .is_some_and(|d| (d - date).abs() <= PDT_FOLLOW_MS)
            {
                self.followed.insert(seq, date);
            }
        }
    }

    /// The date listed for segment `seq` of the current timeline starting
    /// at output DTS `start_ms`: the followed rendition's, else its own.
    fn listed_date(&self, seq: u64, start_ms: i64) -> Option<i64> {
        self.followed
            .get(&seq)
            .copied()
            .or_else(|| self.pdt_ms(start_ms))
    }

    /// PROGRAM-DATE-TIME (Unix ms) of output DTS `dts_ms` on the current
    /// timeline.
    fn pdt_ms(&self, dts_ms: i64) -> Option<i64> {
        self.pdt_offset_ms.map(|o| dts_ms + o)
    }

    /// Where this rendition's playlist ends, for the other renditions'
    /// EXT-X-RENDITION-REPORT: the last segment (the open one once it has a
    /// part) and the index of its last part.
    pub fn report(&self, uri: String) -> Option<RenditionReport> {
        let open = self.open.as_ref()?;
        if !open.parts.is_empty() {
            return Some(RenditionReport {
                uri,
                last_msn: self.next_seq,
                last_part: Some(open.parts.len() as u64 - 1),
            });
        }
        let last = self.segments.back()?;
        Some(RenditionReport {
            uri,
            last_msn: last.entry.seq,
            last_part: last.parts.len().checked_sub(1).map(|p| p as u64),
        })
    }

    /// The segments of the playlist window, for the DASH manifest.
    pub fn dash_segments(&self) -> Vec<DashSegment> {
        let start = self.segments.len().saturating_sub(self.window);
        self.segments
            .iter()
            .skip(start)
            .map(|s| {
                let pdt_ms = if s.epoch == self.epoch {
                    self.pdt_ms(s.start_ms)
                } else {
                    s.entry.program_date_time_ms
                };
                let epoch_start = self
                    .epoch_starts
                    .iter()
                    .find(|e| e.0 == s.epoch)
                    .map_or(s.start_ms, |e| e.1);
                DashSegment {
                    seq: s.entry.seq,
                    epoch: s.epoch,
                    init_id: s.init_id,
                    uri: s.entry.uri.clone(),
                    map_uri: s.entry.map_uri.clone(),
                    pdt_ms,
                    epoch_start_ticks: self.to_video_ticks(epoch_start),
                    epoch_pdt_ms: pdt_ms.map(|p| p - (s.start_ms - epoch_start)),
                    duration: s.entry.duration,
                    tracks: s.tracks.clone(),
                    spans: s.spans.clone(),
                }
            })
            .collect()
    }

    /// Every segment still held (the playlist window plus two older ones
    /// for clients slightly behind).
    pub fn held(&self) -> impl Iterator<Item = &Segment> {
        self.segments.iter()
    }

    /// Every init segment still referenced.
    pub fn inits(&self) -> &BTreeMap<u64, Bytes> {
        &self.inits
    }

    /// The variant entry for the multivariant playlist, once a segment exists.
    pub fn variant(&self, uri: &str) -> Option<Variant> {
        let segs: Vec<&Segment> = self.segments.iter().rev().take(self.window).collect();
        if segs.is_empty() {
            return None;
        }
        let rates: Vec<f64> = segs
            .iter()
            .filter(|s| s.entry.duration > 0.1)
            .map(|s| s.data.len() as f64 * 8.0 / s.entry.duration)
            .collect();
        let peak = rates.iter().copied().fold(0.0, f64::max);
        let total_bytes: usize = segs.iter().map(|s| s.data.len()).sum();
        let total_dur: f64 = segs.iter().map(|s| s.entry.duration).sum();
        let avg = if total_dur > 0.0 {
            total_bytes as f64 * 8.0 / total_dur
        } else {
            peak
        };
        let frames: u32 = segs.iter().map(|s| s.video_frames).sum();
        let mut codecs = Vec::new();
        if let Some(v) = &self.avc {
            codecs.push(v.codec_string());
        }
        if let Some(a) = &self.aac {
            codecs.push(a.codec_string());
        }
        let frame_rate = self.avc.as_ref().map(|v| {
            if frames > 0 && total_dur > 0.0 {
                (frames as f64 / total_dur * 1000.0).round() / 1000.0
            } else {
                v.fps.unwrap_or(30.0)
            }
        });
        Some(Variant {
            bandwidth: (peak.max(avg) * 1.1) as u64 + 1,
            average_bandwidth: Some(avg as u64 + 1),
            codecs,
            resolution: self.avc.as_ref().map(|v| (v.width, v.height)),
            frame_rate,
            uri: uri.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use stage_media::link::Frame;
    use stage_media::testdata::{ASC_48K_STEREO, AVCC_720P};

    fn frame(dts: i64, key: bool) -> Frame {
        Frame {
            dts_ms: dts,
            cts_ms: 0,
            keyframe: key,
            wallclock_ms: 1_000_000 + dts,
            data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
        }
    }
    fn v(dts: i64, key: bool) -> LinkMessage {
        LinkMessage::Video(frame(dts, key))
    }
    fn a(dts: i64) -> LinkMessage {
        LinkMessage::Audio(Frame {
            dts_ms: dts,
            cts_ms: 0,
            keyframe: true,
            wallclock_ms: 1_000_000 + dts,
            data: Bytes::from_static(&[0x21, 0x10]),
        })
    }
    /// `m` arriving `late` ms later than `frame` says.
    fn late(m: LinkMessage, late: i64) -> LinkMessage {
        match m {
            LinkMessage::Video(mut f) => {
                f.wallclock_ms += late;
                LinkMessage::Video(f)
            }
            LinkMessage::Audio(mut f) => {
                f.wallclock_ms += late;
                LinkMessage::Audio(f)
            }
            m => m,
        }
    }
    fn configured() -> Segmenter {
        let mut s = Segmenter::new(7, 2000, 200, 6, 0);
        s.push(LinkMessage::VideoConfig(Bytes::from_static(AVCC_720P)))
            .unwrap();
        s.push(LinkMessage::AudioConfig(Bytes::from_static(ASC_48K_STEREO)))
            .unwrap();
        s
    }
    /// 30 fps video (keyframe every `gop` frames) and 48 kHz AAC on one
    /// absolute grid, for the frames whose time falls in [from_ms, from_ms + ms).
    fn feed(s: &mut Segmenter, from_ms: i64, ms: i64, gop: i64) {
        feed_late(s, from_ms, ms, gop, &|_| 0);
    }
    /// `feed`, each frame arriving `lag(dts)` ms late.
    fn feed_late(s: &mut Segmenter, from_ms: i64, ms: i64, gop: i64, lag: &dyn Fn(i64) -> i64) {
        let end = from_ms + ms;
        let mut vi = (from_ms * 30 + 999) / 1000;
        let mut ai = (from_ms * 48000 + 1_023_999) / 1_024_000;
        loop {
            let vt = vi * 1000 / 30;
            let at = ai * 1024 * 1000 / 48000;
            if vt >= end && at >= end {
                break;
            }
            if vt <= at && vt < end {
                s.push(late(v(vt, vi % gop == 0), lag(vt))).unwrap();
                vi += 1;
            } else {
                s.push(late(a(at), lag(at))).unwrap();
                ai += 1;
            }
        }
    }

    /// A rung that follows its source's dates lists the same dates for the
    /// same segments, though its own estimate differs; one on another
    /// timeline keeps its own.
    #[test]
    fn a_rendition_follows_another_ones_dates() {
        let listed = |s: &Segmenter| -> Vec<(u64, i64)> {
            let p = s.playlist();
            let mut d: Vec<(u64, i64)> = p
                .segments
                .iter()
                .map(|e| (e.seq, e.program_date_time_ms.unwrap()))
                .collect();
            let ll = p.low_latency.unwrap();
            d.push((s.open_msn(), ll.open_program_date_time_ms.unwrap()));
            d
        };
        let mut source = configured();
        let mut rung = configured();
        // The source's frames arrive on time; the rung's (through the
        // transcoder) 40-43 ms later, varying, so its estimate slews apart.
        feed(&mut source, 0, 12_100, 60);
        feed_late(&mut rung, 0, 12_100, 60, &|t| 40 + (t / 2000) % 4);
        assert_eq!(listed(&source), source.dates());
        assert_ne!(listed(&source), listed(&rung), "estimated apart");
        rung.follow_dates(&source.dates());
        assert_eq!(listed(&source), listed(&rung));
        // Another timeline (timestamps from 0 again, an hour later by the
        // wall clock): not followed.
        let mut other = configured();
        feed_late(&mut other, 0, 12_100, 60, &|_| 3_600_000);
        let before = listed(&other);
        other.follow_dates(&source.dates());
        assert_eq!(before, listed(&other));
        // Nothing to follow: its own dates again.
        let own = {
            let mut r = configured();
            feed_late(&mut r, 0, 12_100, 60, &|t| 40 + (t / 2000) % 4);
            listed(&r)
        };
        rung.follow_dates(&[]);
        assert_eq!(listed(&rung), own);
    }

    /// DASH: a period per timeline, each starting at its timeline's first
    /// date, and every segment's media time mapping to its own date.
    #[test]
    fn dash_periods_follow_timelines_and_dates() {
        let mut s = configured();
        feed(&mut s, 0, 6100, 60);
        s.push(LinkMessage::Discontinuity).unwrap();
        feed(&mut s, 20_000, 6100, 60);
        let segs = s.dash_segments();
        assert_eq!(segs.len(), 6);
        let mut epochs: Vec<u64> = segs.iter().map(|x| x.epoch).collect();
        epochs.dedup();
        assert_eq!(epochs.len(), 2, "two timelines: {epochs:?}");
        assert!(segs[..3].iter().all(|x| x.epoch == epochs[0]));
        let video = |x: &DashSegment| x.spans.iter().find(|t| t.track_id == 1).unwrap().base;
        for x in &segs {
            // The timeline began at or before its first listed segment
            // (older ones have left the window).
            let first = segs.iter().find(|y| y.epoch == x.epoch).unwrap();
            assert!(x.epoch_start_ticks <= video(first));
            // Date = the timeline's first date + media time since its start.
            let media_ms = (video(x) - x.epoch_start_ticks) as i64 / 90;
            assert_eq!(x.pdt_ms.unwrap(), x.epoch_pdt_ms.unwrap() + media_ms);
            // Audio and video spans cover the segment.
            let audio = x.spans.iter().find(|t| t.track_id == 2).unwrap();
            // (within a few AAC frames: audio is cut at the video frames)
            assert!((audio.duration as f64 / 48_000.0 - x.duration).abs() < 0.1);
            assert!(audio.bytes > 0);
        }
        let snap = crate::registry::Snapshot {
            dash: segs.clone(),
            ..Default::default()
        };
        let ast = 990_000;
        let mpd = crate::dash::manifest(&[("source", &snap)], ast, 1_030_000, 2.0).unwrap();
        assert_eq!(mpd.matches("<Period ").count(), 2, "{mpd}");
        for epoch in epochs {
            let x = segs.iter().find(|y| y.epoch == epoch).unwrap();
            let start = format!(
                "<Period id=\"e{epoch}-i{}\" start=\"PT{:.3}S\">",
                x.init_id,
                (x.epoch_pdt_ms.unwrap() - ast) as f64 / 1000.0
            );
            assert!(mpd.contains(&start), "{start} in {mpd}");
            // Video and audio offsets name the same instant.
            let v = format!("presentationTimeOffset=\"{}\"", x.epoch_start_ticks);
            let a = format!(
                "presentationTimeOffset=\"{}\"",
                x.epoch_start_ticks * 48_000 / 90_000
            );
            assert!(mpd.contains(&v) && mpd.contains(&a), "{v} {a} in {mpd}");
            let number = format!("startNumber=\"{}\"", x.seq);
            assert!(mpd.contains(&number), "{mpd}");
        }
        assert!(mpd.contains("media=\"source/s7-$Number$.t1.m4s\""), "{mpd}");
        assert!(
            mpd.contains("initialization=\"source/s7-init-0.t2.mp4\""),
            "{mpd}"
        );
    }

    #[test]
    fn cuts_at_keyframes_after_the_target() {
        let mut s = configured();
        feed(&mut s, 0, 9000, 60);
        let p = s.playlist();
        assert_eq!(p.segments.len(), 4, "{}", p.render());
        for seg in &p.segments {
            assert!((seg.duration - 2.0).abs() < 0.01, "{}", seg.duration);
        }
        assert_eq!(p.segments[0].map_uri, "s7-init-0.mp4");
        assert!(s.inits().contains_key(&0));
    }

    #[test]
    fn a_long_gop_cuts_segments_within_the_target_duration() {
        let mut s = configured();
        feed(&mut s, 0, 13000, 150); // keyframes every 5 s
        let p = s.playlist();
        let text = p.render();
        assert!(text.contains("#EXT-X-TARGETDURATION:2\n"), "{text}");
        assert!(
            p.segments.iter().all(|x| x.duration.round() <= 2.0),
            "{text}"
        );
        assert!(s.forced_cuts > 0);
        // Segments that do not start with a keyframe are flagged, and the
        // playlist no longer claims independent segments.
        assert!(p.segments.iter().any(|x| !x.independent));
        assert!(!text.contains("INDEPENDENT-SEGMENTS"), "{text}");
        // Each keyframe still starts a segment.
        for k in [5000.0, 10000.0] {
            let mut t: f64 = 0.0;
            let mut found = false;
            for seg in s.held() {
                if (t * 1000.0 - k).abs() < 1.0 {
                    found = seg.entry.independent;
                }
                t += seg.entry.duration;
            }
            assert!(found, "no independent segment at {k} ms: {text}");
        }
    }

    #[test]
    fn discontinuity_closes_the_segment_and_flags_the_next() {
        let mut s = configured();
        feed(&mut s, 0, 3000, 60);
        s.push(LinkMessage::Discontinuity).unwrap();
        s.push(LinkMessage::VideoConfig(Bytes::from_static(
            stage_media::testdata::AVCC_1080P,
        )))
        .unwrap();
        feed(&mut s, 3100, 4100, 60);
        let p = s.playlist();
        let text = p.render();
        assert_eq!(text.matches("#EXT-X-DISCONTINUITY\n").count(), 1, "{text}");
        // New SPS after the reconnect: a new init segment.
        assert_eq!(text.matches("#EXT-X-MAP").count(), 2, "{text}");
        let disc = p.segments.iter().position(|x| x.discontinuity).unwrap();
        assert!((p.segments[disc - 1].duration - 1.0).abs() < 0.05, "{text}");
    }

    #[test]
    fn discontinuity_sequence_counts_discontinuities_that_left_the_window() {
        let mut s = Segmenter::new(1, 2000, 200, 3, 0);
        s.push(LinkMessage::VideoConfig(Bytes::from_static(AVCC_720P)))
            .unwrap();
        feed(&mut s, 0, 4100, 60);
        s.push(LinkMessage::Discontinuity).unwrap();
        feed(&mut s, 5000, 12100, 60);
        let p = s.playlist();
        assert_eq!(p.segments.len(), 3);
        assert!(p.segments.iter().all(|x| !x.discontinuity));
        assert_eq!(p.discontinuity_sequence, 1, "{}", p.render());
    }

    /// Marks every held segment as recorded (what the registry does once
    /// the recorder has written them).
    fn record_all(s: &mut Segmenter) {
        let seqs: Vec<u64> = s.held().map(|x| x.entry.seq).collect();
        for q in seqs {
            s.mark_recorded(q);
        }
    }

    #[test]
    fn the_dvr_window_lists_recorded_segments_that_left_memory() {
        let mut s = Segmenter::new(1, 2000, 200, 3, 0);
        s.set_dvr(20_000);
        s.push(LinkMessage::VideoConfig(Bytes::from_static(AVCC_720P)))
            .unwrap();
        // 2 s segments, recorded as they finish; a discontinuity at 10 s.
        for t in (0..10_000).step_by(1000) {
            feed(&mut s, t, 1000, 60);
            record_all(&mut s);
        }
        s.push(LinkMessage::Discontinuity).unwrap();
        for t in (11_000..41_000).step_by(1000) {
            feed(&mut s, t, 1000, 60);
            record_all(&mut s);
        }
        // The discontinuity is still in the DVR window: tagged there, not
        // counted.
        let p = s.playlist();
        assert_eq!(p.discontinuity_sequence, 0, "{}", p.render());
        let head = p.head.clone().expect("a DVR window");
        assert_eq!(head.text.matches("#EXT-X-DISCONTINUITY\n").count(), 1);
        let d = head.text.find("#EXT-X-DISCONTINUITY\n").unwrap();
        let uri = head.text[d..]
            .lines()
            .find(|l| l.starts_with("s1-"))
            .unwrap();
        assert!(
            s.dvr_objects().get(uri).unwrap().ends_with("_d.m4s"),
            "{uri}"
        );
        for t in (41_000..61_000).step_by(1000) {
            feed(&mut s, t, 1000, 60);
            record_all(&mut s);
        }
        let p = s.playlist();
        let text = p.render();
        let held: Vec<u64> = s.held().map(|x| x.entry.seq).collect();
        // Every held segment is listed (not just the last 3), after the DVR
        // entries, with no gap in the numbers.
        let live: Vec<u64> = p.segments.iter().map(|x| x.seq).collect();
        assert_eq!(live, held);
        let head = p.head.clone().expect("a DVR window");
        assert_eq!(head.first_seq + head.count as u64, held[0], "{text}");
        assert_eq!(p.len(), head.count + held.len());
        // The DVR part: at most 20 s, from the recording, with dates.
        assert!(
            (18.0..=20.0).contains(&head.secs),
            "{} s of DVR: {text}",
            head.secs
        );
        // Listed under their live URIs, each mapped to its recording object.
        let objects = s.dvr_objects();
        assert_eq!(objects.len(), head.count);
        for seq in head.first_seq..head.first_seq + head.count as u64 {
            let uri = format!("s1-{seq}.m4s");
            assert!(text.contains(&format!("\n{uri}\n")), "{uri}: {text}");
            let name = objects.get(&uri).unwrap();
            assert!(name.starts_with(&format!("{seq:010}_2")), "{name}");
        }
        // Nothing for a segment that has left the window, one still held,
        // another stream's, or a part.
        let held_uri = format!("s1-{}.m4s", held[0]);
        let gone = format!("s1-{}.m4s", head.first_seq - 1);
        let other = format!("s2-{}.m4s", head.first_seq);
        for uri in [held_uri.as_str(), &gone, &other, "s1-p10.m4s", "s1-.m4s"] {
            assert_eq!(objects.get(uri), None, "{uri}");
        }
        assert!(!text.contains("rec/"), "{text}");
        // (One more: the open segment's.)
        assert_eq!(
            text.matches("#EXT-X-PROGRAM-DATE-TIME").count(),
            p.len() + 1,
            "{text}"
        );
        assert!(
            text.contains(&format!("#EXT-X-MEDIA-SEQUENCE:{}\n", head.first_seq)),
            "{text}"
        );
        // The discontinuity has left even the DVR window: counted.
        assert!(!text.contains("#EXT-X-DISCONTINUITY\n"), "{text}");
        assert_eq!(p.discontinuity_sequence, 1, "{text}");
        // A delta update skips the whole DVR window and more.
        let delta = p.render_delta().expect("a delta update");
        assert!(
            !delta.contains(&format!("s1-{}.m4s", head.first_seq)),
            "{delta}"
        );
        let skipped: usize = delta
            .lines()
            .find_map(|l| l.strip_prefix("#EXT-X-SKIP:SKIPPED-SEGMENTS="))
            .unwrap()
            .parse()
            .unwrap();
        assert!(skipped > head.count, "{delta}");
        assert!(delta.contains(&format!("#EXT-X-MEDIA-SEQUENCE:{}\n", head.first_seq)));
        // Without recording, the same stream lists only its window.
        let mut plain = Segmenter::new(1, 2000, 200, 3, 0);
        plain
            .push(LinkMessage::VideoConfig(Bytes::from_static(AVCC_720P)))
            .unwrap();
        feed(&mut plain, 0, 61_000, 60);
        assert_eq!(plain.playlist().segments.len(), 3);
    }

    /// The cost of a 2-hour DVR playlist (run by hand:
    /// `cargo test --release -p packagerd dvr_playlist_cost -- --ignored --nocapture`).
    #[test]
    #[ignore]
    fn dvr_playlist_cost() {
        let mut s = Segmenter::new(1, 2000, 200, 12, 0);
        s.set_dvr(2 * 3600 * 1000);
        s.push(LinkMessage::VideoConfig(Bytes::from_static(AVCC_720P)))
            .unwrap();
        s.push(LinkMessage::AudioConfig(Bytes::from_static(ASC_48K_STEREO)))
            .unwrap();
        for t in (0..2 * 3600 * 1000 + 30_000).step_by(2000) {
            feed(&mut s, t, 2000, 60);
            record_all(&mut s);
        }
        let t0 = std::time::Instant::now();
        let n = 50;
        let mut bytes = 0;
        for _ in 0..n {
            let p = s.playlist();
            bytes = p.render().len() + p.render_delta().map_or(0, |d| d.len());
        }
        let each = t0.elapsed() / n;
        eprintln!(
            "{} entries: playlist + render + delta {each:?} each, {bytes} bytes",
            s.playlist().len()
        );
    }

    #[test]
    fn a_segment_missing_from_the_recording_restarts_the_dvr_window_after_it() {
        let mut s = Segmenter::new(1, 2000, 200, 3, 0);
        s.set_dvr(3_600_000);
        s.push(LinkMessage::VideoConfig(Bytes::from_static(AVCC_720P)))
            .unwrap();
        s.push(LinkMessage::Discontinuity).unwrap();
        let mut skipped = None;
        for t in (0..40_000).step_by(1000) {
            feed(&mut s, t, 1000, 60);
            let seqs: Vec<u64> = s.held().map(|x| x.entry.seq).collect();
            for q in seqs {
                // Segment 6 never reached the recording (a full disk).
                if q == 6 {
                    skipped = Some(q);
                } else {
                    s.mark_recorded(q);
                }
            }
        }
        assert_eq!(skipped, Some(6));
        let p = s.playlist();
        let head = p.head.clone().expect("a DVR window");
        assert_eq!(head.first_seq, 7, "{}", p.render());
        assert_eq!(head.first_seq + head.count as u64, p.segments[0].seq);
        assert!(p.segments.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    }

    /// The output audio timeline never breaks the way MSE (and Chromium,
    /// which then drops video up to the next keyframe) would see it: from
    /// one frame to the next, across parts too, DTS neither goes back nor
    /// steps further than twice the previous frame's duration. Fed like a
    /// looped file (each 10 s loop's audio runs 26.7 ms into the next, so the
    /// tracks drift apart) with a 300 ms audio dropout, A/V sync holds within
    /// three AAC frames save right after the dropout, and overlapping frames
    /// are dropped.
    #[test]
    fn audio_drift_and_gaps_never_break_the_mse_timeline() {
        let mut s = Segmenter::new(7, 2000, 200, 100, 0);
        s.push(LinkMessage::VideoConfig(Bytes::from_static(AVCC_720P)))
            .unwrap();
        s.push(LinkMessage::AudioConfig(Bytes::from_static(ASC_48K_STEREO)))
            .unwrap();
        let mut msgs: Vec<(i64, bool, LinkMessage)> = Vec::new();
        for lp in 0..7i64 {
            let at = lp * 10_000;
            for i in 0..300 {
                msgs.push((at + i * 1000 / 30, true, v(at + i * 1000 / 30, i % 60 == 0)));
            }
            for i in 0..470 {
                let t = at + i * 1024 * 1000 / 48_000;
                if !(35_000..35_300).contains(&t) {
                    msgs.push((t, false, a(t)));
                }
            }
        }
        // As ffmpeg interleaves them: by time, video first on a tie.
        msgs.sort_by_key(|m| (m.0, !m.1));
        for (_, _, m) in msgs {
            s.push(m).unwrap();
        }
        assert!(s.audio_dropped >= 2, "{} dropped", s.audio_dropped);
        // Every audio sample held, in order: (dts, duration), 48 kHz.
        let mut audio: Vec<(u64, u64)> = Vec::new();
        let mut firsts = Vec::new();
        for seg in s.held() {
            for f in fmp4::fragments(&seg.data).unwrap() {
                let Some((_, base, samples)) = f.runs.iter().find(|r| r.0 == 2) else {
                    continue;
                };
                firsts.push(audio.len());
                let mut t = *base;
                for x in samples {
                    audio.push((t, x.duration as u64));
                    t += x.duration as u64;
                }
            }
        }
        assert!(audio.len() > 3000, "{} audio frames", audio.len());
        assert!(firsts.len() > 300, "{} parts", firsts.len());
        for (i, w) in audio.windows(2).enumerate() {
            let ((d0, dur0), (d1, _)) = (w[0], w[1]);
            assert!(
                d1 > d0 && d1 - d0 <= 2 * dur0,
                "audio frame {}: DTS {d0} (duration {dur0}) then {d1}",
                i + 1
            );
        }
        // A part's video and audio start together (A/V sync): within three
        // AAC frames (two of drift, one as a part's audio starts at the first
        // frame at or after its video), but for the parts just after the
        // dropout.
        let mut off = 0;
        for seg in s.held() {
            for f in fmp4::fragments(&seg.data).unwrap() {
                let v = f.runs.iter().find(|r| r.0 == 1).map(|r| r.1);
                let a = f.runs.iter().find(|r| r.0 == 2).map(|r| r.1);
                if let (Some(v), Some(a)) = (v, a) {
                    let skew_ms = a as f64 / 48.0 - v as f64 / 90.0;
                    if skew_ms.abs() > 3.0 * 1024.0 / 48.0 + 1.0 {
                        off += 1;
                        assert!(
                            (35_000.0..36_000.0).contains(&(v as f64 / 90.0 - HEADROOM_MS as f64)),
                            "part at {} ms: audio {skew_ms:.1} ms off the video",
                            v / 90
                        );
                    }
                }
            }
        }
        assert!(off <= 2, "{off} parts out of sync after the dropout");
    }

    #[test]
    fn an_encoder_clock_reset_continues_monotonic_after_a_discontinuity() {
        let mut s = configured();
        feed(&mut s, 60_000, 4100, 60);
        // The encoder restarts its clock at zero without reconnecting.
        feed(&mut s, 0, 6100, 60);
        let p = s.playlist();
        let text = p.render();
        assert_eq!(text.matches("#EXT-X-DISCONTINUITY\n").count(), 1, "{text}");
        let after = p.segments.iter().skip_while(|x| !x.discontinuity).count();
        assert!(after >= 2, "no segments after the reset: {text}");
        let starts: Vec<u64> = s.held().map(|x| tfdt(&x.data)).collect();
        assert!(
            starts.windows(2).all(|w| w[1] > w[0]),
            "tfdt not increasing: {starts:?}"
        );
    }

    /// Parts and segments of everything fed so far, checked against the
    /// LL-HLS rules: part durations within (85%, 100%] of PART-TARGET save a
    /// segment's last, segment = sum of parts, INDEPENDENT on keyframe parts.
    fn check_parts(s: &Segmenter) -> Vec<f64> {
        check_parts_min(s, 0.85)
    }

    fn check_parts_min(s: &Segmenter, min: f64) -> Vec<f64> {
        let pt = s.part_target_ms() / 1000.0;
        let mut durations = Vec::new();
        for seg in s.held().filter(|x| !x.parts.is_empty()) {
            let sum: f64 = seg.parts.iter().map(|p| p.entry.duration).sum();
            assert!((sum - seg.entry.duration).abs() < 1e-9);
            let bytes: usize = seg.parts.iter().map(|p| p.data.len()).sum();
            assert_eq!(bytes, seg.data.len());
            assert_eq!(seg.parts[0].entry.independent, seg.entry.independent);
            for (i, p) in seg.parts.iter().enumerate() {
                assert!(p.entry.duration <= pt + 1e-9, "{} > {pt}", p.entry.duration);
                if i + 1 < seg.parts.len() {
                    assert!(
                        p.entry.duration >= min * pt,
                        "{} < {min} of {pt}",
                        p.entry.duration
                    );
                }
                durations.push(p.entry.duration);
            }
            let numbers: Vec<u64> = seg.parts.iter().map(|p| p.number).collect();
            assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
        }
        durations
    }

    #[test]
    fn parts_fill_the_part_target_at_common_frame_rates() {
        for (fps_num, fps_den, frames_per_part) in [
            (30, 1, 6),
            (30000, 1001, 6),
            (25, 1, 5),
            (24, 1, 5),
            (60, 1, 12),
        ] {
            let mut s = configured();
            let mut last_part = 0;
            for i in 0..(10 * fps_num / fps_den) {
                // ms-rounded timestamps, as RTMP carries them
                let t = (i * 1000 * fps_den + fps_num / 2) / fps_num;
                let c = s.push(v(t, i % (2 * fps_num / fps_den) == 0)).unwrap();
                if c.part {
                    last_part += 1;
                }
            }
            let durations = check_parts(&s);
            assert!(last_part > 30, "{fps_num}/{fps_den}: {last_part} parts");
            let fd = fps_den as f64 / fps_num as f64;
            let typical = durations
                .iter()
                .filter(|d| ((*d / fd).round() as i64) == frames_per_part)
                .count();
            assert!(
                typical * 10 >= durations.len() * 8,
                "{fps_num}/{fps_den}: {durations:?}"
            );
        }
    }

    #[test]
    fn the_playlist_lists_recent_parts_and_hints_the_next() {
        let mut s = configured();
        feed(&mut s, 0, 9100, 60);
        let p = s.playlist();
        let ll = p.low_latency.as_ref().unwrap();
        assert_eq!(p.segments.iter().filter(|x| !x.parts.is_empty()).count(), 2);
        assert_eq!(ll.open_parts.len(), s.open_parts().len());
        assert!(!ll.open_parts.is_empty());
        let next = s.next_part_number();
        assert_eq!(ll.preload_hint.as_deref(), Some(s.part_uri(next).as_str()));
        assert_eq!(s.open_parts().last().unwrap().number + 1, next);
        check_parts(&s);
    }

    #[test]
    fn a_non_monotonic_dts_is_nudged_and_the_frame_kept() {
        let mut s = configured();
        let mut n = 0;
        for i in 0..180i64 {
            let mut t = i * 1000 / 30;
            if i % 7 == 3 {
                t -= 40; // one frame goes back in time
            }
            s.push(v(t, i % 60 == 0)).unwrap();
            n += 1;
        }
        s.finish();
        let frames: u32 = s.held().map(|x| x.video_frames).sum();
        assert_eq!(frames, n);
        // Within PART-TARGET still; a part cut short before a late frame
        // may fall under the 85% the spec asks of regular streams.
        check_parts_min(&s, 0.0);
    }

    #[test]
    fn replayed_frames_after_a_resume_are_dropped_but_jitter_is_not() {
        let mut s = configured();
        feed(&mut s, 0, 4100, 60);
        s.push(LinkMessage::Start(stage_media::link::StreamInfo {
            resumed: true,
            ..Default::default()
        }))
        .unwrap();
        feed(&mut s, 2000, 4000, 60); // the GOP again, then new frames
        s.finish();
        let frames: u32 = s.held().map(|x| x.video_frames).sum();
        assert_eq!(frames, 180, "every frame once");
    }

    #[test]
    fn audio_only_streams_get_parts_too() {
        let mut s = Segmenter::new(3, 2000, 200, 6, 0);
        s.push(LinkMessage::AudioConfig(Bytes::from_static(ASC_48K_STEREO)))
            .unwrap();
        for i in 0..500i64 {
            s.push(a(i * 1024 * 1000 / 48000)).unwrap();
        }
        let pt = s.part_target_ms();
        assert_eq!(pt, 194.0); // 9 frames + the margin, whole ms
        assert!(s.held().count() >= 4);
        check_parts(&s);
    }

    /// PROGRAM-DATE-TIME steps between listed segments (and to the open
    /// one) against their durations, ms.
    fn pdt_steps(s: &Segmenter) -> Vec<(i64, i64)> {
        let p = s.playlist();
        let mut out = Vec::new();
        for w in p.segments.windows(2) {
            let step = w[1].program_date_time_ms.unwrap() - w[0].program_date_time_ms.unwrap();
            out.push((step, (w[0].duration * 1000.0).round() as i64));
        }
        let last = p.segments.last().unwrap();
        let open = p.low_latency.unwrap().open_program_date_time_ms.unwrap();
        out.push((
            open - last.program_date_time_ms.unwrap(),
            (last.duration * 1000.0).round() as i64,
        ));
        out
    }

    #[test]
    fn program_date_time_follows_the_media_after_a_late_start_up_burst() {
        let mut s = configured();
        // The first second arrives 400 ms late, in a burst; then frames come
        // in real time with up to 15 ms of jitter.
        for i in 0..300i64 {
            let dts = i * 1000 / 30;
            let late = if dts < 1000 {
                400 - dts * 2 / 5
            } else {
                (i * 7) % 16
            };
            s.push(LinkMessage::Video(Frame {
                wallclock_ms: 5_000_000 + dts + late,
                ..frame(dts, i % 60 == 0)
            }))
            .unwrap();
        }
        for (step, duration) in pdt_steps(&s) {
            assert!(
                (step - duration).abs() <= 1,
                "date step {step} ms, duration {duration} ms"
            );
        }
        // Dated by the earliest arrival: the real-time frames, not the burst.
        let first = s.playlist().segments[0].program_date_time_ms.unwrap();
        assert_eq!(first, 5_000_000);
        // Later a sender runs 760 ms ahead (ffmpeg -re -stream_loop does at
        // a loop): dates already published do not move, new ones slew.
        let before = s.playlist();
        for i in 300..420i64 {
            let dts = i * 1000 / 30;
            s.push(LinkMessage::Video(Frame {
                wallclock_ms: 5_000_000 + dts - 760,
                ..frame(dts, i % 60 == 0)
            }))
            .unwrap();
        }
        let after = s.playlist();
        for seg in &before.segments {
            let now = after.segments.iter().find(|x| x.seq == seg.seq).unwrap();
            let moved = now.program_date_time_ms.unwrap() - seg.program_date_time_ms.unwrap();
            assert!(
                moved.abs() <= 2,
                "segment {} date moved {moved} ms",
                seg.seq
            );
        }
        for (step, duration) in pdt_steps(&s) {
            assert!(
                (step - duration).abs() <= 1,
                "date step {step} ms, duration {duration} ms"
            );
        }
        let third = s.playlist().segments.last().unwrap().clone();
        // A discontinuity starts a new timeline; the old dates stay.
        s.push(LinkMessage::Discontinuity).unwrap();
        for i in 0..200i64 {
            let dts = 20_000 + i * 1000 / 30;
            s.push(LinkMessage::Video(Frame {
                wallclock_ms: 9_000_000 + dts,
                ..frame(dts, i % 60 == 0)
            }))
            .unwrap();
        }
        let p = s.playlist();
        let old = p.segments.iter().find(|x| x.seq == third.seq).unwrap();
        assert_eq!(old.program_date_time_ms, third.program_date_time_ms);
        let new = p.segments.iter().find(|x| x.discontinuity).unwrap();
        assert_eq!(new.program_date_time_ms, Some(9_020_000));
    }

    /// The first traf's baseMediaDecodeTime.
    fn tfdt(seg: &[u8]) -> u64 {
        let at = seg.windows(4).position(|w| w == b"tfdt").unwrap();
        u64::from_be_bytes(seg[at + 8..at + 16].try_into().unwrap())
    }

    #[test]
    fn end_closes_the_last_segment_and_the_playlist() {
        let mut s = configured();
        feed(&mut s, 0, 3000, 60);
        s.finish();
        let p = s.playlist();
        assert!(p.ended);
        assert_eq!(p.segments.len(), 2);
        assert!(
            (p.segments[1].duration - 1.0).abs() < 0.05,
            "{}",
            p.render()
        );
    }

    #[test]
    fn variant_reports_codecs_resolution_and_measured_rates() {
        let mut s = configured();
        feed(&mut s, 0, 6100, 60);
        let v = s.variant("source/index.m3u8").unwrap();
        assert_eq!(
            v.codecs,
            vec!["avc1.64001f".to_string(), "mp4a.40.2".to_string()]
        );
        assert_eq!(v.resolution, Some((1280, 720)));
        assert_eq!(v.frame_rate, Some(30.0));
        assert!(v.bandwidth >= v.average_bandwidth.unwrap());
    }
}
