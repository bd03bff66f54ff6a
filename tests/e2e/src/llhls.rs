//! An LL-HLS media playlist parser and checker for the tests. It shares no
//! code with the packager's writer (`stage_media::hls`): it reads the text the
//! way a client does and checks the rules of RFC 8216bis that players rely on,
//! across successive reloads.

use std::collections::{BTreeMap, HashMap};

/// One `EXT-X-PART`.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub duration: f64,
    pub uri: String,
    pub independent: bool,
}

/// One complete segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Seg {
    pub msn: u64,
    pub duration: f64,
    pub uri: String,
    pub discontinuity: bool,
    /// EXT-X-PROGRAM-DATE-TIME, Unix ms.
    pub date_ms: Option<i64>,
    pub parts: Vec<Part>,
}

/// A parsed media playlist.
#[derive(Debug, Clone, Default)]
pub struct Playlist {
    pub version: u64,
    pub target_duration: u64,
    pub media_sequence: u64,
    pub discontinuity_sequence: u64,
    pub part_target: Option<f64>,
    pub part_hold_back: Option<f64>,
    pub can_skip_until: Option<f64>,
    pub can_block_reload: bool,
    pub skipped: u64,
    pub segments: Vec<Seg>,
    /// Parts after the last complete segment (the segment being written).
    pub open_parts: Vec<Part>,
    pub open_discontinuity: bool,
    pub open_date_ms: Option<i64>,
    pub preload_hint: Option<String>,
    pub ended: bool,
}

impl Playlist {
    /// MSN of the segment being written.
    pub fn open_msn(&self) -> u64 {
        self.media_sequence + self.skipped + self.segments.len() as u64
    }

    /// Every listed part in order with its (msn, index).
    pub fn all_parts(&self) -> Vec<(u64, usize, &Part)> {
        let mut v = Vec::new();
        for s in &self.segments {
            for (i, p) in s.parts.iter().enumerate() {
                v.push((s.msn, i, p));
            }
        }
        for (i, p) in self.open_parts.iter().enumerate() {
            v.push((self.open_msn(), i, p));
        }
        v
    }
}

/// Splits an attribute list on commas outside quotes.
pub fn attributes(list: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut push = |item: &str| {
        if let Some((k, v)) = item.split_once('=') {
            out.insert(k.trim().to_string(), v.trim().trim_matches('"').to_string());
        }
    };
    for c in list.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => {
                push(&cur);
                cur.clear();
            }
            _ => cur.push(c),
        }
    }
    push(&cur);
    out
}

