//! CMAF / fragmented MP4 (ISO/IEC 14496-12, ISO/IEC 23000-19) writer.
//!
//! Our own because it is the product's core: LL-HLS parts, aligned
//! renditions and crash-safe recording all hang on exact control of these
//! boxes, and the writer is small. Output is checked by ffprobe in the suite.
//!
//! One init segment carries every track (muxed CMAF, as hls.js and Safari play
//! it); each media segment is one `moof` with a `traf` per track plus one `mdat`.

use crate::MediaError;
use crate::aac::AacConfig;
use crate::avc::AvcConfig;
use bytes::Bytes;

/// A track's codec setup.
#[derive(Debug, Clone, PartialEq)]
pub enum TrackConfig {
    Video(AvcConfig),
    Audio(AacConfig),
}

/// A track in the init segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    /// 1-based; media segments refer to tracks by this id.
    pub id: u32,
    /// Ticks per second of this track's timestamps.
    pub timescale: u32,
    pub config: TrackConfig,
}

/// One sample (access unit) in a media segment.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Duration in the track's timescale.
    pub duration: u32,
    /// PTS − DTS in the track's timescale.
    pub cts_offset: i32,
    pub keyframe: bool,
    pub data: Bytes,
}

/// A track's samples within one media segment.
#[derive(Debug, Clone)]
pub struct TrackRun<'a> {
    pub track_id: u32,
    /// DTS of the first sample in the track's timescale.
    pub base_decode_time: u64,
    pub samples: &'a [Sample],
}

/// Helper that writes size-prefixed boxes, patching sizes when a box closes.
struct W {
    buf: Vec<u8>,
}

impl W {
    fn new() -> W {
        W {
            buf: Vec::with_capacity(1024),
        }
    }
    fn begin(&mut self, kind: &[u8; 4]) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0, 0, 0]);
        self.buf.extend_from_slice(kind);
        at
    }
    fn begin_full(&mut self, kind: &[u8; 4], version: u8, flags: u32) -> usize {
        let at = self.begin(kind);
        self.u32(((version as u32) << 24) | (flags & 0x00ff_ffff));
        at
    }
    fn end(&mut self, at: usize) {
        let size = (self.buf.len() - at) as u32;
        self.buf[at..at + 4].copy_from_slice(&size.to_be_bytes());
    }
    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len() + n, 0);
    }
    fn matrix(&mut self) {
        for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
            self.u32(v);
        }
    }
}

/// Writes the init segment (`ftyp` + `moov`) for these tracks.
pub fn init_segment(tracks: &[Track]) -> Bytes {
    let mut w = W::new();
    let ftyp = w.begin(b"ftyp");
    w.bytes(b"iso6");
    w.u32(0);
    for brand in [b"iso6", b"cmfc", b"isom", b"mp41", b"dash"] {
        w.bytes(brand);
    }
    w.end(ftyp);

    let moov = w.begin(b"moov");
    let mvhd = w.begin_full(b"mvhd", 0, 0);
    w.u32(0); // creation_time
    w.u32(0); // modification_time
    w.u32(1000); // timescale
    w.u32(0); // duration: fragmented
    w.u32(0x0001_0000); // rate 1.0
    w.u16(0x0100); // volume 1.0
    w.zeros(10);
    w.matrix();
    w.zeros(24); // pre_defined
    w.u32(tracks.iter().map(|t| t.id).max().unwrap_or(0) + 1);
    w.end(mvhd);

    for t in tracks {
        write_trak(&mut w, t);
    }

    let mvex = w.begin(b"mvex");
    for t in tracks {
        let trex = w.begin_full(b"trex", 0, 0);
        w.u32(t.id);
        w.u32(1); // default_sample_description_index
        w.u32(0);
        w.u32(0);
        w.u32(0);
        w.end(trex);
    }
    w.end(mvex);
    w.end(moov);
    Bytes::from(w.buf)
}

