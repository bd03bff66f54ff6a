//! Access units → CMAF segments and the live playlist, for one stream.
//!
//! Pure and synchronous (no sockets, no clocks): the stream task feeds it link
//! messages and publishes what it produces. Segments are cut at the first
//! video keyframe at or after the target duration (at the target for
//! audio-only streams). Audio that arrives after the cut point moves to the
//! next segment so both tracks of a segment cover the same span.

use bytes::Bytes;
use stage_media::aac::AacConfig;
use stage_media::avc::AvcConfig;
use stage_media::fmp4::{self, Sample, Track, TrackConfig, TrackRun};
use stage_media::hls::{MediaPlaylist, SegmentEntry, Variant};
use stage_media::link::{Frame, LinkMessage};
use std::collections::{BTreeMap, VecDeque};

/// Video timescale (90 kHz, as MPEG systems use).
const VIDEO_TIMESCALE: u32 = 90_000;
/// Timestamps may start a little before the first frame seen (audio that
/// trails video); tfdt is unsigned, so the timeline starts this far in.
const HEADROOM_MS: i64 = 10_000;
/// A keyframe this close to the target already cuts (FLV ms rounding).
const CUT_TOLERANCE_MS: i64 = 50;
/// A DTS leap forward larger than this is a clock jump, not a slow frame.
const MAX_GAP_MS: i64 = 5_000;
/// A DTS step back larger than this is a clock reset; smaller ones are
/// replays after a link resume (up to a GOP) or jitter, and are dropped.
const MAX_BACK_JUMP_MS: i64 = 30_000;
/// Where a re-anchored track continues: just after the last frame.
const JUMP_STEP_MS: i64 = 40;

/// A finished media segment.
#[derive(Debug, Clone)]
pub struct Segment {
    pub entry: SegmentEntry,
    pub data: Bytes,
    pub video_frames: u32,
}

#[derive(Debug, Clone)]
struct Pending {
    dts_ms: i64,
    frame: Frame,
}

#[derive(Debug, Default)]
struct Current {
    start_ms: Option<i64>,
    video: Vec<Pending>,
    audio: Vec<Pending>,
    pdt_ms: Option<i64>,
    discontinuity: bool,
}

/// Errors that end the stream (bad configs the ingest let through).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SegmenterError(pub String);

/// One stream's packager state.
pub struct Segmenter {
    stream_id: i64,
    target_ms: i64,
    window: usize,
    keep: usize,
    avc: Option<AvcConfig>,
    aac: Option<AacConfig>,
    /// (id, bytes, tracks) of the init segment new segments use.
    init: Option<(u64, Bytes, Vec<Track>)>,
    inits: BTreeMap<u64, Bytes>,
    configs_changed: bool,
    cur: Current,
    base_ms: Option<i64>,
    last_video_dts: Option<i64>,
    last_audio_dts: Option<i64>,
    audio_next: Option<u64>,
    next_seq: u64,
    disc_pending: bool,
    disc_base: u64,
    dropped_disc: u64,
    segments: VecDeque<Segment>,
    last_video_duration: u32,
    shift_video_ms: i64,
    shift_audio_ms: i64,
    /// Latest output DTS of any track.
    high_water_ms: Option<i64>,
    ended: bool,
}

impl Segmenter {
    /// A segmenter whose first segment is `first_seq` (non-zero when a
    /// restarted packagerd resumes a stream, so numbers keep growing).
    pub fn new(stream_id: i64, target_ms: i64, window: usize, first_seq: u64) -> Segmenter {
        Segmenter {
            stream_id,
            target_ms,
            window,
            keep: window + 2,
            avc: None,
            aac: None,
            init: None,
            inits: BTreeMap::new(),
            configs_changed: false,
            cur: Current::default(),
            base_ms: None,
            last_video_dts: None,
            last_audio_dts: None,
            audio_next: None,
            next_seq: first_seq,
            disc_pending: first_seq > 0,
            disc_base: first_seq,
            dropped_disc: 0,
            segments: VecDeque::new(),
            last_video_duration: 3000,
            shift_video_ms: 0,
            shift_audio_ms: 0,
            high_water_ms: None,
            ended: false,
        }
    }

