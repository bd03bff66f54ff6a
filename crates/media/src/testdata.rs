//! Real codec configurations for tests across the workspace (written by
//! ffmpeg/libx264 and ffmpeg's AAC encoder), and synthetic streams to feed
//! the packager.

use crate::link::{Frame, LinkMessage};
use crate::llhls::Segmenter;
use bytes::Bytes;

/// avcC for 1280x720 High@3.1.
pub const AVCC_720P: &[u8] = &[
    0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x1a, 0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50,
    0x05, 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83,
    0x19, 0x60, 0x01, 0x00, 0x04, 0x68, 0xef, 0x8f, 0xcb, 0xfd, 0xf8, 0xf8, 0x00,
];

/// avcC for 1920x1080 High@4.2 (1080 cropped from 1088).
pub const AVCC_1080P: &[u8] = &[
    0x01, 0x64, 0x00, 0x2a, 0xff, 0xe1, 0x00, 0x1b, 0x67, 0x64, 0x00, 0x2a, 0xac, 0xd9, 0x40, 0x78,
    0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x01, 0xe0, 0x3c,
    0x60, 0xc6, 0x58, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0, 0xfd, 0xf8, 0xf8, 0x00,
];

/// AudioSpecificConfig: AAC-LC 48 kHz stereo.
pub const ASC_48K_STEREO: &[u8] = &[0x11, 0x90];

/// A video frame at `dts` that arrived on time (wall clock 1 000 000 + dts).
pub fn frame(dts: i64, key: bool) -> Frame {
    Frame {
        dts_ms: dts,
        cts_ms: 0,
        keyframe: key,
        wallclock_ms: 1_000_000 + dts,
        data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
    }
}
/// A video frame message at `dts`.
pub fn video_at(dts: i64, key: bool) -> LinkMessage {
    LinkMessage::Video(frame(dts, key))
}
/// An AAC frame message at `dts`.
pub fn audio_at(dts: i64) -> LinkMessage {
    LinkMessage::Audio(Frame {
        dts_ms: dts,
        cts_ms: 0,
        keyframe: true,
        wallclock_ms: 1_000_000 + dts,
        data: Bytes::from_static(&[0x21, 0x10]),
    })
}
/// `m` arriving `late` ms later than `frame` says.
pub fn late(m: LinkMessage, late: i64) -> LinkMessage {
    match m {
        LinkMessage::Video(mut f) => {
            f.wallclock_ms += late;
            LinkMessage::Video(f)
        }
        LinkMessage::Audio(mut f) => {
            f.wallclock_ms += late;
            LinkMessage::Audio(f)
        }
        m => m,
    }
}
/// A segmenter (stream 7, 2 s segments, 200 ms parts, 6 listed) that
/// has 720p H.264 and 48 kHz AAC configs.
pub fn configured_segmenter() -> Segmenter {
    let mut s = Segmenter::new(7, 2000, 200, 6, 0);
    s.push(LinkMessage::VideoConfig(Bytes::from_static(AVCC_720P)))
        .unwrap();
    s.push(LinkMessage::AudioConfig(Bytes::from_static(ASC_48K_STEREO)))
        .unwrap();
    s
}
/// A configured segmenter fed two timelines: 6.1 s from 0, a
/// discontinuity, 6.1 s from 20 s (three 2 s segments each).
pub fn two_timelines() -> Segmenter {
    let mut s = configured_segmenter();
    feed(&mut s, 0, 6100, 60);
    s.push(LinkMessage::Discontinuity).unwrap();
    feed(&mut s, 20_000, 6100, 60);
    s
}
/// 30 fps video (keyframe every `gop` frames) and 48 kHz AAC on one
/// absolute grid, for the frames whose time falls in [from_ms, from_ms + ms).
pub fn feed(s: &mut Segmenter, from_ms: i64, ms: i64, gop: i64) {
    feed_late(s, from_ms, ms, gop, &|_| 0);
}
/// `feed`, each frame arriving `lag(dts)` ms late.
pub fn feed_late(s: &mut Segmenter, from_ms: i64, ms: i64, gop: i64, lag: &dyn Fn(i64) -> i64) {
    for m in grid(from_ms, ms, gop) {
        let dts = match &m {
            LinkMessage::Video(f) | LinkMessage::Audio(f) => f.dts_ms,
            _ => 0,
        };
        s.push(late(m, lag(dts))).unwrap();
    }
}
/// The messages `feed` pushes: 30 fps video (a keyframe every `gop`
/// frames) and 48 kHz AAC in time order, for [from_ms, from_ms + ms).
pub fn grid(from_ms: i64, ms: i64, gop: i64) -> Vec<LinkMessage> {
    let end = from_ms + ms;
    let mut vi = (from_ms * 30 + 999) / 1000;
    let mut ai = (from_ms * 48000 + 1_023_999) / 1_024_000;
    let mut out = Vec::new();
    loop {
        let vt = vi * 1000 / 30;
        let at = ai * 1024 * 1000 / 48000;
        if vt >= end && at >= end {
            return out;
        }
        if vt <= at && vt < end {
            out.push(video_at(vt, vi % gop == 0));
            vi += 1;
        } else {
            out.push(audio_at(at));
            ai += 1;
        }
    }
}