fn write_trak(w: &mut W, t: &Track) {
    let (is_video, width, height) = match &t.config {
        TrackConfig::Video(v) => (true, v.width, v.height),
        TrackConfig::Audio(_) => (false, 0, 0),
    };
    let trak = w.begin(b"trak");
    let tkhd = w.begin_full(b"tkhd", 0, 0x3); // enabled | in_movie
    w.u32(0);
    w.u32(0);
    w.u32(t.id);
    w.u32(0);
    w.u32(0); // duration
    w.zeros(8);
    w.u16(0); // layer
    w.u16(0); // alternate_group
    w.u16(if is_video { 0 } else { 0x0100 });
    w.u16(0);
    w.matrix();
    w.u32(width << 16);
    w.u32(height << 16);
    w.end(tkhd);

    let mdia = w.begin(b"mdia");
    let mdhd = w.begin_full(b"mdhd", 0, 0);
    w.u32(0);
    w.u32(0);
    w.u32(t.timescale);
    w.u32(0);
    w.u16(0x55c4); // language "und"
    w.u16(0);
    w.end(mdhd);

    let hdlr = w.begin_full(b"hdlr", 0, 0);
    w.u32(0);
    w.bytes(if is_video { b"vide" } else { b"soun" });
    w.zeros(12);
    w.bytes(if is_video {
        b"StreamStage video\0"
    } else {
        b"StreamStage audio\0"
    });
    w.end(hdlr);

    let minf = w.begin(b"minf");
    if is_video {
        let vmhd = w.begin_full(b"vmhd", 0, 1);
        w.zeros(8);
        w.end(vmhd);
    } else {
        let smhd = w.begin_full(b"smhd", 0, 0);
        w.zeros(4);
        w.end(smhd);
    }
    let dinf = w.begin(b"dinf");
    let dref = w.begin_full(b"dref", 0, 0);
    w.u32(1);
    let url = w.begin_full(b"url ", 0, 1); // self-contained
    w.end(url);
    w.end(dref);
    w.end(dinf);

    let stbl = w.begin(b"stbl");
    let stsd = w.begin_full(b"stsd", 0, 0);
    w.u32(1);
    match &t.config {
        TrackConfig::Video(v) => write_avc1(w, v),
        TrackConfig::Audio(a) => write_mp4a(w, a, t.id),
    }
    w.end(stsd);
    for kind in [b"stts", b"stsc", b"stco"] {
        let b = w.begin_full(kind, 0, 0);
        w.u32(0);
        w.end(b);
    }
    let stsz = w.begin_full(b"stsz", 0, 0);
    w.u32(0);
    w.u32(0);
    w.end(stsz);
    w.end(stbl);
    w.end(minf);
    w.end(mdia);
    w.end(trak);
}

fn write_avc1(w: &mut W, v: &AvcConfig) {
    let avc1 = w.begin(b"avc1");
    w.zeros(6);
    w.u16(1); // data_reference_index
    w.zeros(16); // pre_defined, reserved
    w.u16(v.width.min(u16::MAX as u32) as u16);
    w.u16(v.height.min(u16::MAX as u32) as u16);
    w.u32(0x0048_0000); // 72 dpi
    w.u32(0x0048_0000);
    w.u32(0);
    w.u16(1); // frame_count
    w.zeros(32); // compressorname
    w.u16(0x0018); // depth
    w.u16(0xffff); // pre_defined = -1
    let avcc = w.begin(b"avcC");
    w.bytes(&v.record);
    w.end(avcc);
    w.end(avc1);
}

fn write_descriptor_len(w: &mut W, len: usize) {
    // Four-byte form: always valid and keeps the writer simple.
    w.u8(0x80 | ((len >> 21) & 0x7f) as u8);
    w.u8(0x80 | ((len >> 14) & 0x7f) as u8);
    w.u8(0x80 | ((len >> 7) & 0x7f) as u8);
    w.u8((len & 0x7f) as u8);
}

