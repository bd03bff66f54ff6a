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

#[cfg(test)]
mod tests {
    use super::*;

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
