//! The internal media link: how ingestd hands a stream's access units to
//! packagerd. One TCP connection per live stream, ingestd → packagerd.
//!
//! Each frame is `u32 length (big-endian, counting what follows) · u8 type ·
//! payload`. Control frames carry JSON (easy to extend); media frames are
//! binary: `i64 dts_ms · i32 cts_ms · u8 flags · i64 wallclock_ms · data`.
//!
//! A connection opens with `Start`, then the codec configs, then frames.
//! `Discontinuity` marks a publisher reconnect (new configs follow); `End`
//! closes the stream. If the connection breaks without `End`, the stream is
//! still live: ingestd reconnects and replays from the last keyframe with a
//! `Start { resumed: true }`.

use crate::MediaError;
use crate::bits::Reader;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

/// Protocol version in `Start`.
pub const VERSION: u32 = 1;
/// Largest frame accepted (a 1080p keyframe is far smaller).
pub const MAX_FRAME: usize = 32 * 1024 * 1024;

/// What stream a link connection carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamInfo {
    pub version: u32,
    pub stream_id: i64,
    pub channel: String,
    pub title: String,
    /// Unix ms when the stream went live.
    pub started_at_ms: i64,
    pub members_only: bool,
    /// This connection continues a stream after the link broke.
    pub resumed: bool,
    /// The channel's ABR ladder (a `[ladders]` name); empty from an older
    /// ingestd, which packagerd reads as `default`.
    #[serde(default)]
    pub ladder: String,
    /// Whether the stream is recorded (the channel's switch); absent from
    /// an older ingestd: recorded.
    #[serde(default = "yes")]
    pub record: bool,
}

fn yes() -> bool {
    true
}

impl Default for StreamInfo {
    fn default() -> Self {
        StreamInfo {
            version: VERSION,
            stream_id: 0,
            channel: String::new(),
            title: String::new(),
            started_at_ms: 0,
            members_only: false,
            resumed: false,
            ladder: String::new(),
            record: true,
        }
    }
}

/// Why a stream ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndInfo {
    pub reason: String,
}

/// One timestamped access unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Decode timestamp, ms, on the stream's continuous timeline.
    pub dts_ms: i64,
    /// PTS − DTS, ms.
    pub cts_ms: i32,
    pub keyframe: bool,
    /// Ingest wall clock when the frame arrived, Unix ms.
    pub wallclock_ms: i64,
    pub data: Bytes,
}

/// A message on the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkMessage {
    Start(StreamInfo),
    /// AVCDecoderConfigurationRecord.
    VideoConfig(Bytes),
    /// AudioSpecificConfig.
    AudioConfig(Bytes),
    Video(Frame),
    Audio(Frame),
    Discontinuity,
    End(EndInfo),
}

const T_START: u8 = 1;
const T_VCONF: u8 = 2;
const T_ACONF: u8 = 3;
const T_VIDEO: u8 = 4;
const T_AUDIO: u8 = 5;
const T_DISC: u8 = 6;
const T_END: u8 = 7;

fn put_frame(out: &mut BytesMut, kind: u8, payload: &[&[u8]]) {
    let len: usize = 1 + payload.iter().map(|p| p.len()).sum::<usize>();
    out.reserve(4 + len);
    out.put_u32(len as u32);
    out.put_u8(kind);
    for p in payload {
        out.put_slice(p);
    }
}

fn put_media(out: &mut BytesMut, kind: u8, f: &Frame) {
    let mut head = [0u8; 21];
    head[0..8].copy_from_slice(&f.dts_ms.to_be_bytes());
    head[8..12].copy_from_slice(&f.cts_ms.to_be_bytes());
    head[12] = u8::from(f.keyframe);
    head[13..21].copy_from_slice(&f.wallclock_ms.to_be_bytes());
    put_frame(out, kind, &[&head, &f.data]);
}

