//! HLS playlists (RFC 8216bis): the model the packager keeps and its rendering.

use std::fmt::Write;

/// One partial segment (LL-HLS `EXT-X-PART`).
#[derive(Debug, Clone, PartialEq)]
pub struct PartEntry {
    /// Seconds.
    pub duration: f64,
    pub uri: String,
    /// Starts with a keyframe (`INDEPENDENT=YES`).
    pub independent: bool,
}

/// One media segment in a media playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentEntry {
    /// Media sequence number.
    pub seq: u64,
    /// Seconds (the exact sum of its parts).
    pub duration: f64,
    pub uri: String,
    /// The init segment (`EXT-X-MAP`) this segment needs.
    pub map_uri: String,
    /// A discontinuity precedes this segment (publisher reconnected).
    pub discontinuity: bool,
    /// Wall-clock time of the first sample at ingest, Unix ms.
    pub program_date_time_ms: Option<i64>,
    /// Starts with a keyframe.
    pub independent: bool,
    /// Its parts, listed while the segment is near the live edge.
    pub parts: Vec<PartEntry>,
}

/// The LL-HLS side of a live playlist: part target, the parts of the segment
/// being written, and the hint for the next part.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LowLatency {
    /// `EXT-X-PART-INF:PART-TARGET`, seconds.
    pub part_target: f64,
    /// Parts of the segment being written (its MSN follows the last segment).
    pub open_parts: Vec<PartEntry>,
    /// Tags of the segment being written, which precede its first part.
    pub open_discontinuity: bool,
    pub open_map_uri: Option<String>,
    pub open_program_date_time_ms: Option<i64>,
    /// `EXT-X-PRELOAD-HINT` URI of the next part.
    pub preload_hint: Option<String>,
    /// `EXT-X-RENDITION-REPORT`s: where the other renditions are, so a
    /// player switching to one can ask for its next part straight away.
    pub rendition_reports: Vec<RenditionReport>,
}

/// One `EXT-X-RENDITION-REPORT`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RenditionReport {
    /// The other rendition's media playlist, relative to this one.
    pub uri: String,
    /// Its last segment (the one being written when it has parts).
    pub last_msn: u64,
    /// Index of that segment's last part.
    pub last_part: Option<u64>,
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
    /// LL-HLS parts, server control and preload hint; `None` renders plain HLS.
    pub low_latency: Option<LowLatency>,
    /// Segments listed before `segments`, already rendered: a long DVR
    /// window changes once a segment, while the playlist is rendered at
    /// every part.
    pub head: Option<std::sync::Arc<RenderedSegments>>,
}

/// Playlist entries rendered once (see `MediaPlaylist::head`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RenderedSegments {
    pub text: String,
    pub count: usize,
    pub first_seq: u64,
    /// Their total and longest durations (s).
    pub secs: f64,
    pub longest: f64,
    pub all_independent: bool,
    /// The EXT-X-MAP in force after them.
    pub last_map: Option<String>,
    /// Where each URI lies in `text` (byte start and end): a query (a
    /// viewer's token) is added at render time, between the spans, with no
    /// scan of the text.
    pub uri_spans: Vec<(usize, usize)>,
}

impl RenderedSegments {
    /// Renders `entries` (in order, none empty) as a playlist would list
    /// them.
    pub fn new<'a>(entries: impl IntoIterator<Item = &'a SegmentEntry>) -> RenderedSegments {
        let mut r = RenderedSegments {
            all_independent: true,
            ..Default::default()
        };
        for s in entries {
            if r.count == 0 {
                r.first_seq = s.seq;
            }
            r.count += 1;
            r.secs += s.duration;
            r.longest = r.longest.max(s.duration);
            r.all_independent &= s.independent;
            let mut w = Writer {
                out: &mut r.text,
                query: "",
                spans: Some(&mut r.uri_spans),
            };
            w.segment(s, &mut r.last_map);
        }
        r
    }

    /// Appends the entries to `out`, each URI with `query` added.
    fn write_to(&self, out: &mut String, query: &str) {
        if query.is_empty() {
            out.push_str(&self.text);
            return;
        }
        let mut at = 0;
        for &(start, end) in &self.uri_spans {
            out.push_str(&self.text[at..end]);
            push_query(out, &self.text[start..end], query);
            at = end;
        }
        out.push_str(&self.text[at..]);
    }
}

