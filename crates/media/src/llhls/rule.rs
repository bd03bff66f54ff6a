//! The part-duration rule and the switch-point rule, in one place: the
//! segmenter cuts parts and segments by them, and the ABR transcoder places
//! its extra keyframes by them, so a rung's keyframe always opens a part the
//! segmenter cuts (and never a segment the source would not cut).
//!
//! Every duration here is in milliseconds.

/// A keyframe this close to the target already cuts (FLV ms rounding).
pub const CUT_TOLERANCE_MS: i64 = 50;

/// PART-TARGET above a part's n frames: more than the ±1 ms that RTMP's
/// ms-rounded timestamps add to n frame steps.
const PART_TARGET_MARGIN_MS: f64 = 2.0;

/// The lowest part target the configuration may ask for.
pub const MIN_PART_TARGET_MS: f64 = 20.0;

/// Frames in a part: the whole number nearest the configured part target
/// (at least one) for frames `frame_ms` long.
pub fn part_frames(part_target_ms: f64, frame_ms: f64) -> f64 {
    (part_target_ms.max(MIN_PART_TARGET_MS) / frame_ms)
        .round()
        .max(1.0)
}

/// How long a full part is: its whole number of frames.
pub fn part_span_ms(part_target_ms: f64, frame_ms: f64) -> f64 {
    part_frames(part_target_ms, frame_ms) * frame_ms
}

/// `PART-TARGET`: a part's frames plus a small margin, so frame-aligned
/// parts never exceed it with ms-rounded timestamps (n steps span n × frame
/// ± 1 ms) and stay above 85% of it. The margin is kept small because
/// players hold back 3 × PART-TARGET: every ms here is 3 ms of latency.
/// Whole ms, so PART-HOLD-BACK = 3 × PART-TARGET prints exactly.
pub fn part_target_ms(part_target_ms: f64, frame_ms: f64) -> f64 {
    (part_span_ms(part_target_ms, frame_ms) + PART_TARGET_MARGIN_MS.min(frame_ms / 2.0)).ceil()
}

/// Whether a keyframe `into_ms` after a segment's start cuts it.
pub fn keyframe_cuts(into_ms: i64, target_ms: i64) -> bool {
    into_ms >= target_ms - CUT_TOLERANCE_MS
}

/// Where the rungs get keyframes: at every source keyframe (so segments
/// line up) and, between them, every `every_ms` rounded to whole parts, so
/// the extra keyframe opens a part (INDEPENDENT=YES): a player switching
/// down mid-segment joins there instead of refetching the segment from its
/// start, which on the slow link that made it switch outlasts its buffer.
/// Never within a part of where the segment may end, where a keyframe
/// would cut the rung's segment where the source's does not.
#[derive(Debug, Clone)]
pub struct SwitchPoints {
    target_ms: i64,
    part_ms: f64,
    every_ms: f64,
    segment_start: Option<i64>,
    last_key: Option<i64>,
}

impl SwitchPoints {
    /// `target_ms` and `part_ms` as the segmenters use them; `every_ms` 0
    /// for keyframes only where the source has them.
    pub fn new(target_ms: i64, part_ms: f64, every_ms: f64) -> SwitchPoints {
        SwitchPoints {
            target_ms,
            part_ms,
            every_ms,
            segment_start: None,
            last_key: None,
        }
    }

    /// Whether the rungs' frame at `pts` (ms, presentation order) is a
    /// keyframe; `frame_ms` is the frame duration.
    pub fn keyframe(&mut self, pts: i64, source_key: bool, frame_ms: f64) -> bool {
        if source_key {
            if self
                .segment_start
                .is_none_or(|s| keyframe_cuts(pts - s, self.target_ms))
            {
                self.segment_start = Some(pts);
            }
            self.last_key = Some(pts);
            return true;
        }
        let (Some(start), Some(last)) = (self.segment_start, self.last_key) else {
            return false;
        };
        if self.every_ms <= 0.0 || frame_ms <= 0.0 {
            return false;
        }
        let part = part_span_ms(self.part_ms, frame_ms);
        let interval = (self.every_ms / part).round().max(1.0) * part;
        let since = (pts - last) as f64;
        let into = (pts - start) as f64;
        if since + frame_ms / 2.0 >= interval
            && into + part < (self.target_ms - CUT_TOLERANCE_MS) as f64
        {
            self.last_key = Some(pts);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames (30 fps, ms-rounded PTS) that come out as keyframes, for
    /// source keyframes every `gop` frames.
    fn keys(every_ms: f64, gop: usize) -> Vec<usize> {
        let mut sp = SwitchPoints::new(2000, 200.0, every_ms);
        (0..240)
            .filter(|&i| sp.keyframe((i * 1000 / 30) as i64, i % gop == 0, 1000.0 / 30.0))
            .collect()
    }

    #[test]
    fn switch_points_open_parts_and_never_cut_a_segment_the_source_does_not() {
        // Off: only the source's keyframes.
        assert_eq!(keys(0.0, 60), [0, 60, 120, 180]);
        // 600 ms = 3 parts of 6 frames; none past 1.8 s into a 2 s segment.
        assert_eq!(
            keys(600.0, 60),
            [0, 18, 36, 60, 78, 96, 120, 138, 156, 180, 198, 216]
        );
        // Every keyframe is at a part start (a multiple of 6 frames into
        // its segment).
        assert!(keys(600.0, 60).iter().all(|k| (k % 60) % 6 == 0));
        // A 1 s source GOP: segments still start every other source
        // keyframe, and the extra ones count from the last keyframe.
        assert_eq!(keys(600.0, 30)[..6], [0, 18, 30, 48, 60, 78]);
        // 1 s rounds to 5 parts.
        assert_eq!(keys(1000.0, 60)[..3], [0, 30, 60]);
    }

    #[test]
    fn part_targets_are_whole_frames_plus_a_margin() {
        // 30 fps, 200 ms: 6 frames (200 ms) + 2 ms.
        assert_eq!(part_target_ms(200.0, 1000.0 / 30.0), 202.0);
        // 25 fps, 200 ms: 5 frames.
        assert_eq!(part_target_ms(200.0, 40.0), 202.0);
        // A frame longer than the target: one frame, margin at most half a frame.
        assert_eq!(part_frames(100.0, 250.0), 1.0);
        // Below the floor, the floor.
        assert_eq!(part_frames(1.0, 10.0), 2.0);
    }
}
