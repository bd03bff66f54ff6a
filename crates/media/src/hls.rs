//! HLS playlists (RFC 8216bis): the model the packager keeps and its rendering.

use std::fmt::Write;

/// One media segment in a media playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentEntry {
    /// Media sequence number.
    pub seq: u64,
    /// Seconds.
    pub duration: f64,
    pub uri: String,
    /// The init segment (`EXT-X-MAP`) this segment needs.
    pub map_uri: String,
    /// A discontinuity precedes this segment (publisher reconnected).
    pub discontinuity: bool,
    /// Wall-clock time of the first sample at ingest, Unix ms.
    pub program_date_time_ms: Option<i64>,
}

/// A live or ended media playlist.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MediaPlaylist {
    /// Configured target duration in seconds.
    pub target_duration: f64,
    /// Discontinuities that have slid out of the window.
    pub discontinuity_sequence: u64,
    pub segments: Vec<SegmentEntry>,
    pub ended: bool,
}

/// Formats Unix ms as RFC 3339 with milliseconds, UTC.
fn rfc3339_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        tod / 3600,
        tod % 3600 / 60,
        tod % 60
    )
}

impl MediaPlaylist {
    /// EXT-X-TARGETDURATION: the configured target, raised to cover any listed
    /// segment (a publisher with a longer keyframe interval than the target).
    pub fn target_duration_secs(&self) -> u64 {
        let longest = self
            .segments
            .iter()
            .map(|s| s.duration)
            .fold(self.target_duration, f64::max);
        longest.round().max(1.0) as u64
    }

    /// Renders the playlist text.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(256 + self.segments.len() * 96);
        let first_seq = self.segments.first().map_or(0, |s| s.seq);
        let _ = write!(
            out,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:{first_seq}\n",
            self.target_duration_secs()
        );
        if self.discontinuity_sequence > 0 {
            let _ = writeln!(
                out,
                "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
                self.discontinuity_sequence
            );
        }
        out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
        let mut map: Option<&str> = None;
        for s in &self.segments {
            // Kept on a first segment too, so the discontinuity sequence
            // number stays consistent as it slides out.
            if s.discontinuity {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            if map != Some(s.map_uri.as_str()) {
                let _ = writeln!(out, "#EXT-X-MAP:URI=\"{}\"", s.map_uri);
                map = Some(&s.map_uri);
            }
            if let Some(pdt) = s.program_date_time_ms {
                let _ = writeln!(out, "#EXT-X-PROGRAM-DATE-TIME:{}", rfc3339_ms(pdt));
            }
            let _ = write!(out, "#EXTINF:{:.5},\n{}\n", s.duration, s.uri);
        }
        if self.ended {
            out.push_str("#EXT-X-ENDLIST\n");
        }
        out
    }
}

/// One entry of a multivariant playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// Peak bits per second.
    pub bandwidth: u64,
    pub average_bandwidth: Option<u64>,
    pub codecs: Vec<String>,
    pub resolution: Option<(u32, u32)>,
    pub frame_rate: Option<f64>,
    pub uri: String,
}

/// Renders a multivariant playlist.
pub fn render_multivariant(variants: &[Variant]) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for v in variants {
        let _ = write!(out, "#EXT-X-STREAM-INF:BANDWIDTH={}", v.bandwidth);
        if let Some(avg) = v.average_bandwidth {
            let _ = write!(out, ",AVERAGE-BANDWIDTH={avg}");
        }
        let _ = write!(out, ",CODECS=\"{}\"", v.codecs.join(","));
        if let Some((w, h)) = v.resolution {
            let _ = write!(out, ",RESOLUTION={w}x{h}");
        }
        if let Some(f) = v.frame_rate {
            let _ = write!(out, ",FRAME-RATE={f:.3}");
        }
        let _ = write!(out, "\n{}\n", v.uri);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(seq: u64, d: f64, disc: bool, map: &str) -> SegmentEntry {
        SegmentEntry {
            seq,
            duration: d,
            uri: format!("seg{seq}.m4s"),
            map_uri: map.into(),
            discontinuity: disc,
            program_date_time_ms: Some(1_700_000_000_000 + seq as i64 * 2000),
        }
    }

    #[test]
    fn renders_live_playlist_with_discontinuity_and_new_map() {
        let p = MediaPlaylist {
            target_duration: 2.0,
            discontinuity_sequence: 0,
            segments: vec![
                seg(5, 2.0, false, "init0.mp4"),
                seg(6, 2.0, true, "init1.mp4"),
            ],
            ended: false,
        };
        let golden = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:5\n\
#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init0.mp4\"\n\
#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:30.000Z\n#EXTINF:2.00000,\nseg5.m4s\n\
#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init1.mp4\"\n\
#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:32.000Z\n#EXTINF:2.00000,\nseg6.m4s\n";
        assert_eq!(p.render(), golden);
    }

    #[test]
    fn ended_playlist_has_endlist_and_target_covers_long_segments() {
        let p = MediaPlaylist {
            target_duration: 2.0,
            discontinuity_sequence: 3,
            segments: vec![seg(0, 4.4, false, "i.mp4")],
            ended: true,
        };
        let s = p.render();
        assert!(s.contains("#EXT-X-TARGETDURATION:4\n"), "{s}");
        assert!(s.contains("#EXT-X-DISCONTINUITY-SEQUENCE:3\n"));
        assert!(s.ends_with("#EXT-X-ENDLIST\n"));
    }

    #[test]
    fn renders_multivariant() {
        let s = render_multivariant(&[Variant {
            bandwidth: 3_000_000,
            average_bandwidth: Some(2_500_000),
            codecs: vec!["avc1.64001f".into(), "mp4a.40.2".into()],
            resolution: Some((1280, 720)),
            frame_rate: Some(30.0),
            uri: "source/index.m3u8".into(),
        }]);
        assert_eq!(
            s,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n\
#EXT-X-STREAM-INF:BANDWIDTH=3000000,AVERAGE-BANDWIDTH=2500000,CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1280x720,FRAME-RATE=30.000\n\
source/index.m3u8\n"
        );
    }

    #[test]
    fn formats_dates() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(951_782_400_123), "2000-02-29T00:00:00.123Z");
    }
}