/// Adds `query` to a URI just written (`?` or, when it has one, `&`).
fn push_query(out: &mut String, uri: &str, query: &str) {
    if !query.is_empty() {
        out.push(if uri.contains('?') { '&' } else { '?' });
        out.push_str(query);
    }
}

/// Writes playlist lines, each URI with a query added (`token=…` for a
/// members-only viewer; empty for everyone else), noting where URIs lie
/// when asked to.
struct Writer<'a> {
    out: &'a mut String,
    query: &'a str,
    spans: Option<&'a mut Vec<(usize, usize)>>,
}

impl Writer<'_> {
    fn uri(&mut self, uri: &str) {
        let start = self.out.len();
        self.out.push_str(uri);
        if let Some(spans) = self.spans.as_deref_mut() {
            spans.push((start, self.out.len()));
        }
        push_query(self.out, uri, self.query);
    }

    /// `URI="uri"`, as a tag's attribute.
    fn uri_attr(&mut self, uri: &str) {
        self.out.push_str("URI=\"");
        self.uri(uri);
        self.out.push('"');
    }

    /// One segment's lines (a discontinuity, its map when it changes, its
    /// date, its parts, EXTINF and URI).
    fn segment(&mut self, s: &SegmentEntry, map: &mut Option<String>) {
        // Kept on a first segment too, so the discontinuity sequence
        // number stays consistent as it slides out.
        if s.discontinuity {
            self.out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if map.as_deref() != Some(s.map_uri.as_str()) {
            self.out.push_str("#EXT-X-MAP:");
            self.uri_attr(&s.map_uri);
            self.out.push('\n');
            *map = Some(s.map_uri.clone());
        }
        if let Some(pdt) = s.program_date_time_ms {
            let _ = writeln!(self.out, "#EXT-X-PROGRAM-DATE-TIME:{}", rfc3339_ms(pdt));
        }
        self.parts(&s.parts);
        let _ = writeln!(self.out, "#EXTINF:{:.5},", s.duration);
        self.uri(&s.uri);
        self.out.push('\n');
    }

    fn parts(&mut self, parts: &[PartEntry]) {
        for p in parts {
            let _ = write!(self.out, "#EXT-X-PART:DURATION={:.5},", p.duration);
            self.uri_attr(&p.uri);
            if p.independent {
                self.out.push_str(",INDEPENDENT=YES");
            }
            self.out.push('\n');
        }
    }
}