fn num<T: std::str::FromStr>(v: &str, what: &str) -> Result<T, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("{what}: bad number {v:?}"))
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z` (what the spec's dates look like
/// from a server in UTC) into Unix ms.
pub fn parse_date_ms(v: &str) -> Result<i64, String> {
    let bad = || format!("PROGRAM-DATE-TIME {v}: not YYYY-MM-DDTHH:MM:SS.fffZ");
    let v = v.strip_suffix('Z').ok_or_else(bad)?;
    let (date, time) = v.split_once('T').ok_or_else(bad)?;
    let d: Vec<i64> = date
        .split('-')
        .map(|x| x.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms
        .split(':')
        .map(|x| x.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    if d.len() != 3 || t.len() != 3 {
        return Err(bad());
    }
    let ms: i64 = format!("{frac:0<3}")[..3].parse().map_err(|_| bad())?;
    // Days since 1970-01-01 of a proleptic Gregorian date.
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(((days * 24 + t[0]) * 60 + t[1]) * 60_000 + t[2] * 1000 + ms)
}

/// Parses a media playlist.
pub fn parse(text: &str) -> Result<Playlist, String> {
    let mut lines = text.lines();
    if lines.next() != Some("#EXTM3U") {
        return Err("does not start with #EXTM3U".into());
    }
    let mut p = Playlist::default();
    let mut parts: Vec<Part> = Vec::new();
    let mut disc = false;
    let mut date: Option<i64> = None;
    let mut pending_inf: Option<f64> = None;
    let mut next_msn: Option<u64> = None;
    for line in lines {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (tag, value) = line.split_once(':').unwrap_or((line, ""));
        match tag {
            "#EXT-X-VERSION" => p.version = num(value, tag)?,
            "#EXT-X-TARGETDURATION" => p.target_duration = num(value, tag)?,
            "#EXT-X-MEDIA-SEQUENCE" => p.media_sequence = num(value, tag)?,
            "#EXT-X-DISCONTINUITY-SEQUENCE" => p.discontinuity_sequence = num(value, tag)?,
            "#EXT-X-SERVER-CONTROL" => {
                let a = attributes(value);
                p.can_block_reload = a.get("CAN-BLOCK-RELOAD").is_some_and(|v| v == "YES");
                p.part_hold_back = a.get("PART-HOLD-BACK").map(|v| num(v, tag)).transpose()?;
                p.can_skip_until = a.get("CAN-SKIP-UNTIL").map(|v| num(v, tag)).transpose()?;
            }
            "#EXT-X-PART-INF" => {
                let a = attributes(value);
                p.part_target = Some(num(
                    a.get("PART-TARGET").ok_or("PART-INF without PART-TARGET")?,
                    tag,
                )?);
            }
            "#EXT-X-SKIP" => {
                if !p.segments.is_empty() {
                    return Err("EXT-X-SKIP after a segment".into());
                }
                let a = attributes(value);
                p.skipped = num(
                    a.get("SKIPPED-SEGMENTS")
                        .ok_or("SKIP without SKIPPED-SEGMENTS")?,
                    tag,
                )?;
            }
            "#EXT-X-DISCONTINUITY" => disc = true,
            "#EXT-X-PROGRAM-DATE-TIME" => date = Some(parse_date_ms(value)?),
            "#EXT-X-PART" => {
                let a = attributes(value);
                parts.push(Part {
                    duration: num(a.get("DURATION").ok_or("PART without DURATION")?, tag)?,
                    uri: a.get("URI").ok_or("PART without URI")?.clone(),
                    independent: a.get("INDEPENDENT").is_some_and(|v| v == "YES"),
                });
            }
            "#EXT-X-PRELOAD-HINT" => {
                let a = attributes(value);
                if a.get("TYPE").map(String::as_str) == Some("PART") {
                    p.preload_hint = a.get("URI").cloned();
                }
            }
            "#EXTINF" => {
                let d = value.split(',').next().unwrap_or("");
                pending_inf = Some(num(d, tag)?);
            }
            "#EXT-X-ENDLIST" => p.ended = true,
            _ if line.starts_with('#') => {}
            uri => {
                let duration = pending_inf
                    .take()
                    .ok_or(format!("URI {uri} without EXTINF"))?;
                let msn = *next_msn.get_or_insert(p.media_sequence + p.skipped);
                p.segments.push(Seg {
                    msn,
                    duration,
                    uri: uri.to_string(),
                    discontinuity: std::mem::take(&mut disc),
                    date_ms: date.take(),
                    parts: std::mem::take(&mut parts),
                });
                next_msn = Some(msn + 1);
            }
        }
    }
    p.open_parts = parts;
    p.open_discontinuity = disc;
    p.open_date_ms = date;
    Ok(p)
}

/// Checks successive reloads of one playlist.
#[derive(Default)]
pub struct Checker {
    /// Segment URI and discontinuity flag per MSN, merged across reloads
    /// (what a client keeps to apply delta updates).
    known: BTreeMap<u64, (String, bool)>,
    /// MSN per segment URI: a wrong skip count shifts URIs to other MSNs.
    msn_of: HashMap<String, u64>,
    /// Discontinuity sequence number per MSN, as first computed.
    disc_numbers: HashMap<u64, u64>,
    last_position: Option<(u64, usize)>,
    last_media_sequence: u64,
    last_hint: Option<String>,
    last_part_uri: Option<String>,
    pub playlists: usize,
    pub deltas: usize,
    /// Delta updates whose skipped range held a discontinuity.
    pub deltas_skipping_a_discontinuity: usize,
    pub hints_checked: usize,
    pub parts_seen: usize,
}

impl Checker {
    /// Checks one playlist against the spec and against the earlier ones.
    pub fn check(&mut self, text: &str) -> Result<Playlist, String> {
        let p = parse(text)?;
        let ctx = |m: String| format!("{m}\n--- playlist ---\n{text}");
        let td = p.target_duration as f64;
        let pt = p
            .part_target
            .ok_or_else(|| ctx("no EXT-X-PART-INF".into()))?;
        if !p.can_block_reload {
            return Err(ctx("no CAN-BLOCK-RELOAD=YES".into()));
        }
        let phb = p
            .part_hold_back
            .ok_or_else(|| ctx("no PART-HOLD-BACK".into()))?;
        if phb + 1e-6 < 3.0 * pt {
            return Err(ctx(format!("PART-HOLD-BACK {phb} < 3 × PART-TARGET {pt}")));
        }
        if let Some(skip) = p.can_skip_until
            && skip + 1e-6 < 6.0 * td
        {
            return Err(ctx(format!("CAN-SKIP-UNTIL {skip} < 6 × target {td}")));
        }
        for (msn, i, part) in p.all_parts() {
            if part.duration > pt + 1e-6 {
                return Err(ctx(format!(
                    "part {msn}.{i} DURATION {} > PART-TARGET {pt}",
                    part.duration
                )));
            }
        }
        for s in &p.segments {
            if s.duration.round() > td {
                return Err(ctx(format!(
                    "segment {} EXTINF {} rounds above TARGETDURATION {td}",
                    s.msn, s.duration
                )));
            }
            if !s.parts.is_empty() {
                let sum: f64 = s.parts.iter().map(|x| x.duration).sum();
                if (sum - s.duration).abs() > 0.001 {
                    return Err(ctx(format!(
                        "segment {} EXTINF {} != sum of its parts {sum}",
                        s.msn, s.duration
                    )));
                }
            }
        }
        // Dates advance with the media: a player that places parts by date
        // and segments by duration (hls.js) must find the same timeline.
        let dated: Vec<(Option<i64>, bool, f64)> = p
            .segments
            .iter()
            .map(|s| (s.date_ms, s.discontinuity, s.duration))
            .chain(std::iter::once((p.open_date_ms, p.open_discontinuity, 0.0)))
            .collect();
        for w in dated.windows(2) {
            if let ((Some(a), _, d), (Some(b), false, _)) = (w[0], w[1])
                && ((b - a) as f64 - d * 1000.0).abs() > 2.0
            {
                return Err(ctx(format!(
                    "PROGRAM-DATE-TIME steps {} ms over a segment of {d} s",
                    b - a
                )));
            }
        }
        // Delta update: every skipped segment must be one the client has.
        if p.skipped > 0 {
            self.deltas += 1;
            if p.version < 9 {
                return Err(ctx("EXT-X-SKIP needs EXT-X-VERSION 9".into()));
            }
            let first_listed = p.segments.first().map(|s| s.msn);
            if first_listed != Some(p.media_sequence + p.skipped) {
                return Err(ctx(
                    "SKIPPED-SEGMENTS does not match the segments omitted".into()
                ));
            }
            let mut disc_in_skip = false;
            for msn in p.media_sequence..p.media_sequence + p.skipped {
                match self.known.get(&msn) {
                    Some((_, d)) => disc_in_skip |= *d,
                    None => {
                        return Err(ctx(format!(
                            "skipped segment {msn} was never listed in a full playlist"
                        )));
                    }
                }
            }
            if disc_in_skip {
                self.deltas_skipping_a_discontinuity += 1;
            }
        }
        for s in &p.segments {
            if let Some(msn) = self.msn_of.get(&s.uri)
                && *msn != s.msn
            {
                return Err(ctx(format!(
                    "segment {} was MSN {msn} before, now {} (SKIPPED-SEGMENTS or MEDIA-SEQUENCE wrong)",
                    s.uri, s.msn
                )));
            }
            self.msn_of.insert(s.uri.clone(), s.msn);
            if let Some((uri, _)) = self.known.get(&s.msn)
                && *uri != s.uri
            {
                return Err(ctx(format!(
                    "segment {} changed URI {uri} → {}",
                    s.msn, s.uri
                )));
            }
            self.known.insert(s.msn, (s.uri.clone(), s.discontinuity));
        }
        // Discontinuity numbers from this playlist (skipped ones from the
        // merged copy) must agree with every earlier playlist.
        let mut n = p.discontinuity_sequence;
        let last_msn = p.open_msn();
        for msn in p.media_sequence..last_msn {
            if self.known.get(&msn).is_some_and(|k| k.1) {
                n += 1;
            }
            // A segment's number must never change between playlists.
            match self.disc_numbers.get(&msn) {
                Some(prev) if *prev != n => {
                    return Err(ctx(format!(
                        "segment {msn} is in discontinuity sequence {n} here but {prev} before"
                    )));
                }
                Some(_) => {}
                None => {
                    self.disc_numbers.insert(msn, n);
                }
            }
        }
        // Positions only move forward.
        if p.media_sequence < self.last_media_sequence {
            return Err(ctx(format!(
                "EXT-X-MEDIA-SEQUENCE went back {} → {}",
                self.last_media_sequence, p.media_sequence
            )));
        }
        self.last_media_sequence = p.media_sequence;
        let pos = (p.open_msn(), p.open_parts.len());
        if let Some(last) = self.last_position
            && pos < last
            && !p.ended
        {
            return Err(ctx(format!("position went back {last:?} → {pos:?}")));
        }
        self.last_position = Some(pos);
        // The previous hint names the part that followed the last one seen.
        let parts = p.all_parts();
        if let (Some(hint), Some(last_uri)) = (&self.last_hint, &self.last_part_uri)
            && let Some(i) = parts.iter().position(|x| &x.2.uri == last_uri)
            && let Some(next) = parts.get(i + 1)
        {
            if &next.2.uri != hint {
                return Err(ctx(format!(
                    "preload hint was {hint} but the next part is {}",
                    next.2.uri
                )));
            }
            self.hints_checked += 1;
        }
        if let Some(last) = parts.last() {
            if self.last_part_uri.as_deref() != Some(&last.2.uri) {
                self.parts_seen += 1;
            }
            self.last_part_uri = Some(last.2.uri.clone());
        }
        if !p.ended && p.preload_hint.is_none() {
            return Err(ctx("live playlist without EXT-X-PRELOAD-HINT".into()));
        }
        self.last_hint = p.preload_hint.clone();
        self.playlists += 1;
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n\
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.0,PART-HOLD-BACK=0.6,HOLD-BACK=6.0\n\
#EXT-X-PART-INF:PART-TARGET=0.2\n#EXT-X-MEDIA-SEQUENCE:5\n\
#EXT-X-MAP:URI=\"i.mp4\"\n#EXTINF:2.0,\ns5.m4s\n#EXT-X-DISCONTINUITY\n\
#EXT-X-PART:DURATION=0.2,URI=\"p60.m4s\",INDEPENDENT=YES\n#EXT-X-PART:DURATION=0.2,URI=\"p61.m4s\"\n#EXTINF:0.4,\ns6.m4s\n\
#EXT-X-PART:DURATION=0.2,URI=\"p62.m4s\",INDEPENDENT=YES\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p63.m4s\"\n";

    #[test]
    fn parses_parts_skip_and_hint() {
        let p = parse(FULL).unwrap();
        assert_eq!(p.segments.len(), 2);
        assert_eq!(p.segments[1].parts.len(), 2);
        assert!(p.segments[1].discontinuity);
        assert_eq!(p.open_parts.len(), 1);
        assert_eq!(p.open_msn(), 7);
        assert_eq!(p.preload_hint.as_deref(), Some("p63.m4s"));
        let mut c = Checker::default();
        c.check(FULL).unwrap();
    }

    #[test]
    fn catches_a_long_part_a_wrong_sum_and_a_bad_hint() {
        let mut c = Checker::default();
        let long = FULL.replace("DURATION=0.2,URI=\"p62", "DURATION=0.3,URI=\"p62");
        assert!(c.check(&long).unwrap_err().contains("PART-TARGET"));
        let sum = FULL.replace("#EXTINF:0.4,", "#EXTINF:0.5,");
        assert!(Checker::default().check(&sum).unwrap_err().contains("sum"));
        let mut c = Checker::default();
        c.check(FULL).unwrap();
        let next = FULL
            .replace("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p63.m4s\"", "#EXT-X-PART:DURATION=0.2,URI=\"p99.m4s\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p100.m4s\"");
        assert!(c.check(&next).unwrap_err().contains("preload hint"));
    }

    #[test]
    fn dates_parse_and_must_advance_with_the_media() {
        assert_eq!(parse_date_ms("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(
            parse_date_ms("2026-11-23T23:59:14.427Z"),
            Ok(1_795_478_354_427)
        );
        assert!(parse_date_ms("2026-11-23 23:59:14").is_err());
        let dated = |second: &str, open: &str| {
            FULL.replace(
                "#EXTINF:2.0,\ns5.m4s\n#EXT-X-DISCONTINUITY\n",
                &format!(
                    "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z\n#EXTINF:2.0,\ns5.m4s\n\
                     #EXT-X-PROGRAM-DATE-TIME:{second}\n"
                ),
            )
            .replace(
                "#EXTINF:0.4,\ns6.m4s\n",
                &format!("#EXTINF:0.4,\ns6.m4s\n#EXT-X-PROGRAM-DATE-TIME:{open}\n"),
            )
        };
        let good = dated("2026-01-01T00:00:02.000Z", "2026-01-01T00:00:02.400Z");
        Checker::default().check(&good).unwrap();
        let early = dated("2026-01-01T00:00:01.630Z", "2026-01-01T00:00:02.030Z");
        let e = Checker::default().check(&early).unwrap_err();
        assert!(e.contains("PROGRAM-DATE-TIME steps 1630 ms"), "{e}");
        let open = dated("2026-01-01T00:00:02.000Z", "2026-01-01T00:00:02.900Z");
        assert!(Checker::default().check(&open).is_err());
    }

    #[test]
    fn catches_a_skip_count_that_does_not_match() {
        let mut c = Checker::default();
        c.check(FULL).unwrap();
        let delta = FULL
            .replace("#EXT-X-VERSION:7", "#EXT-X-VERSION:9")
            .replace(
                "#EXT-X-MAP:URI=\"i.mp4\"\n#EXTINF:2.0,\ns5.m4s\n",
                "#EXT-X-SKIP:SKIPPED-SEGMENTS=1\n",
            );
        c.check(&delta).unwrap();
        assert_eq!(c.deltas, 1);
        let wrong = delta.replace("SKIPPED-SEGMENTS=1", "SKIPPED-SEGMENTS=2");
        assert!(c.check(&wrong).is_err());
    }
}
