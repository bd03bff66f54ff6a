//! MPEG-DASH MPD (ISO/IEC 23009-1) for the live CMAF that HLS serves.
//!
//! Our own because it is a view of the packager's own state (the segments
//! it holds, their exact timing) and small; no crate writes live MPDs with
//! SegmentTimeline from such state. One Period per timeline (a publisher
//! reconnect or a new codec setup starts the next), one video adaptation set
//! with a representation per rendition, one audio adaptation set; each
//! representation's SegmentTemplate carries its own SegmentTimeline.

use crate::hls::rfc3339_ms;
use std::fmt::Write;

/// A live (or just ended) presentation.
#[derive(Debug, Clone, PartialEq)]
pub struct Mpd {
    /// `availabilityStartTime`, Unix ms: periods start relative to it.
    pub availability_start_ms: i64,
    /// `publishTime` and the UTCTiming clock value, Unix ms.
    pub now_ms: i64,
    /// How often players reload; `None` once the stream has ended (the MPD
    /// is then final and carries `mediaPresentationDuration`).
    pub minimum_update_period_s: Option<f64>,
    pub time_shift_buffer_s: f64,
    pub suggested_presentation_delay_s: f64,
    pub max_segment_s: f64,
    pub min_buffer_s: f64,
    pub periods: Vec<Period>,
}

/// One timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    pub id: String,
    /// Seconds after `availability_start_ms`.
    pub start_s: f64,
    pub video: Vec<Representation>,
    pub audio: Vec<Representation>,
}

/// What a representation's media is.
#[derive(Debug, Clone, PartialEq)]
pub enum Media {
    Video {
        width: u32,
        height: u32,
        frame_rate: f64,
    },
    Audio {
        sample_rate: u32,
        channels: u16,
    },
}

/// One track of one rendition within a period.
#[derive(Debug, Clone, PartialEq)]
pub struct Representation {
    pub id: String,
    pub codecs: String,
    /// Bits per second (peak).
    pub bandwidth: u64,
    pub media: Media,
    pub timescale: u32,
    /// Media time (in `timescale`) at the period's start.
    pub presentation_time_offset: u64,
    /// `$Number$` of the first timeline entry.
    pub start_number: u64,
    pub initialization: String,
    /// Template with `$Number$`.
    pub media_template: String,
    /// (start, duration) of each segment, in `timescale`.
    pub timeline: Vec<(u64, u64)>,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn duration(s: f64) -> String {
    format!("PT{:.3}S", s.max(0.0))
}

impl Mpd {
    /// End of the last segment of the last period, seconds after the
    /// availability start.
    pub fn end_s(&self) -> f64 {
        self.periods
            .last()
            .and_then(|p| {
                let r = p.video.first().or(p.audio.first())?;
                let (t, d) = r.timeline.last()?;
                let media = (t + d).saturating_sub(r.presentation_time_offset);
                Some(p.start_s + media as f64 / r.timescale as f64)
            })
            .unwrap_or(0.0)
    }

    /// The MPD document.
    pub fn render(&self) -> String {
        self.render_with("")
    }