/// Appends `msg` to `out`.
pub fn encode(msg: &LinkMessage, out: &mut BytesMut) {
    match msg {
        LinkMessage::Start(i) => {
            let json = serde_json::to_vec(i).unwrap_or_default();
            put_frame(out, T_START, &[&json]);
        }
        LinkMessage::VideoConfig(b) => put_frame(out, T_VCONF, &[b]),
        LinkMessage::AudioConfig(b) => put_frame(out, T_ACONF, &[b]),
        LinkMessage::Video(f) => put_media(out, T_VIDEO, f),
        LinkMessage::Audio(f) => put_media(out, T_AUDIO, f),
        LinkMessage::Discontinuity => put_frame(out, T_DISC, &[]),
        LinkMessage::End(e) => {
            let json = serde_json::to_vec(e).unwrap_or_default();
            put_frame(out, T_END, &[&json]);
        }
    }
}

fn media(payload: Bytes) -> Result<Frame, MediaError> {
    let mut r = Reader::new(&payload, "link media frame");
    let dts_ms = r.i64()?;
    let cts_ms = r.u32()? as i32;
    let keyframe = r.u8()? & 1 == 1;
    let wallclock_ms = r.i64()?;
    let at = payload.len() - r.remaining();
    Ok(Frame {
        dts_ms,
        cts_ms,
        keyframe,
        wallclock_ms,
        data: payload.slice(at..),
    })
}

/// Takes one complete message off the front of `buf`, if there is one.
pub fn decode(buf: &mut BytesMut) -> Result<Option<LinkMessage>, MediaError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len == 0 || len > MAX_FRAME {
        return Err(MediaError::Malformed(format!("link frame length {len}")));
    }
    if buf.len() < 4 + len {
        buf.reserve(4 + len - buf.len());
        return Ok(None);
    }
    buf.advance(4);
    let kind = buf.get_u8();
    let payload = buf.split_to(len - 1).freeze();
    let json_err = |e: serde_json::Error| MediaError::Malformed(format!("link control frame: {e}"));
    Ok(Some(match kind {
        T_START => LinkMessage::Start(serde_json::from_slice(&payload).map_err(json_err)?),
        T_VCONF => LinkMessage::VideoConfig(payload),
        T_ACONF => LinkMessage::AudioConfig(payload),
        T_VIDEO => LinkMessage::Video(media(payload)?),
        T_AUDIO => LinkMessage::Audio(media(payload)?),
        T_DISC => LinkMessage::Discontinuity,
        T_END => LinkMessage::End(serde_json::from_slice(&payload).map_err(json_err)?),
        k => return Err(MediaError::Malformed(format!("link frame type {k}"))),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_round_trips_even_byte_by_byte() {
        let msgs = vec![
            LinkMessage::Start(StreamInfo {
                version: VERSION,
                stream_id: 42,
                channel: "demo".into(),
                title: "hi \"there\"".into(),
                started_at_ms: 1,
                members_only: false,
                resumed: true,
                ladder: "phone".into(),
                record: false,
            }),
            LinkMessage::VideoConfig(Bytes::from_static(b"avcc")),
            LinkMessage::AudioConfig(Bytes::from_static(b"\x11\x90")),
            LinkMessage::Video(Frame {
                dts_ms: -5,
                cts_ms: -33,
                keyframe: true,
                wallclock_ms: 1_700_000_000_000,
                data: Bytes::from_static(b"nal"),
            }),
            LinkMessage::Audio(Frame {
                dts_ms: 1 << 40,
                cts_ms: 0,
                keyframe: false,
                wallclock_ms: 0,
                data: Bytes::new(),
            }),
            LinkMessage::Discontinuity,
            LinkMessage::End(EndInfo {
                reason: "unpublish".into(),
            }),
        ];
        let mut wire = BytesMut::new();
        for m in &msgs {
            encode(m, &mut wire);
        }
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for b in wire.iter() {
            buf.put_u8(*b);
            while let Some(m) = decode(&mut buf).unwrap() {
                got.push(m);
            }
        }
        assert_eq!(got, msgs);
        assert!(buf.is_empty());
    }

    #[test]
    fn rejects_bad_lengths_and_types() {
        let mut b = BytesMut::from(&[0xff, 0xff, 0xff, 0xff, 1][..]);
        assert!(decode(&mut b).is_err());
        let mut b = BytesMut::from(&[0, 0, 0, 1, 99][..]);
        assert!(decode(&mut b).is_err());
        let mut b = BytesMut::from(&[0, 0, 0, 3, T_VIDEO, 0, 0][..]);
        assert!(decode(&mut b).is_err());
    }
}