fn write_mp4a(w: &mut W, a: &AacConfig, track_id: u32) {
    let mp4a = w.begin(b"mp4a");
    w.zeros(6);
    w.u16(1);
    w.zeros(8);
    w.u16(a.channels);
    w.u16(16); // samplesize
    w.u16(0);
    w.u16(0);
    w.u32(a.sample_rate.min(0xffff) << 16);
    let esds = w.begin_full(b"esds", 0, 0);
    let asc_len = a.asc.len();
    let dsi = 5 + asc_len; // tag + len(4) + asc
    let dcd = 5 + 13 + dsi;
    let sl = 5 + 1;
    let es = 3 + dcd + sl;
    w.u8(0x03); // ES_Descriptor
    write_descriptor_len(w, es);
    w.u16(track_id as u16);
    w.u8(0);
    w.u8(0x04); // DecoderConfigDescriptor
    write_descriptor_len(w, 13 + dsi);
    w.u8(0x40); // Audio ISO/IEC 14496-3
    w.u8(0x15); // audio stream
    w.bytes(&[0, 0, 0]); // bufferSizeDB
    w.u32(0); // maxBitrate
    w.u32(0); // avgBitrate
    w.u8(0x05); // DecoderSpecificInfo
    write_descriptor_len(w, asc_len);
    w.bytes(&a.asc);
    w.u8(0x06); // SLConfigDescriptor
    write_descriptor_len(w, 1);
    w.u8(0x02);
    w.end(esds);
    w.end(mp4a);
}

const FLAGS_SYNC: u32 = 0x0200_0000; // sample_depends_on = 2 (independent)
const FLAGS_NON_SYNC: u32 = 0x0101_0000; // depends_on = 1, is_non_sync_sample