    /// The MPD document with `query` (`token=…`) on every segment
    /// template's URLs (initialization and media).
    pub fn render_with(&self, query: &str) -> String {
        let mut o = String::with_capacity(4096);
        o.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = write!(
            o,
            "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" \
             profiles=\"urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019\" \
             type=\"dynamic\" availabilityStartTime=\"{}\" publishTime=\"{}\"",
            rfc3339_ms(self.availability_start_ms),
            rfc3339_ms(self.now_ms)
        );
        match self.minimum_update_period_s {
            Some(m) => {
                let _ = write!(o, " minimumUpdatePeriod=\"{}\"", duration(m));
            }
            None => {
                let _ = write!(
                    o,
                    " mediaPresentationDuration=\"{}\"",
                    duration(self.end_s())
                );
            }
        }
        let _ = writeln!(
            o,
            " timeShiftBufferDepth=\"{}\" suggestedPresentationDelay=\"{}\" \
             maxSegmentDuration=\"{}\" minBufferTime=\"{}\">",
            duration(self.time_shift_buffer_s),
            duration(self.suggested_presentation_delay_s),
            duration(self.max_segment_s),
            duration(self.min_buffer_s)
        );
        for p in &self.periods {
            let _ = writeln!(
                o,
                "  <Period id=\"{}\" start=\"{}\">",
                escape(&p.id),
                duration(p.start_s)
            );
            for (kind, reps) in [("video", &p.video), ("audio", &p.audio)] {
                if reps.is_empty() {
                    continue;
                }
                let _ = writeln!(
                    o,
                    "    <AdaptationSet contentType=\"{kind}\" mimeType=\"{kind}/mp4\" \
                     segmentAlignment=\"true\" startWithSAP=\"1\">"
                );
                for r in reps {
                    render_representation(&mut o, r, query);
                }
                o.push_str("    </AdaptationSet>\n");
            }
            o.push_str("  </Period>\n");
        }
        let _ = writeln!(
            o,
            "  <UTCTiming schemeIdUri=\"urn:mpeg:dash:utc:direct:2014\" value=\"{}\"/>",
            rfc3339_ms(self.now_ms)
        );
        o.push_str("</MPD>\n");
        o
    }
}

fn render_representation(o: &mut String, r: &Representation, query: &str) {
    let with_query = |url: &str| match query {
        "" => escape(url),
        q => escape(&format!(
            "{url}{}{q}",
            if url.contains('?') { '&' } else { '?' }
        )),
    };
    let _ = write!(
        o,
        "      <Representation id=\"{}\" codecs=\"{}\" bandwidth=\"{}\"",
        escape(&r.id),
        escape(&r.codecs),
        r.bandwidth
    );
    match r.media {
        Media::Video {
            width,
            height,
            frame_rate,
        } => {
            let _ = write!(
                o,
                " width=\"{width}\" height=\"{height}\" frameRate=\"{}\" sar=\"1:1\"",
                (frame_rate * 1000.0).round() / 1000.0
            );
        }
        Media::Audio {
            sample_rate,
            channels,
        } => {
            let _ = write!(o, " audioSamplingRate=\"{sample_rate}\"");
            let _ = write!(
                o,
                "><AudioChannelConfiguration schemeIdUri=\"urn:mpeg:dash:23003:3:audio_channel_configuration:2011\" value=\"{channels}\"/"
            );
        }
    }
    let _ = writeln!(o, ">");
    let _ = writeln!(
        o,
        "        <SegmentTemplate timescale=\"{}\" presentationTimeOffset=\"{}\" startNumber=\"{}\" \
         initialization=\"{}\" media=\"{}\">",
        r.timescale,
        r.presentation_time_offset,
        r.start_number,
        with_query(&r.initialization),
        with_query(&r.media_template)
    );
    o.push_str("          <SegmentTimeline>");
    // Runs of equal, back-to-back segments share one S with @r.
    let mut i = 0;
    while i < r.timeline.len() {
        let (t, d) = r.timeline[i];
        let mut repeat = 0;
        while let Some(&(nt, nd)) = r.timeline.get(i + 1 + repeat) {
            if nd != d || nt != t + d * (repeat as u64 + 1) {
                break;
            }
            repeat += 1;
        }
        let _ = write!(o, "<S t=\"{t}\" d=\"{d}\"");
        if repeat > 0 {
            let _ = write!(o, " r=\"{repeat}\"");
        }
        o.push_str("/>");
        i += 1 + repeat;
    }
    o.push_str("</SegmentTimeline>\n        </SegmentTemplate>\n      </Representation>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rep(id: &str, timeline: Vec<(u64, u64)>) -> Representation {
        Representation {
            id: id.into(),
            codecs: "avc1.64001f".into(),
            bandwidth: 1_500_000,
            media: Media::Video {
                width: 1280,
                height: 720,
                frame_rate: 30.0,
            },
            timescale: 90_000,
            presentation_time_offset: 180_000,
            start_number: 7,
            initialization: "source/s1-init-0.t1.mp4".into(),
            media_template: "source/s1-$Number$.t1.m4s".into(),
            timeline,
        }
    }

    fn mpd(periods: Vec<Period>, live: bool) -> Mpd {
        Mpd {
            availability_start_ms: 1_700_000_000_000,
            now_ms: 1_700_000_030_000,
            minimum_update_period_s: live.then_some(1.0),
            time_shift_buffer_s: 24.0,
            suggested_presentation_delay_s: 6.0,
            max_segment_s: 2.0,
            min_buffer_s: 2.0,
            periods,
        }
    }

    #[test]
    fn timeline_runs_share_an_s_and_gaps_start_a_new_one() {
        let r = rep(
            "source",
            vec![
                (180_000, 180_000),
                (360_000, 180_000),
                (540_000, 180_000),
                (720_000, 90_000),
                (900_000, 90_000),
            ],
        );
        let p = Period {
            id: "0".into(),
            start_s: 2.5,
            video: vec![r],
            audio: vec![],
        };
        let text = mpd(vec![p], true).render();
        assert!(
            text.contains("<S t=\"180000\" d=\"180000\" r=\"2\"/><S t=\"720000\" d=\"90000\"/><S t=\"900000\" d=\"90000\"/>"),
            "{text}"
        );
        assert!(
            text.contains("availabilityStartTime=\"2023-11-14T22:13:20.000Z\""),
            "{text}"
        );
        assert!(text.contains("minimumUpdatePeriod=\"PT1.000S\""), "{text}");
        assert!(
            text.contains("<Period id=\"0\" start=\"PT2.500S\">"),
            "{text}"
        );
        assert!(text.contains("startNumber=\"7\""), "{text}");
        assert!(!text.contains("mediaPresentationDuration"), "{text}");
    }

    #[test]
    fn an_ended_stream_gets_its_duration_and_no_updates() {
        let p = Period {
            id: "0".into(),
            start_s: 2.0,
            video: vec![rep("source", vec![(180_000, 180_000), (360_000, 180_000)])],
            audio: vec![],
        };
        let m = mpd(vec![p], false);
        // Two 2 s segments from the period's start at 2 s.
        assert_eq!(m.end_s(), 6.0);
        let text = m.render();
        assert!(
            text.contains("mediaPresentationDuration=\"PT6.000S\""),
            "{text}"
        );
        assert!(!text.contains("minimumUpdatePeriod"), "{text}");
    }

    #[test]
    fn a_query_goes_on_both_templates_at_render_time() {
        let p = Period {
            id: "0".into(),
            start_s: 0.0,
            video: vec![rep("source", vec![(180_000, 90_000)])],
            audio: vec![],
        };
        let m = mpd(vec![p], true);
        let plain = m.render();
        let with = m.render_with("token=T.k&x=1");
        assert!(
            with.contains("initialization=\"source/s1-init-0.t1.mp4?token=T.k&amp;x=1\""),
            "{with}"
        );
        assert_eq!(with.matches("?token=T.k&amp;x=1\"").count(), 2, "{with}");
        assert_eq!(with.replace("?token=T.k&amp;x=1", ""), plain);
    }

    #[test]
    fn attribute_values_are_escaped() {
        let p = Period {
            id: "<&\">".into(),
            start_s: 0.0,
            video: vec![rep("a\"b", vec![(0, 1)])],
            audio: vec![],
        };
        let text = mpd(vec![p], true).render();
        assert!(text.contains("id=\"&lt;&amp;&quot;&gt;\""), "{text}");
        assert!(text.contains("id=\"a&quot;b\""), "{text}");
    }
}