    /// Feeds one link message; returns true when a segment was completed.
    pub fn push(&mut self, msg: LinkMessage) -> Result<bool, SegmenterError> {
        match msg {
            LinkMessage::VideoConfig(rec) => {
                let cfg = AvcConfig::parse(rec)
                    .map_err(|e| SegmenterError(format!("video config: {e}")))?;
                if self.avc.as_ref().is_none_or(|c| c.record != cfg.record) {
                    self.avc = Some(cfg);
                    self.configs_changed = true;
                }
                Ok(false)
            }
            LinkMessage::AudioConfig(asc) => {
                let cfg = AacConfig::parse(asc)
                    .map_err(|e| SegmenterError(format!("audio config: {e}")))?;
                if self.aac.as_ref().is_none_or(|c| c.asc != cfg.asc) {
                    self.aac = Some(cfg);
                    self.configs_changed = true;
                }
                Ok(false)
            }
            LinkMessage::Video(f) => self.video(f),
            LinkMessage::Audio(f) => self.audio(f),
            LinkMessage::Discontinuity => Ok(self.discontinuity()),
            LinkMessage::End(_) => Ok(self.finish()),
            LinkMessage::Start(_) => Ok(false),
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
        let bytes = fmp4::init_segment(&tracks);
        self.inits.insert(id, bytes.clone());
        self.init = Some((id, bytes, tracks));
        self.configs_changed = false;
    }

    fn base(&mut self, dts: i64) -> i64 {
        *self.base_ms.get_or_insert(dts)
    }

    /// Maps a frame onto the output timeline. When the encoder's clock jumps
    /// (reset to zero, leap forward) the track is re-anchored just after the
    /// latest frame so timestamps stay monotonic; a jump of the main track
    /// (video, or audio when there is no video) also starts a new segment
    /// after a discontinuity.
    fn remap(&mut self, mut f: Frame, video: bool) -> Frame {
        let shift = if video {
            self.shift_video_ms
        } else {
            self.shift_audio_ms
        };
        let out = f.dts_ms + shift;
        if let Some(high) = self.high_water_ms
            && (out < high - MAX_BACK_JUMP_MS || out > high + MAX_GAP_MS)
        {
            let anchored = high + JUMP_STEP_MS;
            let new_shift = anchored - f.dts_ms;
            if video {
                self.shift_video_ms = new_shift;
            } else {
                self.shift_audio_ms = new_shift;
            }
            if video || self.avc.is_none() {
                self.discontinuity();
            } else {
                self.last_audio_dts = None;
                self.audio_next = None;
            }
            f.dts_ms = anchored;
        } else {
            f.dts_ms = out;
        }
        self.high_water_ms = Some(self.high_water_ms.map_or(f.dts_ms, |h| h.max(f.dts_ms)));
        f
    }

    fn video(&mut self, f: Frame) -> Result<bool, SegmenterError> {
        if self.avc.is_none() || self.ended {
            return Ok(false);
        }
        let f = self.remap(f, true);
        if self.last_video_dts.is_some_and(|l| f.dts_ms <= l) {
            return Ok(false); // replayed after a link resume, or non-monotonic: drop
        }
        self.base(f.dts_ms);
        let mut cut = false;
        if self.cur.video.is_empty() {
            if !f.keyframe {
                return Ok(false); // a segment must start with a keyframe
            }
        } else if f.keyframe
            && f.dts_ms - self.cur.start_ms.unwrap_or(f.dts_ms) >= self.target_ms - CUT_TOLERANCE_MS
        {
            self.close_segment(Some(f.dts_ms));
            cut = true;
        }
        if self.configs_changed && self.cur.video.is_empty() {
            self.ensure_init();
        }
        self.last_video_dts = Some(f.dts_ms);
        self.start_if_empty(f.dts_ms, f.wallclock_ms);
        self.cur.video.push(Pending {
            dts_ms: f.dts_ms,
            frame: f,
        });
        Ok(cut)
    }

    fn audio(&mut self, f: Frame) -> Result<bool, SegmenterError> {
        if self.aac.is_none() || self.ended {
            return Ok(false);
        }
        let f = self.remap(f, false);
        if self.last_audio_dts.is_some_and(|l| f.dts_ms <= l) {
            return Ok(false);
        }
        let video = self.avc.is_some();
        self.last_audio_dts = Some(f.dts_ms);
        if video && self.cur.video.is_empty() {
            // Wait for the first keyframe so audio and video start together.
            return Ok(false);
        }
        self.base(f.dts_ms);
        let mut cut = false;
        if !video {
            if self.configs_changed && self.cur.audio.is_empty() {
                self.ensure_init();
            }
            if let Some(start) = self.cur.start_ms
                && f.dts_ms - start >= self.target_ms
            {
                self.close_segment(Some(f.dts_ms));
                cut = true;
            }
            self.start_if_empty(f.dts_ms, f.wallclock_ms);
        }
        self.cur.audio.push(Pending {
            dts_ms: f.dts_ms,
            frame: f,
        });
        Ok(cut)
    }

    fn start_if_empty(&mut self, dts: i64, wallclock: i64) {
        if self.cur.start_ms.is_none() {
            self.ensure_init();
            self.cur.start_ms = Some(dts);
            self.cur.pdt_ms = Some(wallclock);
            self.cur.discontinuity = std::mem::take(&mut self.disc_pending);
        }
    }

    fn to_video_ticks(&self, ms: i64) -> u64 {
        ((ms - self.base_ms.unwrap_or(ms) + HEADROOM_MS).max(0) as u64)
            * (VIDEO_TIMESCALE as u64 / 1000)
    }

    /// Closes the current segment; `next_dts` is where the next one starts.
    fn close_segment(&mut self, next_dts: Option<i64>) -> bool {
        if self.cur.start_ms.is_none() {
            return false;
        }
        let Some((init_id, _, tracks)) = self.init.clone() else {
            return false;
        };
        let mut cur = std::mem::take(&mut self.cur);
        // Audio at or after the cut belongs to the next segment.
        let mut carry = Vec::new();
        if let (Some(cut), true) = (next_dts, !cur.video.is_empty()) {
            let at = cur
                .audio
                .iter()
                .position(|a| a.dts_ms >= cut)
                .unwrap_or(cur.audio.len());
            carry = cur.audio.split_off(at);
        }
        let mut runs_samples: Vec<(u32, u64, Vec<Sample>)> = Vec::new();
        let mut duration_ms = 0f64;
        let mut video_frames = 0;
        for t in &tracks {
            match &t.config {
                TrackConfig::Video(_) => {
                    let mut samples = Vec::with_capacity(cur.video.len());
                    for (i, p) in cur.video.iter().enumerate() {
                        let this = self.to_video_ticks(p.dts_ms);
                        let dur = match cur.video.get(i + 1).map(|n| n.dts_ms).or(next_dts) {
                            Some(n) => (self.to_video_ticks(n).saturating_sub(this)) as u32,
                            None => self.last_video_duration,
                        };
                        let dur = if dur == 0 {
                            self.last_video_duration
                        } else {
                            dur
                        };
                        self.last_video_duration = dur;
                        samples.push(Sample {
                            duration: dur,
                            cts_offset: p.frame.cts_ms.saturating_mul(90),
                            keyframe: p.frame.keyframe,
                            data: p.frame.data.clone(),
                        });
                    }
                    video_frames = samples.len() as u32;
                    let total: u64 = samples.iter().map(|s| s.duration as u64).sum();
                    duration_ms = total as f64 / 90.0;
                    let base = cur
                        .video
                        .first()
                        .map_or(0, |p| self.to_video_ticks(p.dts_ms));
                    runs_samples.push((t.id, base, samples));
                }
                TrackConfig::Audio(a) => {
                    let rate = a.sample_rate as i64;
                    // Positions count 1024 samples per AAC frame from the first
                    // frame's timestamp, resyncing only on real gaps, so ms
                    // rounding in RTMP timestamps never makes jittery durations.
                    let mut ats = Vec::with_capacity(cur.audio.len());
                    for p in &cur.audio {
                        let actual = ((p.dts_ms - self.base_ms.unwrap_or(p.dts_ms) + HEADROOM_MS)
                            .max(0)
                            * rate
                            / 1000) as u64;
                        let at = match self.audio_next {
                            Some(n) if (n as i64 - actual as i64).abs() < 2048 => n,
                            _ => actual,
                        };
                        ats.push(at);
                        self.audio_next = Some(at + 1024);
                    }
                    let samples: Vec<Sample> = cur
                        .audio
                        .iter()
                        .enumerate()
                        .map(|(i, p)| Sample {
                            duration: ats.get(i + 1).map_or(1024, |n| {
                                n.saturating_sub(ats[i]).clamp(1, 1 << 20) as u32
                            }),
                            cts_offset: 0,
                            keyframe: true,
                            data: p.frame.data.clone(),
                        })
                        .collect();
                    if tracks.len() == 1 {
                        let total: u64 = samples.iter().map(|s| s.duration as u64).sum();
                        duration_ms = total as f64 * 1000.0 / rate as f64;
                    }
                    if let Some(b) = ats.first() {
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
        let seq = self.next_seq;
        self.next_seq += 1;
        let data = fmp4::media_segment(seq as u32, &runs);
        self.segments.push_back(Segment {
            entry: SegmentEntry {
                seq,
                duration: duration_ms / 1000.0,
                uri: format!("s{}-{seq}.m4s", self.stream_id),
                map_uri: format!("s{}-init-{init_id}.mp4", self.stream_id),
                discontinuity: cur.discontinuity,
                program_date_time_ms: cur.pdt_ms,
            },
            data,
            video_frames,
        });
        while self.segments.len() > self.keep {
            if self
                .segments
                .pop_front()
                .is_some_and(|s| s.entry.discontinuity)
            {
                self.dropped_disc += 1;
            }
        }
        self.drop_unused_inits();
        if !carry.is_empty() {
            // Carried audio opens the next segment (its video keyframe follows).
            self.cur.audio = carry;
        }
        true
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

    fn discontinuity(&mut self) -> bool {
        let closed = self.close_segment(None);
        self.cur = Current::default();
        self.disc_pending = true;
        self.last_video_dts = None;
        self.last_audio_dts = None;
        self.audio_next = None;
        closed
    }

    /// Closes the last segment and marks the playlist ended.
    pub fn finish(&mut self) -> bool {
        if self.ended {
            return false;
        }
        self.close_segment(None);
        self.ended = true;
        true
    }

    /// Whether the stream has ended.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// The live media playlist.
    pub fn playlist(&self) -> MediaPlaylist {
        let start = self.segments.len().saturating_sub(self.window);
        let listed: Vec<SegmentEntry> = self
            .segments
            .iter()
            .skip(start)
            .map(|s| s.entry.clone())
            .collect();
        // Each discontinuity that has left the window counts (RFC 8216bis 6.2.1),
        // on top of the base a resumed stream starts from.
        let before = self
            .segments
            .iter()
            .take(start)
            .filter(|s| s.entry.discontinuity)
            .count() as u64;
        MediaPlaylist {
            target_duration: self.target_ms as f64 / 1000.0,
            discontinuity_sequence: self.disc_base + self.dropped_disc + before,
            segments: listed,
            ended: self.ended,
        }
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

    fn v(dts: i64, key: bool) -> LinkMessage {
        LinkMessage::Video(Frame {
            dts_ms: dts,
            cts_ms: 0,
            keyframe: key,
            wallclock_ms: 1_000_000 + dts,
            data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
        })
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
    fn configured() -> Segmenter {
        let mut s = Segmenter::new(7, 2000, 6, 0);
        s.push(LinkMessage::VideoConfig(Bytes::from_static(AVCC_720P)))
            .unwrap();
        s.push(LinkMessage::AudioConfig(Bytes::from_static(ASC_48K_STEREO)))
            .unwrap();
        s
    }
    /// 30 fps video (keyframe every `gop` frames) and 48 kHz AAC on one
    /// absolute grid, for the frames whose time falls in [from_ms, from_ms + ms).
    fn feed(s: &mut Segmenter, from_ms: i64, ms: i64, gop: i64) {
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
                s.push(v(vt, vi % gop == 0)).unwrap();
                vi += 1;
            } else {
                s.push(a(at)).unwrap();
                ai += 1;
            }
        }
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
    fn a_long_gop_makes_a_longer_segment_and_raises_target_duration() {
        let mut s = configured();
        feed(&mut s, 0, 13000, 150); // keyframes every 5 s
        let p = s.playlist();
        assert!(
            p.segments.iter().all(|x| (x.duration - 5.0).abs() < 0.01),
            "{}",
            p.render()
        );
        assert!(p.render().contains("#EXT-X-TARGETDURATION:5\n"));
    }

    #[test]
    fn replayed_frames_after_a_link_resume_are_dropped() {
        let mut s = configured();
        feed(&mut s, 0, 4100, 60);
        let before = s.playlist().segments.len();
        // ingestd replays the current GOP: same timestamps again.
        feed(&mut s, 4000, 100, 60);
        feed(&mut s, 4100, 2000, 60);
        s.push(v(6000, true)).unwrap();
        let p = s.playlist();
        assert_eq!(p.segments.len(), before + 1, "{}", p.render());
        assert!(
            p.segments.iter().all(|x| (x.duration - 2.0).abs() < 0.05),
            "{}",
            p.render()
        );
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
        let mut s = Segmenter::new(1, 2000, 3, 0);
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