/// Writes one media segment (`moof` + `mdat`) with sequence number `seq`.
/// Tracks with no samples are left out.
pub fn media_segment(seq: u32, runs: &[TrackRun<'_>]) -> Bytes {
    let runs: Vec<&TrackRun<'_>> = runs.iter().filter(|r| !r.samples.is_empty()).collect();
    let mut w = W::new();
    let moof = w.begin(b"moof");
    let mfhd = w.begin_full(b"mfhd", 0, 0);
    w.u32(seq);
    w.end(mfhd);
    let mut offset_slots = Vec::with_capacity(runs.len());
    for run in &runs {
        let traf = w.begin(b"traf");
        let tfhd = w.begin_full(b"tfhd", 0, 0x02_0000); // default-base-is-moof
        w.u32(run.track_id);
        w.end(tfhd);
        let tfdt = w.begin_full(b"tfdt", 1, 0);
        w.u64(run.base_decode_time);
        w.end(tfdt);
        // data-offset, sample duration, size, flags, composition offset.
        let trun = w.begin_full(b"trun", 1, 0x0001 | 0x0100 | 0x0200 | 0x0400 | 0x0800);
        w.u32(run.samples.len() as u32);
        offset_slots.push(w.buf.len());
        w.u32(0); // data_offset, patched below
        for s in run.samples {
            w.u32(s.duration);
            w.u32(s.data.len() as u32);
            w.u32(if s.keyframe {
                FLAGS_SYNC
            } else {
                FLAGS_NON_SYNC
            });
            w.u32(s.cts_offset as u32);
        }
        w.end(trun);
        w.end(traf);
    }
    w.end(moof);
    let moof_len = w.buf.len();
    let payload: usize = runs
        .iter()
        .flat_map(|r| r.samples.iter())
        .map(|s| s.data.len())
        .sum();
    // Offsets are relative to the moof start; mdat's header is 8 bytes.
    let mut data_at = moof_len + 8;
    for (run, slot) in runs.iter().zip(offset_slots) {
        w.buf[slot..slot + 4].copy_from_slice(&(data_at as u32).to_be_bytes());
        data_at += run.samples.iter().map(|s| s.data.len()).sum::<usize>();
    }
    w.buf.reserve(8 + payload);
    w.u32((8 + payload) as u32);
    w.bytes(b"mdat");
    for run in &runs {
        for s in run.samples {
            w.bytes(&s.data);
        }
    }
    Bytes::from(w.buf)
}

// One track out of muxed CMAF, for DASH: dash.js plays one track per
// adaptation set, so the MPD points at per-track copies of the very same
// init and segments (cut from them on request, never stored twice).

/// Reads the box at `at`: (type, start of its body, end).
fn read_box(b: &[u8], at: usize) -> Result<([u8; 4], usize, usize), MediaError> {
    let head = b
        .get(at..at + 8)
        .ok_or(MediaError::Truncated("box header"))?;
    let size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let kind = [head[4], head[5], head[6], head[7]];
    let (body, end) = match size {
        1 => {
            let ext = b
                .get(at + 8..at + 16)
                .ok_or(MediaError::Truncated("box size"))?;
            let big = u64::from_be_bytes(ext.try_into().unwrap_or_default());
            (
                at + 16,
                at.saturating_add(usize::try_from(big).unwrap_or(usize::MAX)),
            )
        }
        0 => (at + 8, b.len()),
        n => (at + 8, at.saturating_add(n)),
    };
    if end > b.len() || end < body {
        return Err(MediaError::Malformed(format!(
            "box {} overruns its parent",
            String::from_utf8_lossy(&kind)
        )));
    }
    Ok((kind, body, end))
}

/// A box: (type, start, start of its body, end).
type BoxAt = ([u8; 4], usize, usize, usize);

/// The boxes directly inside `b[from..to]`.
fn children(b: &[u8], from: usize, to: usize) -> Result<Vec<BoxAt>, MediaError> {
    let mut out = Vec::new();
    let mut at = from;
    while at < to {
        let (kind, body, end) = read_box(&b[..to], at)?;
        out.push((kind, at, body, end));
        at = end;
    }
    Ok(out)
}

fn be32(b: &[u8], at: usize) -> Result<u32, MediaError> {
    b.get(at..at + 4)
        .map(|x| u32::from_be_bytes([x[0], x[1], x[2], x[3]]))
        .ok_or(MediaError::Truncated("field"))
}

/// The init segment with only track `track_id`: `ftyp` as is, `moov` with
/// its `mvhd`, that `trak` and that `trex`.
pub fn track_init(init: &[u8], track_id: u32) -> Result<Bytes, MediaError> {
    let mut out = Vec::with_capacity(init.len());
    let mut found = false;
    for (kind, start, body, end) in children(init, 0, init.len())? {
        if &kind != b"moov" {
            out.extend_from_slice(&init[start..end]);
            continue;
        }
        let at = out.len();
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(b"moov");
        for (k, s, b, e) in children(init, body, end)? {
            match &k {
                // tkhd is a trak's first child; its track_id sits after the
                // version/flags and the creation/modification times.
                b"trak" => {
                    let tkhd = children(init, b, e)?
                        .into_iter()
                        .find(|c| &c.0 == b"tkhd")
                        .ok_or(MediaError::Malformed("trak without tkhd".into()))?;
                    let version = init[tkhd.2];
                    let id = be32(init, tkhd.2 + if version == 1 { 20 } else { 12 })?;
                    if id == track_id {
                        found = true;
                        out.extend_from_slice(&init[s..e]);
                    }
                }
                b"mvex" => {
                    let mvex = out.len();
                    out.extend_from_slice(&[0, 0, 0, 0]);
                    out.extend_from_slice(b"mvex");
                    for (k2, s2, b2, e2) in children(init, b, e)? {
                        if &k2 != b"trex" || be32(init, b2 + 4)? == track_id {
                            out.extend_from_slice(&init[s2..e2]);
                        }
                    }
                    let size = (out.len() - mvex) as u32;
                    out[mvex..mvex + 4].copy_from_slice(&size.to_be_bytes());
                }
                _ => out.extend_from_slice(&init[s..e]),
            }
        }
        let size = (out.len() - at) as u32;
        out[at..at + 4].copy_from_slice(&size.to_be_bytes());
    }
    if !found {
        return Err(MediaError::Malformed(format!(
            "no track {track_id} in the init segment"
        )));
    }
    Ok(Bytes::from(out))
}

/// One `moof` + `mdat` pair as [`media_segment`] writes it, read back.
#[derive(Debug, Clone)]
pub struct Fragment {
    /// The `mfhd` sequence number.
    pub seq: u32,
    /// Per `traf`: track id, `tfdt` base decode time and the samples (their
    /// data shared with the segment, not copied).
    pub runs: Vec<(u32, u64, Vec<Sample>)>,
}

/// Reads back the fragments of a media segment (or part) written by
/// [`media_segment`]; other writers' layouts are refused as Unsupported.
pub fn fragments(segment: &Bytes) -> Result<Vec<Fragment>, MediaError> {
    let b = &segment[..];
    let mut out = Vec::new();
    for (kind, start, body, end) in children(b, 0, b.len())? {
        if &kind != b"moof" {
            continue;
        }
        let mut f = Fragment {
            seq: 0,
            runs: Vec::new(),
        };
        for (k, _, tb, te) in children(b, body, end)? {
            if &k == b"mfhd" {
                f.seq = be32(b, tb + 4)?;
            }
            if &k != b"traf" {
                continue;
            }
            let mut id = None;
            let mut base = 0u64;
            let mut samples = Vec::new();
            for (k2, _, b2, _) in children(b, tb, te)? {
                match &k2 {
                    b"tfhd" => {
                        if be32(b, b2)? & 0x00ff_ffff & !0x02_0000 != 0 {
                            return Err(MediaError::Unsupported("tfhd defaults".into()));
                        }
                        id = Some(be32(b, b2 + 4)?);
                    }
                    b"tfdt" => {
                        base = if b[b2] == 1 {
                            (be32(b, b2 + 4)? as u64) << 32 | be32(b, b2 + 8)? as u64
                        } else {
                            be32(b, b2 + 4)? as u64
                        };
                    }
                    b"trun" => {
                        let flags = be32(b, b2)? & 0x00ff_ffff;
                        // What media_segment writes: data offset and, per
                        // sample, duration, size, flags, composition offset.
                        if flags != 0x0f01 {
                            return Err(MediaError::Unsupported(format!("trun flags {flags:#x}")));
                        }
                        let count = be32(b, b2 + 4)? as usize;
                        let offset = be32(b, b2 + 8)? as usize;
                        let mut data_at = start + offset;
                        for i in 0..count {
                            let at = b2 + 12 + i * 16;
                            let size = be32(b, at + 4)? as usize;
                            let data = data_at
                                .checked_add(size)
                                .filter(|e| *e <= b.len())
                                .map(|e| segment.slice(data_at..e))
                                .ok_or(MediaError::Malformed("sample data past the end".into()))?;
                            data_at += size;
                            samples.push(Sample {
                                duration: be32(b, at)?,
                                keyframe: be32(b, at + 8)? & 0x0001_0000 == 0,
                                cts_offset: be32(b, at + 12)? as i32,
                                data,
                            });
                        }
                    }
                    _ => {}
                }
            }
            if let Some(id) = id {
                f.runs.push((id, base, samples));
            }
        }
        out.push(f);
    }
    Ok(out)
}

/// The fragments of a media segment (or part) with only track `track_id`:
/// each `moof` + `mdat` pair rewritten by [`media_segment`] with that track's
/// `traf` and samples (data shared with `segment`, not copied twice).
pub fn track_segment(segment: &Bytes, track_id: u32) -> Result<Bytes, MediaError> {
    let mut out = bytes::BytesMut::with_capacity(segment.len());
    for f in fragments(segment)? {
        if let Some((_, base, samples)) = f.runs.iter().find(|r| r.0 == track_id) {
            out.extend_from_slice(&media_segment(
                f.seq,
                &[TrackRun {
                    track_id,
                    base_decode_time: *base,
                    samples,
                }],
            ));
        }
    }
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxes(b: &[u8]) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i + 8 <= b.len() {
            let size = u32::from_be_bytes(b[i..i + 4].try_into().unwrap()) as usize;
            out.push((String::from_utf8_lossy(&b[i + 4..i + 8]).into_owned(), size));
            assert!(size >= 8 && i + size <= b.len(), "bad box size at {i}");
            i += size;
        }
        assert_eq!(i, b.len());
        out
    }

    #[test]
    fn media_segment_boxes_are_well_formed_and_offsets_point_at_data() {
        let v = [Sample {
            duration: 3000,
            cts_offset: 0,
            keyframe: true,
            data: Bytes::from_static(b"VIDEO"),
        }];
        let a = [Sample {
            duration: 1024,
            cts_offset: 0,
            keyframe: true,
            data: Bytes::from_static(b"AUD"),
        }];
        let seg = media_segment(
            7,
            &[
                TrackRun {
                    track_id: 1,
                    base_decode_time: 90000,
                    samples: &v,
                },
                TrackRun {
                    track_id: 2,
                    base_decode_time: 48000,
                    samples: &a,
                },
            ],
        );
        let top = boxes(&seg);
        assert_eq!(top[0].0, "moof");
        assert_eq!(top[1].0, "mdat");
        assert!(seg.ends_with(b"VIDEOAUD"));
        // First trun data_offset points at "VIDEO".
        let pos = seg.windows(4).position(|w| w == b"trun").unwrap();
        let off = u32::from_be_bytes(seg[pos + 12..pos + 16].try_into().unwrap()) as usize;
        assert_eq!(&seg[off..off + 5], b"VIDEO");
    }

    #[test]
    fn empty_tracks_are_left_out() {
        let seg = media_segment(
            1,
            &[TrackRun {
                track_id: 1,
                base_decode_time: 0,
                samples: &[],
            }],
        );
        assert!(!seg.windows(4).any(|w| w == b"traf"));
    }

    #[test]
    fn one_track_is_cut_out_of_muxed_init_and_segments() {
        let tracks = [
            Track {
                id: 1,
                timescale: 90_000,
                config: TrackConfig::Video(
                    AvcConfig::parse(Bytes::from_static(crate::testdata::AVCC_720P)).unwrap(),
                ),
            },
            Track {
                id: 2,
                timescale: 48_000,
                config: TrackConfig::Audio(
                    AacConfig::parse(Bytes::from_static(crate::testdata::ASC_48K_STEREO)).unwrap(),
                ),
            },
        ];
        let init = init_segment(&tracks);
        let count = |b: &[u8], kind: &[u8]| b.windows(4).filter(|w| *w == kind).count();
        for (id, handler, other) in [(1, b"vmhd", b"smhd"), (2, b"smhd", b"vmhd")] {
            let one = track_init(&init, id).unwrap();
            assert_eq!((count(&one, b"trak"), count(&one, b"trex")), (1, 1));
            assert_eq!((count(&one, handler), count(&one, other)), (1, 0));
            assert_eq!(
                boxes(&one).iter().map(|b| b.0.as_str()).collect::<Vec<_>>(),
                ["ftyp", "moov"]
            );
        }
        // A single-track init comes out as it went in.
        let video_only = init_segment(&tracks[..1]);
        assert_eq!(track_init(&video_only, 1).unwrap(), video_only);
        let v = [
            Sample {
                duration: 3000,
                cts_offset: 3000,
                keyframe: true,
                data: Bytes::from_static(b"KEY"),
            },
            Sample {
                duration: 3000,
                cts_offset: 0,
                keyframe: false,
                data: Bytes::from_static(b"DELTA"),
            },
        ];
        let a = [Sample {
            duration: 1024,
            cts_offset: 0,
            keyframe: true,
            data: Bytes::from_static(b"AAC"),
        }];
        let runs = |v: &'static [Sample], a: &'static [Sample], t: u64| {
            vec![
                TrackRun {
                    track_id: 1,
                    base_decode_time: t,
                    samples: v,
                },
                TrackRun {
                    track_id: 2,
                    base_decode_time: t / 90 * 48,
                    samples: a,
                },
            ]
        };
        let v: &'static [Sample] = Box::leak(Box::new(v));
        let a: &'static [Sample] = Box::leak(Box::new(a));
        // A segment of two parts (two moof + mdat pairs).
        let muxed: Bytes = [
            media_segment(5, &runs(v, a, 1 << 33)),
            media_segment(6, &runs(v, a, (1 << 33) + 6000)),
        ]
        .concat()
        .into();
        let video = track_segment(&muxed, 1).unwrap();
        let expect: Bytes = [
            media_segment(5, &runs(v, a, 1 << 33)[..1]),
            media_segment(6, &runs(v, a, (1 << 33) + 6000)[..1]),
        ]
        .concat()
        .into();
        assert_eq!(video, expect);
        let audio = track_segment(&muxed, 2).unwrap();
        let expect: Bytes = [
            media_segment(5, &runs(v, a, 1 << 33)[1..]),
            media_segment(6, &runs(v, a, (1 << 33) + 6000)[1..]),
        ]
        .concat()
        .into();
        assert_eq!(audio, expect);
        assert_eq!(track_segment(&muxed, 3).unwrap().len(), 0);
        assert!(track_init(&init, 3).is_err());
        // Damaged input is an error, never a panic.
        for cut in [1, 9, 40, muxed.len() - 2] {
            let _ = track_segment(&muxed.slice(..cut), 1);
            let _ = track_init(&init[..cut.min(init.len() - 1)], 1);
        }
    }
}