/// Formats Unix ms as RFC 3339 with milliseconds, UTC.
pub(crate) fn rfc3339_ms(ms: i64) -> String {
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
    /// EXT-X-TARGETDURATION: the configured target, rounded (the segmenter
    /// keeps every segment's rounded duration at or below it), raised only
    /// when a listed segment ran longer anyway.
    pub fn target_duration_secs(&self) -> u64 {
        let head = self.head.as_ref().map_or(0.0, |h| h.longest);
        let longest = self
            .segments
            .iter()
            .map(|s| s.duration)
            .fold(self.target_duration.max(head), f64::max);
        longest.round().max(1.0) as u64
    }

    /// `CAN-SKIP-UNTIL`: segments starting more than this many seconds before
    /// the end may be skipped in a delta update (the spec's minimum, six
    /// target durations).
    pub fn can_skip_until(&self) -> f64 {
        6.0 * self.target_duration_secs() as f64
    }

    /// How many leading segments a delta update (`_HLS_skip=YES`) omits
    /// (the pre-rendered head goes whole or not at all).
    pub fn skippable(&self) -> usize {
        let Some(ll) = self.low_latency.as_ref().filter(|_| !self.ended) else {
            return 0;
        };
        let head = self.head.as_ref().map_or(0, |h| h.count);
        let limit = self.can_skip_until();
        let mut from_end: f64 = ll.open_parts.iter().map(|p| p.duration).sum();
        for (i, s) in self.segments.iter().enumerate().rev() {
            // `from_end` is how far segment i's end lies from the playlist's
            // end: once that reaches the limit, it and all before it may go.
            if from_end >= limit {
                return head + i + 1;
            }
            from_end += s.duration;
        }
        if from_end >= limit { head } else { 0 }
    }

    /// Segments listed, the pre-rendered head's included.
    pub fn len(&self) -> usize {
        self.head.as_ref().map_or(0, |h| h.count) + self.segments.len()
    }

    /// Whether nothing is listed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Renders the full playlist.
    pub fn render(&self) -> String {
        self.render_skipping(0, "")
    }

    /// Renders the full playlist with `query` (`token=…`) on every URI it
    /// lists: segments, parts, maps, the preload hint and the rendition
    /// reports.
    pub fn render_with(&self, query: &str) -> String {
        self.render_skipping(0, query)
    }

    /// Renders a finished recording: `EXT-X-PLAYLIST-TYPE:VOD`, every
    /// segment, `EXT-X-ENDLIST`.
    pub fn render_vod(&self) -> String {
        let vod = MediaPlaylist {
            ended: true,
            low_latency: None,
            ..self.clone()
        };
        let text = vod.render();
        match text.find("#EXT-X-TARGETDURATION") {
            Some(at) => format!("{}#EXT-X-PLAYLIST-TYPE:VOD\n{}", &text[..at], &text[at..]),
            None => text,
        }
    }

    /// Renders a delta update (RFC 8216bis 6.2.5.1) that replaces the
    /// skippable segments with `EXT-X-SKIP`, or `None` when nothing may be
    /// skipped. `EXT-X-MEDIA-SEQUENCE` and `EXT-X-DISCONTINUITY-SEQUENCE` keep
    /// the full playlist's values: both describe its first (skipped) segment,
    /// so a client that merges the update numbers every segment, and every
    /// discontinuity inside the skipped range, exactly as the full one does.
    pub fn render_delta(&self) -> Option<String> {
        self.render_delta_with("")
    }

    /// `render_delta` with `query` on every URI (see `render_with`).
    pub fn render_delta_with(&self, query: &str) -> Option<String> {
        let skip = self.skippable();
        (skip > 0).then(|| self.render_skipping(skip, query))
    }

    fn render_skipping(&self, skip: usize, query: &str) -> String {
        let head = self.head.as_deref().filter(|h| h.count > 0);
        let listed_head = head.filter(|_| skip == 0);
        let mut out = String::with_capacity(
            512 + self.segments.len() * 160 + listed_head.map_or(0, |h| h.text.len()),
        );
        let first_seq = match head {
            Some(h) => h.first_seq,
            None => self.segments.first().map_or(0, |s| s.seq),
        };
        let td = self.target_duration_secs();
        let version = if skip > 0 { 9 } else { 7 };
        let _ = write!(
            out,
            "#EXTM3U\n#EXT-X-VERSION:{version}\n#EXT-X-TARGETDURATION:{td}\n"
        );
        if let Some(ll) = &self.low_latency {
            let _ = write!(
                out,
                "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL={:.1},PART-HOLD-BACK={:.3},HOLD-BACK={:.1}\n\
                 #EXT-X-PART-INF:PART-TARGET={:.3}\n",
                self.can_skip_until(),
                3.0 * ll.part_target,
                3.0 * td as f64,
                ll.part_target
            );
        }
        let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{first_seq}");
        if self.discontinuity_sequence > 0 {
            let _ = writeln!(
                out,
                "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
                self.discontinuity_sequence
            );
        }
        if self.segments.iter().all(|s| s.independent) && head.is_none_or(|h| h.all_independent) {
            out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
        }
        if skip > 0 {
            let _ = writeln!(out, "#EXT-X-SKIP:SKIPPED-SEGMENTS={skip}");
        }
        let mut map: Option<String> = None;
        if let Some(h) = listed_head {
            h.write_to(&mut out, query);
            map = h.last_map.clone();
        }
        let mut w = Writer {
            out: &mut out,
            query,
            spans: None,
        };
        let skip_live = skip.saturating_sub(head.map_or(0, |h| h.count));
        for s in &self.segments[skip_live.min(self.segments.len())..] {
            w.segment(s, &mut map);
        }
        if let Some(ll) = self.low_latency.as_ref().filter(|_| !self.ended) {
            if !ll.open_parts.is_empty() {
                if ll.open_discontinuity {
                    w.out.push_str("#EXT-X-DISCONTINUITY\n");
                }
                if let Some(m) = ll.open_map_uri.as_deref()
                    && map.as_deref() != Some(m)
                {
                    w.out.push_str("#EXT-X-MAP:");
                    w.uri_attr(m);
                    w.out.push('\n');
                }
                if let Some(pdt) = ll.open_program_date_time_ms {
                    let _ = writeln!(w.out, "#EXT-X-PROGRAM-DATE-TIME:{}", rfc3339_ms(pdt));
                }
                w.parts(&ll.open_parts);
            }
            if let Some(hint) = &ll.preload_hint {
                w.out.push_str("#EXT-X-PRELOAD-HINT:TYPE=PART,");
                w.uri_attr(hint);
                w.out.push('\n');
            }
            if !self.ended {
                for r in &ll.rendition_reports {
                    w.out.push_str("#EXT-X-RENDITION-REPORT:");
                    w.uri_attr(&r.uri);
                    let _ = write!(w.out, ",LAST-MSN={}", r.last_msn);
                    if let Some(p) = r.last_part {
                        let _ = write!(w.out, ",LAST-PART={p}");
                    }
                    w.out.push('\n');
                }
            }
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
    render_multivariant_with(variants, "")
}

/// `render_multivariant` with `query` (`token=…`) on every media
/// playlist's URI.
pub fn render_multivariant_with(variants: &[Variant], query: &str) -> String {
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
        out.push('\n');
        out.push_str(&v.uri);
        push_query(&mut out, &v.uri, query);
        out.push('\n');
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
            independent: true,
            parts: vec![],
        }
    }

    #[test]
    fn renders_live_playlist_with_discontinuity_and_new_map() {
        let p = MediaPlaylist {
            target_duration: 2.0,
            head: None,
            discontinuity_sequence: 0,
            segments: vec![
                seg(5, 2.0, false, "init0.mp4"),
                seg(6, 2.0, true, "init1.mp4"),
            ],
            ended: false,
            low_latency: None,
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
            head: None,
            discontinuity_sequence: 3,
            segments: vec![seg(0, 4.4, false, "i.mp4")],
            ended: true,
            low_latency: None,
        };
        let s = p.render();
        assert!(s.contains("#EXT-X-TARGETDURATION:4\n"), "{s}");
        assert!(s.contains("#EXT-X-DISCONTINUITY-SEQUENCE:3\n"));
        assert!(s.ends_with("#EXT-X-ENDLIST\n"));
    }

    fn part(n: u64, d: f64, independent: bool) -> PartEntry {
        PartEntry {
            duration: d,
            uri: format!("p{n}.m4s"),
            independent,
        }
    }

    /// Ten 2 s segments of ten 0.2 s parts; the first three are complete
    /// with parts listed on the last two, three parts of the next are out.
    fn low_latency() -> MediaPlaylist {
        let mut segments: Vec<SegmentEntry> = (0..10)
            .map(|i| seg(100 + i, 2.0, i == 1, "init.mp4"))
            .collect();
        for s in segments.iter_mut().skip(8) {
            s.parts = (0..10).map(|k| part(s.seq * 10 + k, 0.2, k == 0)).collect();
        }
        MediaPlaylist {
            target_duration: 2.0,
            head: None,
            discontinuity_sequence: 4,
            segments,
            ended: false,
            low_latency: Some(LowLatency {
                part_target: 0.217,
                open_parts: (0..3).map(|k| part(1100 + k, 0.2, k == 0)).collect(),
                open_discontinuity: false,
                open_map_uri: Some("init.mp4".into()),
                open_program_date_time_ms: Some(1_700_000_020_000),
                preload_hint: Some("p1103.m4s".into()),
                rendition_reports: Vec::new(),
            }),
        }
    }

    /// Every URI a playlist lists, with the query after it (`None` for a
    /// URI without it): URI lines and `URI="…"` attributes.
    fn uris(text: &str) -> Vec<(String, Option<String>)> {
        let mut out = Vec::new();
        for line in text.lines() {
            let mut found: Vec<&str> = line
                .split("URI=\"")
                .skip(1)
                .map(|r| r.split('"').next().unwrap())
                .collect();
            if !line.is_empty() && !line.starts_with('#') {
                found.push(line);
            }
            for u in found {
                let (path, q) = match u.split_once('?') {
                    Some((p, q)) => (p, Some(q.to_string())),
                    None => (u, None),
                };
                out.push((path.to_string(), q));
            }
        }
        out
    }

    #[test]
    fn a_query_goes_on_every_uri_at_render_time_head_included() {
        let mut p = low_latency();
        p.low_latency.as_mut().unwrap().rendition_reports = vec![RenditionReport {
            uri: "../480p/index.m3u8".into(),
            last_msn: 110,
            last_part: Some(2),
        }];
        // The first three segments pre-rendered, as a DVR window's are.
        let head: Vec<SegmentEntry> = p.segments.drain(..3).collect();
        p.head = Some(std::sync::Arc::new(RenderedSegments::new(&head)));
        let plain = p.render();
        let with = p.render_with("token=T.k");
        let listed = uris(&with);
        // Maps, segments, parts, the hint and the report: all of them.
        assert!(listed.len() > 30, "{with}");
        for (uri, q) in &listed {
            assert_eq!(q.as_deref(), Some("token=T.k"), "{uri} in {with}");
        }
        assert_eq!(
            listed.iter().map(|(u, _)| u.clone()).collect::<Vec<_>>(),
            uris(&plain).into_iter().map(|(u, _)| u).collect::<Vec<_>>()
        );
        // Nothing else changes: without the queries it is the plain text.
        assert_eq!(with.replace("?token=T.k", ""), plain);
        let delta = p.render_delta_with("token=T.k").unwrap();
        assert!(
            uris(&delta)
                .iter()
                .all(|(_, q)| q.as_deref() == Some("token=T.k"))
        );
        assert_eq!(delta.replace("?token=T.k", ""), p.render_delta().unwrap());
        // A multivariant playlist's media playlists too.
        let v = Variant {
            uri: "source/index.m3u8".into(),
            bandwidth: 1,
            average_bandwidth: None,
            codecs: vec!["avc1.64001f".into()],
            resolution: None,
            frame_rate: None,
        };
        let m = render_multivariant_with(std::slice::from_ref(&v), "token=T.k");
        assert!(m.ends_with("\nsource/index.m3u8?token=T.k\n"), "{m}");
        assert_eq!(m.replace("?token=T.k", ""), render_multivariant(&[v]));
    }

    #[test]
    fn reports_the_other_renditions_after_the_hint() {
        let mut p = low_latency();
        let ll = p.low_latency.as_mut().unwrap();
        ll.rendition_reports = vec![
            RenditionReport {
                uri: "../480p/index.m3u8".into(),
                last_msn: 110,
                last_part: Some(2),
            },
            RenditionReport {
                uri: "../360p/index.m3u8".into(),
                last_msn: 109,
                last_part: None,
            },
        ];
        let s = p.render();
        assert!(
            s.ends_with(
                "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p1103.m4s\"\n\
            #EXT-X-RENDITION-REPORT:URI=\"../480p/index.m3u8\",LAST-MSN=110,LAST-PART=2\n\
            #EXT-X-RENDITION-REPORT:URI=\"../360p/index.m3u8\",LAST-MSN=109\n"
            ),
            "{s}"
        );
        assert_eq!(
            p.render_delta()
                .unwrap()
                .matches("RENDITION-REPORT")
                .count(),
            2
        );
        p.ended = true;
        assert!(!p.render().contains("RENDITION-REPORT"));
    }

    #[test]
    fn renders_parts_server_control_and_preload_hint() {
        let s = low_latency().render();
        assert!(s.contains("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.0,PART-HOLD-BACK=0.651,HOLD-BACK=6.0\n#EXT-X-PART-INF:PART-TARGET=0.217\n"), "{s}");
        assert_eq!(s.matches("#EXT-X-PART:").count(), 23, "{s}");
        assert!(s.contains("#EXT-X-PART:DURATION=0.20000,URI=\"p1080.m4s\",INDEPENDENT=YES\n#EXT-X-PART:DURATION=0.20000,URI=\"p1081.m4s\"\n"), "{s}");
        // The open segment's tags come before its first part, the hint last.
        assert!(s.ends_with("seg109.m4s\n#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:40.000Z\n#EXT-X-PART:DURATION=0.20000,URI=\"p1100.m4s\",INDEPENDENT=YES\n#EXT-X-PART:DURATION=0.20000,URI=\"p1101.m4s\"\n#EXT-X-PART:DURATION=0.20000,URI=\"p1102.m4s\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p1103.m4s\"\n"), "{s}");
        let mut ended = low_latency();
        ended.ended = true;
        let e = ended.render();
        assert!(!e.contains("PRELOAD-HINT") && !e.contains("p110"), "{e}");
    }

    #[test]
    fn delta_update_skips_old_segments_and_keeps_the_sequence_numbers() {
        let p = low_latency();
        // 0.6 s open + 2 s per segment: segment 103 ends 12.6 s before the
        // end of the playlist, 104 only 10.6 s.
        assert_eq!(p.skippable(), 4);
        let d = p.render_delta().unwrap();
        assert!(d.contains("#EXT-X-VERSION:9\n"), "{d}");
        assert!(
            d.contains("#EXT-X-MEDIA-SEQUENCE:100\n#EXT-X-DISCONTINUITY-SEQUENCE:4\n"),
            "{d}"
        );
        assert!(
            d.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS=4\n#EXT-X-MAP:URI=\"init.mp4\"\n"),
            "{d}"
        );
        assert!(!d.contains("seg103.m4s") && d.contains("seg104.m4s"), "{d}");
        // The discontinuity before segment 101 is inside the skipped range.
        assert!(!d.contains("#EXT-X-DISCONTINUITY\n"), "{d}");
        let short = MediaPlaylist {
            segments: p.segments[..5].to_vec(),
            ..p.clone()
        };
        assert_eq!(short.render_delta(), None);
    }

    #[test]
    fn a_pre_rendered_head_renders_as_the_same_entries_would() {
        let whole = low_latency();
        for n in [1, 3, 5] {
            let mut split = whole.clone();
            let head: Vec<SegmentEntry> = split.segments.drain(..n).collect();
            split.head = Some(std::sync::Arc::new(RenderedSegments::new(&head)));
            assert_eq!(split.len(), whole.len());
            assert_eq!(split.render(), whole.render(), "head of {n}");
            assert_eq!(split.target_duration_secs(), whole.target_duration_secs());
            // A delta update skips the head whole, or nothing of it.
            match (split.render_delta(), whole.skippable()) {
                (Some(d), k) if k >= n => assert_eq!(Some(d), whole.render_delta(), "head of {n}"),
                (d, _) => assert_eq!(d, None, "head of {n}"),
            }
        }
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
