//! The LL-HLS packager: access units → CMAF parts, segments and the live
//! playlist, for one stream.
//!
//! Pure and synchronous (no sockets, no clocks: each frame carries the wall
//! clock it arrived at): packagerd's stream task feeds it link messages and
//! publishes what it produces. Written here rather than taken
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

//!
//! One concern per file:
//! - [`timeline`]: timestamp repair (clock jumps, replays, audio drift) and
//!   PROGRAM-DATE-TIME;
//! - [`cutter`]: when a part and a segment close, and their CMAF bytes;
//! - [`rule`]: the part-duration rule and the ABR rungs' switch points, so
//!   the transcoder cuts where the segmenter will;
//! - [`names`]: live URIs and the recording's object names;
//! - [`dvr`]: the DVR window of segments that left memory and their
//!   recording objects;
//! - [`view`]: what the playlist, the DASH manifest and the multivariant
//!   playlist are made from.

mod cutter;
pub mod dvr;
mod fuzz;
pub mod names;
pub mod rule;
#[cfg(test)]
mod tests;
mod timeline;
mod view;

use crate::aac::AacConfig;
use crate::avc::AvcConfig;
use crate::fmp4::Track;
use crate::hls::{PartEntry, SegmentEntry};
use crate::link::LinkMessage;
use bytes::Bytes;
use cutter::{OpenPart, OpenSegment};
use dvr::Dvr;
pub use dvr::DvrObjects;
#[doc(hidden)]
pub use fuzz::fuzz_push;
pub use rule::{CUT_TOLERANCE_MS, SwitchPoints};
use std::collections::{BTreeMap, VecDeque};

/// Samples in an AAC frame.
const AAC_FRAME: u64 = 1024;
/// Part numbers of a stream that resumes in a restarted packagerd start
/// this many times its first sequence number, past anything served before.
const PART_NUMBER_STRIDE: u64 = 1_000;

/// A finished part.
#[derive(Debug, Clone)]
pub struct Part {
    /// Runs across the stream's segments.
    pub number: u64,
    pub entry: PartEntry,
    pub data: Bytes,
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
            part_target_cfg_ms: part_target_ms as f64,
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
        names::part_uri(self.stream_id, number)
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
}
