//! StreamStage media formats. Pure and synchronous: bytes in, values out, no
//! sockets and no clocks, so every parser here is unit-tested and fuzzed directly.
//!
//! - [`flv`]: FLV audio/video tag bodies as RTMP delivers them.
//! - [`avc`] / [`aac`]: H.264 decoder configuration (SPS) and AAC AudioSpecificConfig.
//! - [`fmp4`]: CMAF/fMP4 init and media segments.
//! - [`hls`]: HLS media and multivariant playlists.
//! - [`link`]: the framing of the internal media link (ingestd → packagerd).

pub mod aac;
pub mod avc;
mod bits;
pub mod flv;
pub mod fmp4;
pub mod hls;
pub mod link;

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
