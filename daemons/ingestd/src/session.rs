//! One publisher's RTMP conversation as a sans-IO state machine: bytes and
//! the clock go in, [`Action`]s come out. It owns the handshake, rml_rtmp's
//! `ServerSession`, the chunk guard, FLV tag → access unit conversion and
//! the stream timeline; it opens no socket, reads no clock and awaits
//! nothing. The I/O loop (`connection.rs`) writes what it is told to send,
//! forwards what it is told to forward, and answers its one question (may
//! this stream key publish?) with [`PublishSession::authorized`] or by
//! closing. Tested without sockets in `daemons/ingestd/tests/session.rs`.
//!
//! Anything wrong with the bytes (bad handshake, malformed chunk, oversized
//! message, malformed FLV tag) is a [`Close`]: the connection ends, nothing
//! else does.

use crate::timeline::{Kind, Timeline};
use bytes::Bytes;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult,
};
use stage_media::MediaError;
use stage_media::aac::AacConfig;
use stage_media::avc::AvcConfig;
use stage_media::flv::{self, AudioTag, VideoTag};
use stage_media::link::{Frame, LinkMessage};
use stage_media::rtmp_guard::ChunkGuard;
use std::collections::VecDeque;
use std::time::Duration;

/// The RTMP application publishers must use (`rtmp://host/live`).
pub const APP: &str = "live";
/// Chunk size the server announces.
const CHUNK_SIZE: u32 = 4096;

/// Why a connection closed, for the log and the hub.
#[derive(Debug, thiserror::Error)]
pub enum Close {
    #[error("{0}")]
    Protocol(String),
    #[error("refused: {0}")]
    Refused(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("peer closed the connection")]
    Eof,
    #[error("idle for {0:?}")]
    Idle(Duration),
    #[error("kicked by operator")]
    Kicked,
    #[error("ingestd shutting down")]
    Shutdown,
}

/// What the I/O loop must do, in order.
#[derive(Debug)]
pub enum Action {
    /// Write these bytes to the publisher.
    Send(Bytes),
    /// The publisher asks to publish with this stream key (any `?query`
    /// OBS or ffmpeg append already cut off). Answer with
    /// [`PublishSession::authorized`], or close with [`Close::Refused`];
    /// until then the session holds whatever arrives after the request.
    Authorize { key: String },
    /// A track configuration or an access unit for the media link.
    Forward(LinkMessage),
    /// The publisher stopped publishing (the connection may stay open).
    Stopped,
}

/// An accepted publish.
#[derive(Debug)]
struct Publishing {
    timeline: Timeline,
    avc: Option<AvcConfig>,
    aac: Option<AacConfig>,
    finished: bool,
}

enum Stage {
    Handshake(Box<Handshake>),
    Session(Box<ServerSession>),
}

/// One publisher's session.
pub struct PublishSession {
    stage: Stage,
    guard: ChunkGuard,
    max_message: u64,
    /// The publish request waiting for [`Self::authorized`], and what the
    /// session raised after it meanwhile.
    asking: Option<u32>,
    held: VecDeque<ServerSessionResult>,
    publishing: Option<Publishing>,
}

impl PublishSession {
    /// A session waiting for the handshake; media messages over
    /// `max_message` bytes close it.
    pub fn new(max_message: u64) -> PublishSession {
        PublishSession {
            stage: Stage::Handshake(Box::new(Handshake::new(PeerType::Server))),
            guard: ChunkGuard::new(max_message),
            max_message,
            asking: None,
            held: VecDeque::new(),
            publishing: None,
        }
    }

    /// Whether the handshake is done.
    pub fn handshaken(&self) -> bool {
        matches!(self.stage, Stage::Session(_))
    }

    /// Whether a publish was accepted and has not stopped.
    pub fn publishing(&self) -> bool {
        self.publishing.as_ref().is_some_and(|p| !p.finished)
    }

    /// Whether a publish was ever accepted on this connection.
    pub fn published(&self) -> bool {
        self.publishing.is_some()
    }

