//! RTMP timestamps → one continuous stream timeline (ms).
//!
//! RTMP timestamps are 32-bit milliseconds that wrap after ~49.7 days and
//! restart when a publisher reconnects. Each track is unwrapped by the signed
//! difference from its last value, then shifted so the session starts at the
//! stream's `offset` (0 for a new stream, just after the last frame for a
//! resumed one).

/// Per-connection timestamp mapper.
#[derive(Debug, Clone)]
pub struct Timeline {
    offset: i64,
    base: Option<i64>,
    video: Track,
    audio: Track,
}

#[derive(Debug, Clone, Default)]
struct Track {
    last_raw: Option<u32>,
    ext: i64,
}

impl Track {
    fn unwrap(&mut self, raw: u32) -> i64 {
        match self.last_raw {
            None => self.ext = raw as i64,
            Some(last) => self.ext += raw.wrapping_sub(last) as i32 as i64,
        }
        self.last_raw = Some(raw);
        self.ext
    }
}

/// Which track a timestamp belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Video,
    Audio,
}

impl Timeline {
    /// A mapper whose first frame lands at `offset` ms.
    pub fn new(offset: i64) -> Timeline {
        Timeline {
            offset,
            base: None,
            video: Track::default(),
            audio: Track::default(),
        }
    }

    /// Maps a raw RTMP timestamp to the stream timeline.
    pub fn map(&mut self, kind: Kind, raw: u32) -> i64 {
        let ext = match kind {
            Kind::Video => self.video.unwrap(raw),
            Kind::Audio => self.audio.unwrap(raw),
        };
        let base = *self.base.get_or_insert(ext);
        self.offset + (ext - base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_offset_and_follows_deltas() {
        let mut t = Timeline::new(5000);
        assert_eq!(t.map(Kind::Video, 100), 5000);
        assert_eq!(t.map(Kind::Audio, 90), 4990);
        assert_eq!(t.map(Kind::Video, 133), 5033);
    }

    #[test]
    fn unwraps_32_bit_rollover() {
        let mut t = Timeline::new(0);
        assert_eq!(t.map(Kind::Video, u32::MAX - 10), 0);
        assert_eq!(t.map(Kind::Video, 22), 33);
        assert_eq!(t.map(Kind::Video, 55), 66);
    }

    #[test]
    fn small_backwards_steps_stay_small() {
        let mut t = Timeline::new(0);
        t.map(Kind::Video, 1000);
        assert_eq!(t.map(Kind::Video, 990), -10);
    }
}
