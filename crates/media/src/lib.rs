//! StreamStage media formats. Pure and synchronous: bytes in, values out, no
//! sockets and no clocks, so every parser here is unit-tested and fuzzed directly.
//!
//! - [`flv`]: FLV audio/video tag bodies as RTMP delivers them.
//! - [`avc`] / [`aac`]: H.264 decoder configuration (SPS) and AAC AudioSpecificConfig.
//! - [`fmp4`]: CMAF/fMP4 init and media segments.
//! - [`hls`]: HLS media and multivariant playlists.
//! - [`dash`]: the MPEG-DASH MPD over the same CMAF segments.
//! - [`llhls`]: the LL-HLS packager (access units → parts, segments, playlists).
//! - [`link`]: the framing of the internal media link (ingestd → packagerd).
//! - [`rtmp_guard`]: bounds on what an RTMP peer can make us buffer.

pub mod aac;
pub mod avc;
mod bits;
pub mod dash;
pub mod flv;
pub mod fmp4;
pub mod hls;
pub mod link;
pub mod llhls;
pub mod rtmp_guard;
#[doc(hidden)]
pub mod testdata;

/// Errors from parsing media bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    #[error("truncated {0}")]
    Truncated(&'static str),
    #[error("unsupported {0}")]
    Unsupported(String),
    #[error("malformed {0}")]
    Malformed(String),
}

/// Feeds arbitrary bytes to every parser here; the fuzz target and the corpus
/// replay test both call it. The first byte picks the parser.
#[doc(hidden)]
pub fn fuzz_parse(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let body = bytes::Bytes::copy_from_slice(rest);
    match sel % 8 {
        0 => {
            if let Ok(flv::VideoTag::SequenceHeader(rec)) = flv::parse_video(&body) {
                let _ = avc::AvcConfig::parse(rec);
            } else if let Ok(flv::VideoTag::Frame { data, .. }) = flv::parse_video(&body) {
                let _ = flv::split_nalus(&data, 4);
            }
        }
        1 => {
            if let Ok(flv::AudioTag::SequenceHeader(asc)) = flv::parse_audio(&body) {
                let _ = aac::AacConfig::parse(asc);
            }
        }
        2 => {
            if let Ok(cfg) = avc::AvcConfig::parse(body) {
                let _ = cfg.codec_string();
                let _ = fmp4::init_segment(&[fmp4::Track {
                    id: 1,
                    timescale: 90_000,
                    config: fmp4::TrackConfig::Video(cfg),
                }]);
            }
        }
        3 => {
            if let Ok(cfg) = aac::AacConfig::parse(body) {
                let _ = fmp4::init_segment(&[fmp4::Track {
                    id: 1,
                    timescale: cfg.sample_rate,
                    config: fmp4::TrackConfig::Audio(cfg),
                }]);
            }
        }
        4 => {
            let mut buf = bytes::BytesMut::from(rest);
            while let Ok(Some(_)) = link::decode(&mut buf) {}
        }
        5 => {
            let _ = flv::split_nalus(rest, 1 + (rest.len() % 4));
        }
        6 => {
            let _ = fmp4::track_segment(&body, 1);
            let _ = fmp4::track_init(rest, 2);
        }
        _ => {
            let mut g = rtmp_guard::ChunkGuard::new(1 << 20);
            for piece in rest.chunks(1 + rest.len() % 97) {
                if g.check(piece).is_err() {
                    break;
                }
            }
        }
    }
}