    /// Bytes from the publisher, read at `now_ms`.
    pub fn input(&mut self, bytes: &[u8], now_ms: i64) -> Result<Vec<Action>, Close> {
        let mut out = Vec::new();
        let results = match &mut self.stage {
            Stage::Handshake(hs) => {
                let rest = match hs.process_bytes(bytes) {
                    Ok(HandshakeProcessResult::InProgress { response_bytes }) => {
                        out.push(Action::Send(response_bytes.into()));
                        return Ok(out);
                    }
                    Ok(HandshakeProcessResult::Completed {
                        response_bytes,
                        remaining_bytes,
                    }) => {
                        out.push(Action::Send(response_bytes.into()));
                        remaining_bytes
                    }
                    Err(e) => return Err(Close::Protocol(format!("bad handshake: {e:?}"))),
                };
                let mut config = ServerSessionConfig::new();
                config.chunk_size = CHUNK_SIZE;
                let (session, mut initial) = ServerSession::new(config)
                    .map_err(|e| Close::Protocol(format!("cannot create RTMP session: {e:?}")))?;
                self.stage = Stage::Session(Box::new(session));
                if !rest.is_empty() {
                    initial.extend(self.session_input(&rest)?);
                }
                initial
            }
            Stage::Session(_) => self.session_input(bytes)?,
        };
        if self.asking.is_some() {
            self.held.extend(results);
        } else {
            self.apply(results.into(), now_ms, &mut out)?;
        }
        Ok(out)
    }

    /// The stream key was good: the stream's timeline starts at
    /// `ts_offset` ms (0 for a new stream, just after the last frame of a
    /// resumed one). Returns the actions of the accepted request and of
    /// everything held since it.
    pub fn authorized(&mut self, ts_offset: i64, now_ms: i64) -> Result<Vec<Action>, Close> {
        let Some(request_id) = self.asking.take() else {
            return Err(Close::Protocol("no publish request to accept".into()));
        };
        self.publishing = Some(Publishing {
            timeline: Timeline::new(ts_offset),
            avc: None,
            aac: None,
            finished: false,
        });
        let mut queue: VecDeque<_> = self.accept(request_id)?.into();
        queue.extend(std::mem::take(&mut self.held));
        let mut out = Vec::new();
        self.apply(queue, now_ms, &mut out)?;
        Ok(out)
    }

    fn rtmp(&mut self) -> Result<&mut ServerSession, Close> {
        match &mut self.stage {
            Stage::Session(s) => Ok(s),
            Stage::Handshake(_) => Err(Close::Protocol("RTMP message before the handshake".into())),
        }
    }

    fn session_input(&mut self, bytes: &[u8]) -> Result<Vec<ServerSessionResult>, Close> {
        self.guard.check(bytes).map_err(Close::Protocol)?;
        self.rtmp()?
            .handle_input(bytes)
            .map_err(|e| Close::Protocol(format!("malformed RTMP data: {e:?}")))
    }

    fn accept(&mut self, request_id: u32) -> Result<Vec<ServerSessionResult>, Close> {
        self.rtmp()?
            .accept_request(request_id)
            .map_err(|e| Close::Protocol(format!("cannot accept request: {e:?}")))
    }

