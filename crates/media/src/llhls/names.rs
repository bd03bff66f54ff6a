//! Every name the packager gives: the live URIs a playlist lists (one stream
//! id per packagerd run, so a restarted stream never reuses one) and the
//! recording's object names, which carry what a VOD or DVR playlist needs so
//! a recording lists itself without an index.

/// A live segment's URI: `s{stream}-{seq}.m4s`.
pub fn segment_uri(stream_id: i64, seq: u64) -> String {
    format!("s{stream_id}-{seq}.m4s")
}

/// A live part's URI: `s{stream}-p{number}.m4s` (numbers run across segments).
pub fn part_uri(stream_id: i64, number: u64) -> String {
    format!("s{stream_id}-p{number}.m4s")
}

/// A live init segment's URI: `s{stream}-init-{init}.mp4`.
pub fn init_uri(stream_id: i64, init_id: u64) -> String {
    format!("s{stream_id}-init-{init_id}.mp4")
}

/// The sequence number in a live segment's URI (None for anything else).
pub fn parse_segment_uri(stream_id: i64, uri: &str) -> Option<u64> {
    uri.strip_prefix('s')?
        .strip_prefix(&stream_id.to_string())?
        .strip_prefix('-')?
        .strip_suffix(".m4s")?
        .parse()
        .ok()
}

/// The part number in a live part's URI (None for anything else).
pub fn parse_part_uri(stream_id: i64, uri: &str) -> Option<u64> {
    uri.strip_prefix('s')?
        .strip_prefix(&stream_id.to_string())?
        .strip_prefix("-p")?
        .strip_suffix(".m4s")?
        .parse()
        .ok()
}

/// A recorded segment's object name: `{seq:010}_{duration µs}_{init id}[_d].m4s`.
pub fn segment_name(seq: u64, duration: f64, init_id: u64, discontinuity: bool) -> String {
    let us = (duration * 1e6).round() as u64;
    let d = if discontinuity { "_d" } else { "" };
    format!("{seq:010}_{us}_{init_id}{d}.m4s")
}

/// A recorded init segment's object name.
pub fn init_name(init_id: u64) -> String {
    format!("init-{init_id}.mp4")
}

/// A recorded segment, from its object name.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedSegment {
    pub seq: u64,
    pub duration: f64,
    pub init_id: u64,
    pub discontinuity: bool,
}

/// Reads a segment's object name (None for anything else).
pub fn parse_segment_name(name: &str) -> Option<RecordedSegment> {
    let stem = name.strip_suffix(".m4s")?;
    let mut it = stem.split('_');
    let seq = it.next()?.parse().ok()?;
    let us: u64 = it.next()?.parse().ok()?;
    let init_id = it.next()?.parse().ok()?;
    let discontinuity = match it.next() {
        None => false,
        Some("d") => true,
        Some(_) => return None,
    };
    if it.next().is_some() {
        return None;
    }
    Some(RecordedSegment {
        seq,
        duration: us as f64 / 1e6,
        init_id,
        discontinuity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_carry_what_the_playlist_needs() {
        let n = segment_name(42, 2.002, 7, true);
        assert_eq!(n, "0000000042_2002000_7_d.m4s");
        assert_eq!(
            parse_segment_name(&n),
            Some(RecordedSegment {
                seq: 42,
                duration: 2.002,
                init_id: 7,
                discontinuity: true
            })
        );
        assert_eq!(
            parse_segment_name("0000000001_2000000_0.m4s").map(|s| s.discontinuity),
            Some(false)
        );
        for bad in [
            "vod.m3u8",
            "init-0.mp4",
            "1_2.m4s",
            "1_2_3_x.m4s",
            "a_2_3.m4s",
            "1_2_3_d_4.m4s",
        ] {
            assert_eq!(parse_segment_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn live_uris_parse_back_for_their_own_stream_only() {
        assert_eq!(parse_segment_uri(7, &segment_uri(7, 12)), Some(12));
        assert_eq!(parse_segment_uri(7, &segment_uri(71, 12)), None);
        assert_eq!(parse_segment_uri(7, &part_uri(7, 12)), None);
        assert_eq!(parse_segment_uri(7, &init_uri(7, 0)), None);
        assert_eq!(parse_part_uri(7, &part_uri(7, 12)), Some(12));
        assert_eq!(parse_part_uri(7, &part_uri(71, 12)), None);
        assert_eq!(parse_part_uri(7, &segment_uri(7, 12)), None);
    }
}
