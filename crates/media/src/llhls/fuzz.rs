//! The fuzz target's entry (`fuzz/fuzz_targets/llhls_push.rs`; its corpus
//! replays in `crates/media/tests/fuzz_corpus.rs`): arbitrary timestamps,
//! keyframes, gaps, resets, replays and discontinuities pushed into a
//! segmenter. No input may panic, and what it lists must stay a playlist a
//! player can follow.

use super::{Segmenter, names};
use crate::hls::MediaPlaylist;
use crate::link::{Frame, LinkMessage, StreamInfo};
use crate::testdata::{ASC_48K_STEREO, AVCC_720P};
use bytes::Bytes;

/// The first byte picks the stream's shape (targets, tracks, DVR, resumed);
/// every 4 bytes after it are one message: a kind, a signed 16-bit DTS step
/// (×1000 when the last byte is 0xff: clock jumps) and a byte of flags.
/// Returns how many segments the input made (the corpus replay checks the
/// seeds reach the checks at all).
#[doc(hidden)]
pub fn fuzz_push(data: &[u8]) -> usize {
    let Some((&head, rest)) = data.split_first() else {
        return 0;
    };
    let target_ms = 1000 + (head as i64 & 3) * 1000;
    let part_ms = [100, 200, 333, 500][(head >> 2) as usize & 3];
    let mut s = Segmenter::new(1, target_ms, part_ms, 4, ((head >> 4) & 1) as u64);
    if head & 0x20 != 0 {
        s.set_dvr(10_000);
    }
    let video = head & 0x40 == 0;
    if video {
        s.push(LinkMessage::VideoConfig(Bytes::from_static(AVCC_720P)))
            .expect("valid config");
    }
    if !video || head & 0x80 == 0 {
        s.push(LinkMessage::AudioConfig(Bytes::from_static(ASC_48K_STEREO)))
            .expect("valid config");
    }
    let (mut dts, mut wall) = ([0i64; 2], 1_000_000i64);
    for rec in rest.chunks_exact(4) {
        let mut step = i16::from_le_bytes([rec[1], rec[2]]) as i64;
        if rec[3] == 0xff {
            step *= 1000;
        }
        let msg = match rec[0] % 16 {
            k @ 0..=12 => {
                let track = usize::from(k > 6);
                dts[track] = dts[track].saturating_add(step);
                wall += step.clamp(0, 10_000) + (rec[3] as i64 & 0x0f);
                let f = Frame {
                    dts_ms: dts[track],
                    cts_ms: (rec[3] >> 4) as i32 * 33,
                    keyframe: track == 1 || rec[3] & 1 == 1,
                    wallclock_ms: wall,
                    data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
                };
                if track == 0 {
                    LinkMessage::Video(f)
                } else {
                    LinkMessage::Audio(f)
                }
            }
            13 => LinkMessage::Discontinuity,
            14 => LinkMessage::Start(StreamInfo {
                resumed: true,
                ..Default::default()
            }),
            _ => {
                let held: Vec<u64> = s.held().map(|x| x.entry.seq).collect();
                if let Some(seq) = held.get(rec[3] as usize % held.len().max(1)) {
                    s.mark_recorded(*seq);
                }
                continue;
            }
        };
        if s.push(msg).expect("no error for valid configs").any() {
            check(&s.playlist());
        }
    }
    s.finish();
    check(&s.playlist());
    let _ = s.dash_segments();
    let _ = s.variant("source/index.m3u8");
    let _ = s.report("source/index.m3u8".into());
    s.playlist().segments.len()
}

/// What a player relies on: sequence numbers and part numbers only grow,
/// the preload hint names a part not listed yet, durations are real.
fn check(p: &MediaPlaylist) {
    let text = p.render();
    assert!(text.starts_with("#EXTM3U"), "{text}");
    let part_number = |uri: &str| -> u64 {
        names::parse_part_uri(1, uri).unwrap_or_else(|| panic!("part URI {uri}"))
    };
    let mut last_seq = None;
    let mut last_part = None;
    let ll = p
        .low_latency
        .as_ref()
        .expect("live playlists are low-latency");
    let parts = p
        .segments
        .iter()
        .flat_map(|x| x.parts.iter())
        .chain(ll.open_parts.iter());
    for x in &p.segments {
        assert!(
            last_seq.is_none_or(|l| x.seq > l),
            "sequence {x:?} after {last_seq:?}"
        );
        assert!(x.duration.is_finite() && x.duration >= 0.0, "{x:?}");
        assert_eq!(names::parse_segment_uri(1, &x.uri), Some(x.seq));
        last_seq = Some(x.seq);
    }
    for part in parts {
        let n = part_number(&part.uri);
        assert!(
            last_part.is_none_or(|l| n > l),
            "part {n} after {last_part:?}"
        );
        assert!(
            part.duration.is_finite() && part.duration >= 0.0,
            "{part:?}"
        );
        last_part = Some(n);
    }
    if let Some(hint) = &ll.preload_hint {
        let n = part_number(hint);
        assert!(
            last_part.is_none_or(|l| n > l),
            "hint {n} after {last_part:?}"
        );
    }
}
