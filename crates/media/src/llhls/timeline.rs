//! The output timeline: timestamps repaired (clock resets and leaps,
//! replays after a link resume, jitter, drifting audio) so a browser's MSE
//! never sees a break, and the PROGRAM-DATE-TIME each segment is listed at.

use super::cutter::Pending;
use super::{AAC_FRAME, Changed, Segmenter};
use crate::link::Frame;

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
/// How far (ms) another rendition's date offset may be from this one's own
/// estimate and still be followed (`follow_dates`): further, the two are
/// not on one timeline.
const PDT_FOLLOW_MS: i64 = 1_000;

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
pub(super) fn place_audio(next: Option<u64>, actual: u64, first: bool, rate: u64) -> Option<u64> {
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
    /// Maps a frame onto the output timeline. When the encoder's clock jumps
    /// (reset to zero, leap forward) the track is re-anchored just after the
    /// latest frame so timestamps stay monotonic; a jump of the main track
    /// (video, or audio when there is no video) also starts a new segment
    /// after a discontinuity.
    pub(super) fn remap(&mut self, mut f: Frame, video: bool) -> (Frame, Changed) {
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

    pub(super) fn video(&mut self, f: Frame) -> Changed {
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

    pub(super) fn audio(&mut self, f: Frame) -> Changed {
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

    pub(super) fn discontinuity(&mut self) -> Changed {
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
    pub(super) fn listed_date(&self, seq: u64, start_ms: i64) -> Option<i64> {
        self.followed
            .get(&seq)
            .copied()
            .or_else(|| self.pdt_ms(start_ms))
    }

    /// PROGRAM-DATE-TIME (Unix ms) of output DTS `dts_ms` on the current
    /// timeline.
    pub(super) fn pdt_ms(&self, dts_ms: i64) -> Option<i64> {
        self.pdt_offset_ms.map(|o| dts_ms + o)
    }
}
