//! What a publisher is sending, measured as it arrives: bitrate, frame rate,
//! keyframe interval and A/V timestamp warnings, for /status, /metrics and
//! the operator's dashboard.
//!
//! Sans-IO: the connection feeds it each tag with the wall clock and the
//! tag's stream timestamp; nothing here reads a clock.

use std::collections::VecDeque;

/// The window rates are measured over.
const WINDOW_MS: i64 = 5_000;
/// Audio and video further apart than this are out of sync.
const AV_DRIFT_MS: i64 = 1_000;

/// One tag's arrival.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at_ms: i64,
    bytes: u64,
    video: bool,
}

/// What the meter reads (its fields are ingestd's `/status` figures).
pub use stage_core::api::status::IngestReading as Reading;

/// Feeds on tags, answers with a [`Reading`].
#[derive(Debug, Default)]
pub struct Meter {
    window: VecDeque<Sample>,
    first_ms: Option<i64>,
    last_key_dts: Option<i64>,
    key_interval_ms: i64,
    last_video_dts: Option<i64>,
    last_audio_dts: Option<i64>,
    out_of_sync: bool,
    warnings: u64,
}

impl Meter {
    /// A video frame of `bytes` with decode timestamp `dts` arrived at `now_ms`.
    pub fn video(&mut self, now_ms: i64, dts: i64, bytes: usize, keyframe: bool) {
        self.push(now_ms, bytes, true);
        if self.last_video_dts.is_some_and(|last| dts < last) {
            self.warnings += 1;
        }
        self.last_video_dts = Some(dts);
        if keyframe {
            if let Some(last) = self.last_key_dts
                && dts > last
            {
                self.key_interval_ms = dts - last;
            }
            self.last_key_dts = Some(dts);
        }
        self.check_sync();
    }

    /// An audio frame of `bytes` with timestamp `dts` arrived at `now_ms`.
    pub fn audio(&mut self, now_ms: i64, dts: i64, bytes: usize) {
        self.push(now_ms, bytes, false);
        if self.last_audio_dts.is_some_and(|last| dts < last) {
            self.warnings += 1;
        }
        self.last_audio_dts = Some(dts);
        self.check_sync();
    }

    fn push(&mut self, now_ms: i64, bytes: usize, video: bool) {
        self.first_ms.get_or_insert(now_ms);
        self.window.push_back(Sample {
            at_ms: now_ms,
            bytes: bytes as u64,
            video,
        });
        self.prune(now_ms);
    }

    fn prune(&mut self, now_ms: i64) {
        while self
            .window
            .front()
            .is_some_and(|s| s.at_ms <= now_ms - WINDOW_MS)
        {
            self.window.pop_front();
        }
    }

    // Counts each time the tracks drift apart, not each frame while they are.
    fn check_sync(&mut self) {
        let (Some(v), Some(a)) = (self.last_video_dts, self.last_audio_dts) else {
            return;
        };
        let apart = (v - a).abs() > AV_DRIFT_MS;
        if apart && !self.out_of_sync {
            self.warnings += 1;
        }
        self.out_of_sync = apart;
    }

    /// The figures as of `now_ms`. A publisher that has gone quiet reads 0.
    pub fn reading(&mut self, now_ms: i64) -> Reading {
        self.prune(now_ms);
        // A young stream is measured over its age, not the whole window.
        let span = self
            .first_ms
            .map_or(WINDOW_MS, |f| (now_ms - f).clamp(1_000, WINDOW_MS));
        let bytes: u64 = self.window.iter().map(|s| s.bytes).sum();
        let frames = self.window.iter().filter(|s| s.video).count();
        Reading {
            bitrate_bps: bytes * 8 * 1000 / span as u64,
            fps: frames as f64 * 1000.0 / span as f64,
            keyframe_interval_ms: self.key_interval_ms,
            av_warnings: self.warnings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 30 fps video of 4 KiB frames (keyframe every `gop` frames) and 43 Hz
    /// audio of 256 B, for `secs` seconds, arriving in real time.
    fn feed(m: &mut Meter, secs: i64, gop: i64) {
        // (time, video frame index or None for audio), in arrival order.
        let mut tags: Vec<(i64, Option<i64>)> = (0..secs * 30)
            .map(|i| (i * 1000 / 30, Some(i)))
            .chain((0..secs * 43).map(|i| (i * 1000 / 43, None)))
            .collect();
        tags.sort();
        for (t, video) in tags {
            match video {
                Some(i) => m.video(t, t, 4096, i % gop == 0),
                None => m.audio(t, t, 256),
            }
        }
    }

    #[test]
    fn bitrate_and_fps_follow_what_arrived_in_the_last_five_seconds() {
        let mut m = Meter::default();
        feed(&mut m, 10, 60);
        let r = m.reading(10_000);
        let want = (30 * 4096 + 43 * 256) * 8;
        assert!(
            (r.bitrate_bps as i64 - want).abs() < want / 50,
            "{r:?} vs {want}"
        );
        assert!((r.fps - 30.0).abs() < 0.5, "{r:?}");
        assert_eq!(r.keyframe_interval_ms, 2000);
        assert_eq!(r.av_warnings, 0);
    }

    #[test]
    fn a_young_stream_is_measured_over_its_age() {
        let mut m = Meter::default();
        feed(&mut m, 2, 60);
        let r = m.reading(2_000);
        assert!((r.fps - 30.0).abs() < 1.0, "{r:?}");
    }

    #[test]
    fn a_quiet_publisher_reads_zero() {
        let mut m = Meter::default();
        feed(&mut m, 3, 30);
        let r = m.reading(20_000);
        assert_eq!(r.bitrate_bps, 0);
        assert_eq!(r.fps, 0.0);
        assert_eq!(r.keyframe_interval_ms, 1000, "the last interval stays");
    }

    #[test]
    fn drift_and_backward_steps_are_counted_once_each() {
        let mut m = Meter::default();
        m.video(0, 0, 10, true);
        m.audio(0, 0, 10);
        // Audio falls 2 s behind and stays there for several frames: one warning.
        for i in 1..10 {
            m.video(i * 33, 2000 + i * 33, 10, false);
        }
        assert_eq!(m.reading(400).av_warnings, 1);
        m.audio(500, 2300, 10); // back in sync
        m.video(533, 2330, 10, false);
        m.video(566, 2300, 10, false); // steps back
        assert_eq!(m.reading(600).av_warnings, 2);
    }
}
