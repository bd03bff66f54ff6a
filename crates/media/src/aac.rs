//! AAC AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1).

use crate::MediaError;
use bytes::Bytes;

const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// What packaging needs to know about an AAC stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AacConfig {
    /// The AudioSpecificConfig as received; goes into `esds` verbatim.
    pub asc: Bytes,
    /// Audio object type (2 = AAC-LC, 5 = HE-AAC, 29 = HE-AACv2).
    pub object_type: u8,
    pub sample_rate: u32,
    pub channels: u16,
}

struct Bits<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn read(&mut self, n: usize) -> Result<u32, MediaError> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = *self
                .buf
                .get(self.pos / 8)
                .ok_or(MediaError::Truncated("AudioSpecificConfig"))?;
            v = (v << 1) | ((byte >> (7 - self.pos % 8)) & 1) as u32;
            self.pos += 1;
        }
        Ok(v)
    }
}

impl AacConfig {
    /// Parses an AudioSpecificConfig.
    pub fn parse(asc: Bytes) -> Result<AacConfig, MediaError> {
        let mut b = Bits { buf: &asc, pos: 0 };
        let mut object_type = b.read(5)?;
        if object_type == 31 {
            object_type = 32 + b.read(6)?;
        }
        let idx = b.read(4)?;
        let sample_rate = if idx == 15 {
            b.read(24)?
        } else {
            *SAMPLE_RATES
                .get(idx as usize)
                .ok_or_else(|| MediaError::Malformed(format!("AAC sample rate index {idx}")))?
        };
        let channels = b.read(4)? as u16;
        if object_type == 0 || sample_rate == 0 || sample_rate > 96000 {
            return Err(MediaError::Malformed(format!(
                "AudioSpecificConfig (object type {object_type}, rate {sample_rate})"
            )));
        }
        if channels == 0 || channels > 7 {
            // 0 means "in the program config element", which browsers do not handle.
            return Err(MediaError::Unsupported(format!(
                "AAC channel configuration {channels}"
            )));
        }
        Ok(AacConfig {
            asc,
            object_type: object_type as u8,
            sample_rate,
            channels: if channels == 7 { 8 } else { channels },
        })
    }

    /// RFC 6381 codec string, e.g. `mp4a.40.2`.
    pub fn codec_string(&self) -> String {
        format!("mp4a.40.{}", self.object_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lc_48k_stereo() {
        let c = AacConfig::parse(Bytes::from_static(&[0x11, 0x90])).unwrap();
        assert_eq!((c.object_type, c.sample_rate, c.channels), (2, 48000, 2));
        assert_eq!(c.codec_string(), "mp4a.40.2");
    }

    #[test]
    fn parses_lc_44k_mono() {
        let c = AacConfig::parse(Bytes::from_static(&[0x12, 0x08])).unwrap();
        assert_eq!((c.sample_rate, c.channels), (44100, 1));
    }

    #[test]
    fn rejects_garbage() {
        assert!(AacConfig::parse(Bytes::from_static(&[0x17])).is_err());
        assert!(AacConfig::parse(Bytes::from_static(&[0x00, 0x00])).is_err());
        assert!(AacConfig::parse(Bytes::from_static(&[0x17, 0x80])).is_err());
    }
}