    /// Works through `queue` until it is empty or a publish request waits
    /// for its answer (the rest is held).
    fn apply(
        &mut self,
        mut queue: VecDeque<ServerSessionResult>,
        now_ms: i64,
        out: &mut Vec<Action>,
    ) -> Result<(), Close> {
        while let Some(r) = queue.pop_front() {
            match r {
                ServerSessionResult::OutboundResponse(p) => out.push(Action::Send(p.bytes.into())),
                ServerSessionResult::RaisedEvent(ev) => {
                    let more = self.event(ev, now_ms, out)?;
                    if self.asking.is_some() {
                        self.held.extend(more);
                        self.held.extend(queue);
                        return Ok(());
                    }
                    queue.extend(more);
                }
                ServerSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        Ok(())
    }

    fn event(
        &mut self,
        ev: ServerSessionEvent,
        now_ms: i64,
        out: &mut Vec<Action>,
    ) -> Result<Vec<ServerSessionResult>, Close> {
        match ev {
            ServerSessionEvent::ConnectionRequested {
                request_id,
                app_name,
            } => {
                if app_name.trim_end_matches('/') != APP {
                    return Err(Close::Refused(format!(
                        "unknown application `{app_name}` (publish to rtmp://HOST/{APP})"
                    )));
                }
                self.accept(request_id)
            }
            ServerSessionEvent::PublishStreamRequested {
                request_id,
                stream_key,
                ..
            } => {
                if self.publishing() {
                    return Err(Close::Refused("second publish on one connection".into()));
                }
                let key = stream_key.split('?').next().unwrap_or_default();
                out.push(Action::Authorize { key: key.into() });
                self.asking = Some(request_id);
                Ok(vec![])
            }
            ServerSessionEvent::PublishStreamFinished { .. } => {
                if let Some(p) = self.publishing.as_mut().filter(|p| !p.finished) {
                    p.finished = true;
                    out.push(Action::Stopped);
                }
                Ok(vec![])
            }
            ServerSessionEvent::VideoDataReceived {
                data, timestamp, ..
            } => {
                self.check_size(data.len())?;
                out.extend(self.video(data, timestamp.value, now_ms)?);
                Ok(vec![])
            }
            ServerSessionEvent::AudioDataReceived {
                data, timestamp, ..
            } => {
                self.check_size(data.len())?;
                out.extend(self.audio(data, timestamp.value, now_ms)?);
                Ok(vec![])
            }
            ServerSessionEvent::PlayStreamRequested { .. } => Err(Close::Refused(
                "playback over RTMP is not offered; watch over HLS".into(),
            )),
            _ => Ok(vec![]),
        }
    }

    fn check_size(&self, len: usize) -> Result<(), Close> {
        if len as u64 > self.max_message {
            return Err(Close::Protocol(format!(
                "media message of {len} bytes over the limit ({} bytes, ingestd.max_message_size)",
                self.max_message
            )));
        }
        Ok(())
    }

    fn video(&mut self, data: Bytes, ts: u32, now_ms: i64) -> Result<Option<Action>, Close> {
        let Some(p) = self.publishing.as_mut().filter(|p| !p.finished) else {
            return Ok(None);
        };
        let tag = flv::parse_video(&data).map_err(|e| media_error("bad video tag", e))?;
        let msg = match tag {
            VideoTag::SequenceHeader(rec) => {
                let cfg = AvcConfig::parse(rec.clone())
                    .map_err(|e| Close::Protocol(format!("bad AVC sequence header: {e}")))?;
                tracing::info!(codec = %cfg.codec_string(), width = cfg.width, height = cfg.height, "video configured");
                p.avc = Some(cfg);
                LinkMessage::VideoConfig(rec)
            }
            VideoTag::Frame {
                keyframe,
                cts,
                data,
            } => {
                let Some(avc) = &p.avc else { return Ok(None) }; // before its config: useless
                flv::split_nalus(&data, avc.nalu_length_size)
                    .map_err(|e| Close::Protocol(format!("bad H.264 frame: {e}")))?;
                LinkMessage::Video(Frame {
                    dts_ms: p.timeline.map(Kind::Video, ts),
                    cts_ms: cts,
                    keyframe,
                    wallclock_ms: now_ms,
                    data,
                })
            }
            VideoTag::EndOfSequence | VideoTag::Info => return Ok(None),
        };
        Ok(Some(Action::Forward(msg)))
    }

    fn audio(&mut self, data: Bytes, ts: u32, now_ms: i64) -> Result<Option<Action>, Close> {
        let Some(p) = self.publishing.as_mut().filter(|p| !p.finished) else {
            return Ok(None);
        };
        let tag = flv::parse_audio(&data).map_err(|e| media_error("bad audio tag", e))?;
        let msg = match tag {
            AudioTag::SequenceHeader(asc) => {
                let cfg = AacConfig::parse(asc.clone())
                    .map_err(|e| media_error("bad AAC sequence header", e))?;
                tracing::info!(codec = %cfg.codec_string(), rate = cfg.sample_rate, channels = cfg.channels, "audio configured");
                p.aac = Some(cfg);
                LinkMessage::AudioConfig(asc)
            }
            AudioTag::Frame(data) => {
                if p.aac.is_none() {
                    return Ok(None);
                }
                LinkMessage::Audio(Frame {
                    dts_ms: p.timeline.map(Kind::Audio, ts),
                    cts_ms: 0,
                    keyframe: true,
                    wallclock_ms: now_ms,
                    data,
                })
            }
        };
        Ok(Some(Action::Forward(msg)))
    }
}

/// An unsupported codec refuses the publish; anything else malformed is a
/// protocol error.
fn media_error(what: &str, e: MediaError) -> Close {
    match e {
        MediaError::Unsupported(m) => Close::Refused(m),
        e => Close::Protocol(format!("{what}: {e}")),
    }
}
