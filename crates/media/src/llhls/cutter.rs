//! When a part and a segment close, and their CMAF bytes.
//!
//! A part closes when the next frame of the main track would push it past
//! the part target ([`super::rule`]); a segment at the first keyframe once
//! its target duration is reached, or at a part boundary before its rounded
//! duration would exceed `EXT-X-TARGETDURATION`. Audio after a cut moves to
//! the next part, so both tracks of a part cover the same span.

use super::timeline::place_audio;
use super::{AAC_FRAME, Changed, Part, Segment, Segmenter, TrackSpan, names, rule};
use crate::fmp4::{self, Sample, Track, TrackConfig, TrackRun};
use crate::hls::{PartEntry, SegmentEntry};
use crate::link::Frame;
use bytes::BytesMut;

/// Video timescale (90 kHz, as MPEG systems use).
const VIDEO_TIMESCALE: u32 = 90_000;
/// Timestamps may start a little before the first frame seen (audio that
/// trails video); tfdt is unsigned, so the timeline starts this far in.
pub(super) const HEADROOM_MS: i64 = 10_000;
/// Complete segments whose parts stay fetchable (one more, for late clients).
const KEPT_PART_SEGMENTS: usize = 3;
/// How far (ms) the date offset may move per segment once a timeline has
/// a complete segment: 1 ms per 2 s segment follows a 500 ppm clock
/// difference between encoder and server, and hls.js does not notice.
const PDT_SLEW_MS: i64 = 1;

#[derive(Debug, Clone)]
pub(super) struct Pending {
    pub(super) dts_ms: i64,
    pub(super) frame: Frame,
}

/// The segment being written.
#[derive(Debug)]
pub(super) struct OpenSegment {
    pub(super) start_ms: i64,
    pub(super) discontinuity: bool,
    pub(super) independent: bool,
    pub(super) init_id: u64,
    pub(super) tracks: Vec<Track>,
    pub(super) parts: Vec<Part>,
    pub(super) video_frames: u32,
    pub(super) spans: Vec<TrackSpan>,
}

impl OpenSegment {
    /// Widens a track's span to cover a part's samples of it (from `base`,
    /// in the track's timescale).
    fn extend_span(&mut self, track_id: u32, base: u64, samples: &[Sample]) {
        let duration: u64 = samples.iter().map(|s| s.duration as u64).sum();
        let bytes: u64 = samples.iter().map(|s| s.data.len() as u64).sum();
        match self.spans.iter_mut().find(|x| x.track_id == track_id) {
            Some(x) => {
                x.duration = (base + duration).saturating_sub(x.base);
                x.bytes += bytes;
            }
            None if !samples.is_empty() => self.spans.push(TrackSpan {
                track_id,
                base,
                duration,
                bytes,
            }),
            None => {}
        }
    }
}

/// The part being written.
#[derive(Debug, Default)]
pub(super) struct OpenPart {
    pub(super) start_ms: Option<i64>,
    pub(super) independent: bool,
    pub(super) video: Vec<Pending>,
    pub(super) audio: Vec<Pending>,
}

impl Segmenter {
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

    /// `PART-TARGET` in ms ([`rule::part_target_ms`] for the frame duration
    /// seen so far), fixed once the first part closes.
    pub fn part_target_ms(&self) -> f64 {
        if let Some(p) = self.part_target_ms {
            return p;
        }
        rule::part_target_ms(self.part_target_cfg_ms, self.frame_ms())
    }

    /// The longest segment whose duration still rounds to the target.
    fn max_segment_ms(&self) -> f64 {
        let td = (self.target_ms as f64 / 1000.0).round().max(1.0);
        td * 1000.0 + 450.0
    }

    /// A frame of the main track: closes parts and segments before it as
    /// due, then adds it to the current part.
    pub(super) fn main_frame(&mut self, f: Frame, video: bool) -> Changed {
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
                && (rule::keyframe_cuts(seg_d, self.target_ms)
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

    pub(super) fn to_video_ticks(&self, ms: i64) -> u64 {
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
                    let samples = self.video_samples(&part.video, end_ms);
                    video_frames = samples.len() as u32;
                    let total: u64 = samples.iter().map(|s| s.duration as u64).sum();
                    duration = total as f64 / VIDEO_TIMESCALE as f64;
                    runs_samples.push((t.id, self.to_video_ticks(start_ms), samples));
                }
                TrackConfig::Audio(a) => {
                    let Some((base, samples)) = self.audio_samples(&part.audio, a.sample_rate)
                    else {
                        continue;
                    };
                    if !has_video {
                        let total: u64 = samples.iter().map(|s| s.duration as u64).sum();
                        duration = total as f64 / a.sample_rate as f64;
                    }
                    runs_samples.push((t.id, base, samples));
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
            open.extend_span(*id, *base, samples);
        }
        open.video_frames += video_frames;
        open.parts.push(Part {
            number,
            entry: PartEntry {
                duration,
                uri: names::part_uri(self.stream_id, number),
                independent: part.independent,
            },
            data,
        });
        self.part = OpenPart {
            audio: carry,
            ..OpenPart::default()
        };
    }

    /// A part's video samples: each lasts until the next frame's DTS, the
    /// last until `end_ms` (where the next part starts).
    fn video_samples(&self, video: &[Pending], end_ms: i64) -> Vec<Sample> {
        let end = self.to_video_ticks(end_ms);
        video
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let this = self.to_video_ticks(p.dts_ms);
                let next = video
                    .get(i + 1)
                    .map_or(end, |n| self.to_video_ticks(n.dts_ms));
                Sample {
                    duration: next.saturating_sub(this).max(1) as u32,
                    cts_offset: p.frame.cts_ms.saturating_mul(90),
                    keyframe: p.frame.keyframe,
                    data: p.frame.data.clone(),
                }
            })
            .collect()
    }

    /// A part's AAC samples placed on the output timeline (see
    /// `place_audio`; frames that fall behind it are dropped) and where the
    /// first one lies, in samples; None when none is kept.
    fn audio_samples(&mut self, audio: &[Pending], sample_rate: u32) -> Option<(u64, Vec<Sample>)> {
        let rate = sample_rate as i64;
        let mut kept: Vec<(u64, &Pending)> = Vec::with_capacity(audio.len());
        for p in audio {
            let actual = ((p.dts_ms - self.base_ms.unwrap_or(p.dts_ms) + HEADROOM_MS).max(0) * rate
                / 1000) as u64;
            match place_audio(self.audio_next, actual, kept.is_empty(), rate as u64) {
                Some(at) => {
                    kept.push((at, p));
                    self.audio_next = Some(at + AAC_FRAME);
                }
                None => self.audio_dropped += 1,
            }
        }
        let samples = kept
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
        kept.first().map(|(base, _)| (*base, samples))
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
                uri: names::segment_uri(self.stream_id, seq),
                map_uri: names::init_uri(self.stream_id, open.init_id),
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

    fn drop_unused_inits(&mut self) {
        let used: Vec<String> = self
            .segments
            .iter()
            .map(|s| s.entry.map_uri.clone())
            .collect();
        let current = self.init.as_ref().map(|i| i.0);
        let sid = self.stream_id;
        self.inits.retain(|id, _| {
            Some(*id) == current || used.iter().any(|u| *u == names::init_uri(sid, *id))
        });
    }

    /// Closes what is being written: the last frame lasts one frame duration.
    pub(super) fn close_all(&mut self) -> Changed {
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
}
