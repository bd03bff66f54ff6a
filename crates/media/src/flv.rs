//! FLV audio and video tag bodies, as carried in RTMP audio/video messages
//! (Adobe FLV spec v10.1, E.4.2/E.4.3). Only H.264 and AAC are accepted.

use crate::MediaError;
use crate::bits::Reader;
use bytes::Bytes;

/// A parsed video tag body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoTag {
    /// AVCDecoderConfigurationRecord (the `avcC` payload).
    SequenceHeader(Bytes),
    /// One access unit: length-prefixed NALUs.
    Frame {
        keyframe: bool,
        /// Composition time offset in ms (PTS − DTS), signed.
        cts: i32,
        data: Bytes,
    },
    /// AVC end of sequence: nothing to package.
    EndOfSequence,
    /// A video info/command frame (frame type 5): nothing to package.
    Info,
}

/// A parsed audio tag body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioTag {
    /// AudioSpecificConfig.
    SequenceHeader(Bytes),
    /// One raw AAC frame.
    Frame(Bytes),
}

/// Name of an FLV video codec id, for refusal messages.
fn video_codec_name(id: u8) -> &'static str {
    match id {
        2 => "Sorenson H.263",
        3 => "Screen video",
        4 => "VP6",
        5 => "VP6 with alpha",
        6 => "Screen video v2",
        7 => "H.264",
        12 => "HEVC",
        13 => "AV1",
        _ => "unknown",
    }
}

fn audio_codec_name(id: u8) -> &'static str {
    match id {
        0 | 3 => "PCM",
        1 => "ADPCM",
        2 | 14 => "MP3",
        4..=6 => "Nellymoser",
        7 | 8 => "G.711",
        10 => "AAC",
        11 => "Speex",
        _ => "unknown",
    }
}

/// The media of an FLV *file* (header, then tags) as link messages, with
/// `wallclock_ms` = `wallclock_base_ms` + the tag's timestamp: what ingestd
/// would forward for it. For tests and benchmarks that replay a recorded
/// publish; non-media tags are skipped.
pub fn file_messages(
    data: &[u8],
    wallclock_base_ms: i64,
) -> Result<Vec<crate::link::LinkMessage>, MediaError> {
    use crate::link::{Frame, LinkMessage};
    if data.len() < 13 || &data[..3] != b"FLV" {
        return Err(MediaError::Malformed("not an FLV file".into()));
    }
    let header = u32::from_be_bytes([data[5], data[6], data[7], data[8]]) as usize;
    let mut at = header + 4;
    let mut out = Vec::new();
    while at + 11 <= data.len() {
        let kind = data[at];
        let size = u32::from_be_bytes([0, data[at + 1], data[at + 2], data[at + 3]]) as usize;
        let ts =
            u32::from_be_bytes([data[at + 7], data[at + 4], data[at + 5], data[at + 6]]) as i64;
        let end = at + 11 + size;
        if end > data.len() {
            return Err(MediaError::Malformed("truncated FLV tag".into()));
        }
        let body = Bytes::copy_from_slice(&data[at + 11..end]);
        at = end + 4;
        let frame = |cts: i32, keyframe: bool, data: Bytes| Frame {
            dts_ms: ts,
            cts_ms: cts,
            keyframe,
            wallclock_ms: wallclock_base_ms + ts,
            data,
        };
        match kind {
            9 => match parse_video(&body)? {
                VideoTag::SequenceHeader(r) => out.push(LinkMessage::VideoConfig(r)),
                VideoTag::Frame {
                    keyframe,
                    cts,
                    data,
                } => out.push(LinkMessage::Video(frame(cts, keyframe, data))),
                _ => {}
            },
            8 => match parse_audio(&body)? {
                AudioTag::SequenceHeader(c) => out.push(LinkMessage::AudioConfig(c)),
                AudioTag::Frame(data) => out.push(LinkMessage::Audio(frame(0, true, data))),
            },
            _ => {}
        }
    }
    Ok(out)
}

/// Parses a video tag body. `data` shares `body`'s buffer (no copy).
pub fn parse_video(body: &Bytes) -> Result<VideoTag, MediaError> {
    let mut r = Reader::new(body, "FLV video tag");
    let b0 = r.u8()?;
    if b0 & 0x80 != 0 {
        // Enhanced RTMP (ex-header): HEVC/AV1/VP9 by FourCC.
        return Err(MediaError::Unsupported(
            "video codec (enhanced RTMP: HEVC/AV1/VP9); use H.264".into(),
        ));
    }
    let frame_type = b0 >> 4;
    let codec = b0 & 0x0f;
    if codec != 7 {
        return Err(MediaError::Unsupported(format!(
            "video codec {} (FLV id {codec}); use H.264",
            video_codec_name(codec)
        )));
    }
    if frame_type == 5 {
        return Ok(VideoTag::Info);
    }
    if !(1..=4).contains(&frame_type) {
        return Err(MediaError::Malformed(format!(
            "FLV video frame type {frame_type}"
        )));
    }
    let packet_type = r.u8()?;
    let cts_raw = r.u24()?;
    // SI24: sign-extend.
    let cts = ((cts_raw << 8) as i32) >> 8;
    let start = body.len() - r.remaining();
    match packet_type {
        0 => {
            if r.remaining() < 7 {
                return Err(MediaError::Truncated("AVC sequence header"));
            }
            Ok(VideoTag::SequenceHeader(body.slice(start..)))
        }
        1 => {
            if r.remaining() == 0 {
                return Err(MediaError::Truncated("AVC frame"));
            }
            Ok(VideoTag::Frame {
                keyframe: frame_type == 1,
                cts,
                data: body.slice(start..),
            })
        }
        2 => Ok(VideoTag::EndOfSequence),
        t => Err(MediaError::Malformed(format!("AVC packet type {t}"))),
    }
}

