//! H.264 decoder configuration: the AVCDecoderConfigurationRecord (ISO/IEC
//! 14496-15 §5.3.3.1) from the FLV sequence header, and what its SPS says.
//! SPS bit parsing is h264-reader's; this module only extracts what HLS needs.

use crate::MediaError;
use crate::bits::Reader;
use bytes::Bytes;
use h264_reader::nal::sps::SeqParameterSet;
use h264_reader::rbsp::{BitReader, decode_nal};

/// What packaging needs to know about an H.264 stream.
#[derive(Debug, Clone, PartialEq)]
pub struct AvcConfig {
    /// The record as received; becomes the `avcC` box verbatim.
    pub record: Bytes,
    pub profile: u8,
    pub compat: u8,
    pub level: u8,
    /// Bytes in each NALU length prefix (1, 2 or 4).
    pub nalu_length_size: usize,
    pub width: u32,
    pub height: u32,
    /// Frame rate from the SPS VUI timing info, when present.
    pub fps: Option<f64>,
}

impl AvcConfig {
    /// Parses an AVCDecoderConfigurationRecord.
    pub fn parse(record: Bytes) -> Result<AvcConfig, MediaError> {
        let mut r = Reader::new(&record, "AVCDecoderConfigurationRecord");
        let version = r.u8()?;
        if version != 1 {
            return Err(MediaError::Malformed(format!("avcC version {version}")));
        }
        let _profile = r.u8()?;
        let _compat = r.u8()?;
        let _level = r.u8()?;
        let nalu_length_size = (r.u8()? & 0x03) as usize + 1;
        if nalu_length_size == 3 {
            return Err(MediaError::Malformed("NALU length size 3".into()));
        }
        let num_sps = r.u8()? & 0x1f;
        if num_sps == 0 {
            return Err(MediaError::Malformed("avcC without SPS".into()));
        }
        let mut first_sps: Option<&[u8]> = None;
        for _ in 0..num_sps {
            let len = r.u16()? as usize;
            let sps = r.bytes(len)?;
            first_sps.get_or_insert(sps);
        }
        let num_pps = r.u8()?;
        for _ in 0..num_pps {
            let len = r.u16()? as usize;
            r.bytes(len)?;
        }
        let sps_nal = first_sps.unwrap_or_default();
        if sps_nal.len() < 4 || sps_nal[0] & 0x1f != 7 {
            return Err(MediaError::Malformed("SPS NAL unit".into()));
        }
        let rbsp = decode_nal(sps_nal).map_err(|e| MediaError::Malformed(format!("SPS: {e}")))?;
        let sps = SeqParameterSet::from_bits(BitReader::new(&*rbsp))
            .map_err(|e| MediaError::Malformed(format!("SPS: {e:?}")))?;
        let (width, height) = sps
            .pixel_dimensions()
            .map_err(|e| MediaError::Malformed(format!("SPS dimensions: {e:?}")))?;
        if width == 0 || height == 0 {
            return Err(MediaError::Malformed("SPS: zero picture size".into()));
        }
        let fps = sps
            .fps()
            .filter(|f| f.is_finite() && *f > 0.0 && *f < 1000.0);
        Ok(AvcConfig {
            profile: sps_nal[1],
            compat: sps_nal[2],
            level: sps_nal[3],
            record,
            nalu_length_size,
            width,
            height,
            fps,
        })
    }

    /// RFC 6381 codec string, e.g. `avc1.64001f`.
    pub fn codec_string(&self) -> String {
        format!(
            "avc1.{:02x}{:02x}{:02x}",
            self.profile, self.compat, self.level
        )
    }
}

/// The SPS and PPS NAL units of an AVCDecoderConfigurationRecord.
pub fn parameter_sets(record: &[u8]) -> Result<(Vec<Bytes>, Vec<Bytes>), MediaError> {
    let mut r = Reader::new(record, "AVCDecoderConfigurationRecord");
    r.bytes(5)?;
    let mut sps = Vec::new();
    for _ in 0..(r.u8()? & 0x1f) {
        let len = r.u16()? as usize;
        sps.push(Bytes::copy_from_slice(r.bytes(len)?));
    }
    let mut pps = Vec::new();
    for _ in 0..r.u8()? {
        let len = r.u16()? as usize;
        pps.push(Bytes::copy_from_slice(r.bytes(len)?));
    }
    Ok((sps, pps))
}

const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// Length-prefixed NAL units (as FLV and MP4 carry them) to an Annex B
/// byte stream (as decoders take it), with `prefix` NAL units (SPS/PPS
/// before a keyframe) first.
pub fn to_annex_b(
    data: &[u8],
    length_size: usize,
    prefix: &[Bytes],
) -> Result<Vec<u8>, MediaError> {
    let mut out = Vec::with_capacity(data.len() + 64);
    for p in prefix {
        out.extend_from_slice(&START_CODE);
        out.extend_from_slice(p);
    }
    let mut rest = data;
    while !rest.is_empty() {
        if rest.len() < length_size {
            return Err(MediaError::Malformed("truncated NALU length".into()));
        }
        let len = rest[..length_size]
            .iter()
            .fold(0usize, |n, b| (n << 8) | *b as usize);
        rest = &rest[length_size..];
        if len > rest.len() {
            return Err(MediaError::Malformed("NALU longer than the frame".into()));
        }
        out.extend_from_slice(&START_CODE);
        out.extend_from_slice(&rest[..len]);
        rest = &rest[len..];
    }
    Ok(out)
}