/// Parses an audio tag body.
pub fn parse_audio(body: &Bytes) -> Result<AudioTag, MediaError> {
    let mut r = Reader::new(body, "FLV audio tag");
    let b0 = r.u8()?;
    let format = b0 >> 4;
    if format != 10 {
        return Err(MediaError::Unsupported(format!(
            "audio codec {} (FLV id {format}); use AAC",
            audio_codec_name(format)
        )));
    }
    let packet_type = r.u8()?;
    let start = body.len() - r.remaining();
    match packet_type {
        0 => {
            if r.remaining() < 2 {
                return Err(MediaError::Truncated("AAC sequence header"));
            }
            Ok(AudioTag::SequenceHeader(body.slice(start..)))
        }
        1 => Ok(AudioTag::Frame(body.slice(start..))),
        t => Err(MediaError::Malformed(format!("AAC packet type {t}"))),
    }
}

/// Splits length-prefixed NALUs (`length_size` bytes each), checking bounds.
pub fn split_nalus(data: &[u8], length_size: usize) -> Result<Vec<&[u8]>, MediaError> {
    if !(1..=4).contains(&length_size) {
        return Err(MediaError::Malformed(format!(
            "NALU length size {length_size}"
        )));
    }
    let mut out = Vec::new();
    let mut r = Reader::new(data, "NALU");
    while r.remaining() > 0 {
        let len_bytes = r.bytes(length_size)?;
        let len = len_bytes.iter().fold(0usize, |a, &b| (a << 8) | b as usize);
        out.push(r.bytes(len)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_messages_refuse_what_is_not_a_whole_flv_file() {
        assert!(file_messages(b"RIFF....", 0).is_err());
        // Header, then a video tag that claims more bytes than follow.
        let mut f = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00".to_vec();
        f.extend_from_slice(&[9, 0, 0, 50, 0, 0, 0, 0, 0, 0, 0, 0x17, 0]);
        assert!(file_messages(&f, 0).is_err());
        assert_eq!(file_messages(&f[..13], 0).unwrap(), vec![]);
    }

    #[test]
    fn parses_keyframe_with_negative_composition_offset() {
        let body = Bytes::from_static(&[0x17, 1, 0xff, 0xff, 0xfe, 0, 0, 0, 1, 0x65]);
        match parse_video(&body).unwrap() {
            VideoTag::Frame {
                keyframe,
                cts,
                data,
            } => {
                assert!(keyframe);
                assert_eq!(cts, -2);
                assert_eq!(&data[..], &[0, 0, 0, 1, 0x65]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn inter_frame_is_not_key() {
        let body = Bytes::from_static(&[0x27, 1, 0, 0, 66, 0, 0, 0, 1, 0x41]);
        assert!(matches!(
            parse_video(&body).unwrap(),
            VideoTag::Frame {
                keyframe: false,
                cts: 66,
                ..
            }
        ));
    }

    #[test]
    fn refuses_other_codecs_by_name() {
        let e = parse_video(&Bytes::from_static(&[0x12, 0])).unwrap_err();
        assert!(e.to_string().contains("Sorenson H.263"), "{e}");
        let e = parse_audio(&Bytes::from_static(&[0x2f, 0])).unwrap_err();
        assert!(e.to_string().contains("MP3"), "{e}");
        let e = parse_video(&Bytes::from_static(&[0x90, 0, 0, 0, 0])).unwrap_err();
        assert!(e.to_string().contains("enhanced"), "{e}");
    }

    #[test]
    fn truncated_tags_are_errors_not_panics() {
        for n in 0..5 {
            let b = Bytes::copy_from_slice(&[0x17, 1, 0, 0, 0][..n]);
            assert!(parse_video(&b).is_err());
        }
        assert!(parse_audio(&Bytes::from_static(&[0xaf])).is_err());
        assert!(parse_audio(&Bytes::from_static(&[0xaf, 0, 0x12])).is_err());
    }

    #[test]
    fn parses_aac() {
        let sh = parse_audio(&Bytes::from_static(&[0xaf, 0, 0x11, 0x90])).unwrap();
        assert_eq!(
            sh,
            AudioTag::SequenceHeader(Bytes::from_static(&[0x11, 0x90]))
        );
        let f = parse_audio(&Bytes::from_static(&[0xaf, 1, 1, 2, 3])).unwrap();
        assert_eq!(f, AudioTag::Frame(Bytes::from_static(&[1, 2, 3])));
    }

    #[test]
    fn splits_nalus_and_rejects_overruns() {
        let d = [0, 0, 0, 1, 9, 0, 0, 0, 2, 0x65, 0x88];
        let n = split_nalus(&d, 4).unwrap();
        assert_eq!(n, vec![&[9u8][..], &[0x65, 0x88][..]]);
        assert!(split_nalus(&[0, 0, 0, 5, 1], 4).is_err());
        assert!(split_nalus(&d, 0).is_err());
    }
}