/// The NAL units of an Annex B byte stream (3- or 4-byte start codes).
pub fn annex_b_units(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push((i, i + 3));
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut units = Vec::with_capacity(starts.len());
    for (k, &(_, body)) in starts.iter().enumerate() {
        let mut end = starts.get(k + 1).map_or(data.len(), |s| s.0);
        // A 4-byte start code's leading zero (and trailing zeros) belong to
        // no unit.
        while end > body && data[end - 1] == 0 {
            end -= 1;
        }
        if end > body {
            units.push(&data[body..end]);
        }
    }
    units
}

/// An Annex B access unit to 4-byte length-prefixed NAL units, leaving out
/// parameter sets and access unit delimiters (the record carries them).
pub fn to_length_prefixed(data: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(data.len() + 16);
    for nal in annex_b_units(data) {
        if matches!(nal[0] & 0x1f, 7..=9) {
            continue;
        }
        out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        out.extend_from_slice(nal);
    }
    Bytes::from(out)
}

/// Builds an AVCDecoderConfigurationRecord (4-byte lengths) from the SPS
/// and PPS found in Annex B data (an encoder's global header).
pub fn record_from_annex_b(data: &[u8]) -> Result<Bytes, MediaError> {
    let units = annex_b_units(data);
    let sps: Vec<&[u8]> = units.iter().copied().filter(|n| n[0] & 0x1f == 7).collect();
    let pps: Vec<&[u8]> = units.iter().copied().filter(|n| n[0] & 0x1f == 8).collect();
    let first = sps
        .first()
        .filter(|s| s.len() >= 4)
        .ok_or_else(|| MediaError::Malformed("no SPS in the encoder's header".into()))?;
    if pps.is_empty() {
        return Err(MediaError::Malformed(
            "no PPS in the encoder's header".into(),
        ));
    }
    let mut out = vec![
        1,
        first[1],
        first[2],
        first[3],
        0xff,
        0xe0 | sps.len() as u8,
    ];
    for s in &sps {
        out.extend_from_slice(&(s.len() as u16).to_be_bytes());
        out.extend_from_slice(s);
    }
    out.push(pps.len() as u8);
    for p in &pps {
        out.extend_from_slice(&(p.len() as u16).to_be_bytes());
        out.extend_from_slice(p);
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_sets_round_trip_through_annex_b() {
        let (sps, pps) = parameter_sets(AVCC_720P).unwrap();
        assert_eq!((sps.len(), pps.len()), (1, 1));
        let mut header = to_annex_b(&[], 4, &[sps[0].clone(), pps[0].clone()]).unwrap();
        header.extend_from_slice(&[0, 0, 1, 0x09, 0xf0]); // an AUD, dropped
        let rebuilt = record_from_annex_b(&header).unwrap();
        let c = AvcConfig::parse(rebuilt.clone()).unwrap();
        assert_eq!((c.width, c.height), (1280, 720));
        assert_eq!(parameter_sets(&rebuilt).unwrap(), (sps, pps));
        assert!(record_from_annex_b(&[0, 0, 1, 0x65, 1, 2]).is_err());
    }

    #[test]
    fn access_units_convert_both_ways() {
        let avcc = [0, 0, 0, 3, 0x65, 1, 2, 0, 0, 0, 2, 0x41, 7];
        let annex_b = to_annex_b(&avcc, 4, &[]).unwrap();
        assert_eq!(annex_b, [0, 0, 0, 1, 0x65, 1, 2, 0, 0, 0, 1, 0x41, 7]);
        let mut with_sps = vec![0, 0, 1, 0x67, 9, 9];
        with_sps.extend_from_slice(&annex_b);
        assert_eq!(&to_length_prefixed(&with_sps)[..], &avcc[..]);
        assert!(to_annex_b(&[0, 0, 0, 9, 1], 4, &[]).is_err());
        assert!(to_annex_b(&[0, 0], 4, &[]).is_err());
    }

    use crate::testdata::{AVCC_720P, AVCC_1080P};
    /// End of the PPS in `AVCC_720P` (the High-profile extension follows).
    const AVCC_720P_PPS_END: usize = 41;

    #[test]
    fn parses_x264_720p_record() {
        let c = AvcConfig::parse(Bytes::from_static(AVCC_720P)).unwrap();
        assert_eq!((c.width, c.height), (1280, 720));
        assert_eq!(c.codec_string(), "avc1.64001f");
        assert_eq!(c.nalu_length_size, 4);
    }

    #[test]
    fn parses_cropped_1080p_record() {
        let c = AvcConfig::parse(Bytes::from_static(AVCC_1080P)).unwrap();
        assert_eq!((c.width, c.height), (1920, 1080));
        assert_eq!(c.codec_string(), "avc1.64002a");
    }

    #[test]
    fn rejects_truncated_records() {
        for n in 0..AVCC_720P_PPS_END {
            let r = AvcConfig::parse(Bytes::copy_from_slice(&AVCC_720P[..n]));
            // Cutting the PPS off leaves a valid SPS but a truncated record.
            assert!(r.is_err(), "prefix {n} parsed");
        }
    }
}
