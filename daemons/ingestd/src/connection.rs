//! One RTMP connection: handshake, connect/createStream/publish through
//! rml_rtmp's sans-IO session, then FLV tags → access units on the media link.
//!
//! Anything wrong with this connection's bytes (bad handshake, malformed
//! chunk, oversized message, malformed FLV tag) closes this connection only.

use crate::Shared;
use crate::hub::{Departure, Grant};
use crate::timeline::{Kind, Timeline};
use bytes::Bytes;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult,
};
use stage_media::aac::AacConfig;
use stage_media::avc::AvcConfig;
use stage_media::flv::{self, AudioTag, VideoTag};
use stage_media::link::{Frame, LinkMessage};
use stage_media::rtmp_guard::ChunkGuard;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::timeout;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A publisher that sends nothing for this long is gone.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The RTMP application publishers must use (`rtmp://host/live`).
const APP: &str = "live";

/// Why a connection closed, for the log and the hub.
#[derive(Debug, thiserror::Error)]
enum Close {
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

struct Publishing {
    channel_id: i64,
    channel: String,
    stream_id: i64,
    grant: Grant,
    timeline: Timeline,
    avc: Option<AvcConfig>,
    aac: Option<AacConfig>,
    finished: bool,
}

struct Conn {
    id: u64,
    peer: SocketAddr,
    shared: Arc<Shared>,
    session: ServerSession,
    sock: TcpStream,
    guard: ChunkGuard,
    publishing: Option<Publishing>,
}

/// Runs one connection to completion.
pub async fn handle(
    mut sock: TcpStream,
    peer: SocketAddr,
    id: u64,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) {
    let _ = sock.set_nodelay(true);
    let leftover = match timeout(HANDSHAKE_TIMEOUT, handshake(&mut sock)).await {
        Ok(Ok(rest)) => rest,
        Ok(Err(e)) => {
            tracing::info!(conn = id, %peer, cause = %e, "RTMP handshake failed; connection closed");
            return;
        }
        Err(_) => {
            tracing::info!(conn = id, %peer, "RTMP handshake timed out; connection closed");
            return;
        }
    };
    let mut config = ServerSessionConfig::new();
    config.chunk_size = 4096;
    let (session, initial) = match ServerSession::new(config) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(conn = id, cause = ?e, "cannot create RTMP session");
            return;
        }
    };
    let guard = ChunkGuard::new(shared.cfg.ingestd.max_message_size.0);
    let mut conn = Conn {
        id,
        peer,
        shared,
        session,
        sock,
        guard,
        publishing: None,
    };
    let result = conn.run(initial, leftover, stop).await;
    conn.close(result).await;
}

async fn handshake(sock: &mut TcpStream) -> Result<Vec<u8>, Close> {
    let mut hs = Handshake::new(PeerType::Server);
    let mut buf = vec![0u8; 4096];
    loop {
        let n = sock.read(&mut buf).await?;
        if n == 0 {
            return Err(Close::Eof);
        }
        match hs.process_bytes(&buf[..n]) {
            Ok(HandshakeProcessResult::InProgress { response_bytes }) => {
                sock.write_all(&response_bytes).await?;
            }
            Ok(HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            }) => {
                sock.write_all(&response_bytes).await?;
                return Ok(remaining_bytes);
            }
            Err(e) => return Err(Close::Protocol(format!("bad handshake: {e:?}"))),
        }
    }
}

impl Conn {
    async fn run(
        &mut self,
        initial: Vec<ServerSessionResult>,
        leftover: Vec<u8>,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), Close> {
        self.apply(initial).await?;
        if !leftover.is_empty() {
            self.input(&leftover).await?;
        }
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let kicked = async {
                match self.publishing.as_mut() {
                    Some(p) => {
                        let _ = (&mut p.grant.kicked).await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let n = tokio::select! {
                r = timeout(IDLE_TIMEOUT, self.sock.read(&mut buf)) => match r {
                    Ok(r) => r?,
                    Err(_) => return Err(Close::Idle(IDLE_TIMEOUT)),
                },
                _ = kicked => return Err(Close::Kicked),
                _ = stage_core::telemetry::stopped(&mut stop) => return Err(Close::Shutdown),
            };
            if n == 0 {
                return Err(Close::Eof);
            }
            if let Some(p) = &self.publishing {
                p.grant.stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            self.input(&buf[..n]).await?;
        }
    }

    async fn input(&mut self, bytes: &[u8]) -> Result<(), Close> {
        self.guard.check(bytes).map_err(Close::Protocol)?;
        let results = self
            .session
            .handle_input(bytes)
            .map_err(|e| Close::Protocol(format!("malformed RTMP data: {e:?}")))?;
        self.apply(results).await
    }

    async fn apply(&mut self, results: Vec<ServerSessionResult>) -> Result<(), Close> {
        let mut queue = std::collections::VecDeque::from(results);
        while let Some(r) = queue.pop_front() {
            match r {
                ServerSessionResult::OutboundResponse(p) => self.sock.write_all(&p.bytes).await?,
                ServerSessionResult::RaisedEvent(ev) => {
                    for more in self.event(ev).await? {
                        queue.push_back(more);
                    }
                }
                ServerSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        Ok(())
    }

    fn accept(&mut self, request_id: u32) -> Result<Vec<ServerSessionResult>, Close> {
        self.session
            .accept_request(request_id)
            .map_err(|e| Close::Protocol(format!("cannot accept request: {e:?}")))
    }

    async fn event(&mut self, ev: ServerSessionEvent) -> Result<Vec<ServerSessionResult>, Close> {
        let max_message = self.shared.cfg.ingestd.max_message_size.0;
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
            } => self.publish(request_id, &stream_key).await,
            ServerSessionEvent::PublishStreamFinished { .. } => {
                if let Some(p) = self.publishing.as_mut() {
                    p.finished = true;
                    let (cid, sid) = (p.channel_id, p.stream_id);
                    tracing::info!(conn = self.id, stream = sid, "publisher stopped streaming");
                    self.shared
                        .hub
                        .left(cid, self.id, Departure::Clean, "publisher stopped".into())
                        .await;
                }
                Ok(vec![])
            }
            ServerSessionEvent::VideoDataReceived {
                data, timestamp, ..
            } => {
                self.check_size(data.len(), max_message)?;
                self.video(data, timestamp.value).await?;
                Ok(vec![])
            }
            ServerSessionEvent::AudioDataReceived {
                data, timestamp, ..
            } => {
                self.check_size(data.len(), max_message)?;
                self.audio(data, timestamp.value).await?;
                Ok(vec![])
            }
            ServerSessionEvent::PlayStreamRequested { .. } => Err(Close::Refused(
                "playback over RTMP is not offered; watch over HLS".into(),
            )),
            _ => Ok(vec![]),
        }
    }

    fn check_size(&self, len: usize, max: u64) -> Result<(), Close> {
        if len as u64 > max {
            return Err(Close::Protocol(format!(
                "media message of {len} bytes over the limit ({max} bytes, ingestd.max_message_size)"
            )));
        }
        Ok(())
    }

    async fn publish(
        &mut self,
        request_id: u32,
        stream_key: &str,
    ) -> Result<Vec<ServerSessionResult>, Close> {
        if self.publishing.as_ref().is_some_and(|p| !p.finished) {
            return Err(Close::Refused("second publish on one connection".into()));
        }
        // OBS and ffmpeg may append `?query` to the stream name.
        let key = stream_key.split('?').next().unwrap_or_default();
        let channel = match self.shared.db.channel_by_key(key).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                return Err(Close::Refused("unknown or rotated stream key".into()));
            }
            Err(e) => {
                return Err(Close::Refused(format!("cannot check stream key: {e}")));
            }
        };
        if !channel.enabled {
            return Err(Close::Refused(format!(
                "channel `{}` is disabled",
                channel.name
            )));
        }
        let grant = self
            .shared
            .hub
            .publish(channel.clone(), self.id, self.peer)
            .await
            .map_err(|e| Close::Refused(format!("channel `{}`: {e}", channel.name)))?;
        tracing::info!(
            conn = self.id,
            peer = %self.peer,
            channel = %channel.name,
            stream = grant.stream_id,
            resumed = grant.resumed,
            "publish accepted"
        );
        self.publishing = Some(Publishing {
            channel_id: channel.id,
            channel: channel.name,
            stream_id: grant.stream_id,
            timeline: Timeline::new(grant.ts_offset),
            grant,
            avc: None,
            aac: None,
            finished: false,
        });
        self.accept(request_id)
    }

    async fn send(&self, msg: LinkMessage) -> Result<(), Close> {
        let Some(p) = &self.publishing else {
            return Ok(());
        };
        p.grant
            .forwarder
            .tx
            .send(msg)
            .await
            .map_err(|_| Close::Protocol("stream already ended".into()))
    }

    async fn video(&mut self, data: Bytes, ts: u32) -> Result<(), Close> {
        let Some(p) = self.publishing.as_mut().filter(|p| !p.finished) else {
            return Ok(());
        };
        let tag = flv::parse_video(&data).map_err(|e| match e {
            stage_media::MediaError::Unsupported(m) => Close::Refused(m),
            e => Close::Protocol(format!("bad video tag: {e}")),
        })?;
        match tag {
            VideoTag::SequenceHeader(rec) => {
                let cfg = AvcConfig::parse(rec.clone())
                    .map_err(|e| Close::Protocol(format!("bad AVC sequence header: {e}")))?;
                tracing::info!(stream = p.stream_id, codec = %cfg.codec_string(), width = cfg.width, height = cfg.height, "video configured");
                p.avc = Some(cfg);
                self.send(LinkMessage::VideoConfig(rec)).await
            }
            VideoTag::Frame {
                keyframe,
                cts,
                data,
            } => {
                let Some(avc) = &p.avc else { return Ok(()) }; // before its config: useless
                flv::split_nalus(&data, avc.nalu_length_size)
                    .map_err(|e| Close::Protocol(format!("bad H.264 frame: {e}")))?;
                let dts = p.timeline.map(Kind::Video, ts);
                let now = stage_core::time::now_ms();
                p.grant.stats.video_frames.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut m) = p.grant.stats.meter.lock() {
                    m.video(now, dts, data.len(), keyframe);
                }
                if keyframe {
                    p.grant.stats.keyframes.fetch_add(1, Ordering::Relaxed);
                }
                let frame = Frame {
                    dts_ms: dts,
                    cts_ms: cts,
                    keyframe,
                    wallclock_ms: now,
                    data,
                };
                self.send(LinkMessage::Video(frame)).await
            }
            VideoTag::EndOfSequence | VideoTag::Info => Ok(()),
        }
    }

    async fn audio(&mut self, data: Bytes, ts: u32) -> Result<(), Close> {
        let Some(p) = self.publishing.as_mut().filter(|p| !p.finished) else {
            return Ok(());
        };
        let tag = flv::parse_audio(&data).map_err(|e| match e {
            stage_media::MediaError::Unsupported(m) => Close::Refused(m),
            e => Close::Protocol(format!("bad audio tag: {e}")),
        })?;
        match tag {
            AudioTag::SequenceHeader(asc) => {
                let cfg = AacConfig::parse(asc.clone()).map_err(|e| match e {
                    stage_media::MediaError::Unsupported(m) => Close::Refused(m),
                    e => Close::Protocol(format!("bad AAC sequence header: {e}")),
                })?;
                tracing::info!(stream = p.stream_id, codec = %cfg.codec_string(), rate = cfg.sample_rate, channels = cfg.channels, "audio configured");
                p.aac = Some(cfg);
                self.send(LinkMessage::AudioConfig(asc)).await
            }
            AudioTag::Frame(data) => {
                if p.aac.is_none() {
                    return Ok(());
                }
                let dts = p.timeline.map(Kind::Audio, ts);
                let now = stage_core::time::now_ms();
                p.grant.stats.audio_frames.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut m) = p.grant.stats.meter.lock() {
                    m.audio(now, dts, data.len());
                }
                let frame = Frame {
                    dts_ms: dts,
                    cts_ms: 0,
                    keyframe: true,
                    wallclock_ms: now,
                    data,
                };
                self.send(LinkMessage::Audio(frame)).await
            }
        }
    }

    async fn close(mut self, result: Result<(), Close>) {
        let cause = match &result {
            Ok(()) => "done".to_string(),
            Err(e) => e.to_string(),
        };
        match &result {
            Err(Close::Refused(why)) => {
                tracing::warn!(conn = self.id, peer = %self.peer, reason = %why, "publish refused; connection closed");
                self.shared.hub.note(crate::hub::IngestEvent {
                    at_ms: stage_core::time::now_ms(),
                    channel: self
                        .publishing
                        .as_ref()
                        .map(|p| p.channel.clone())
                        .unwrap_or_default(),
                    kind: "refused",
                    detail: format!("{}: {why}", self.peer),
                });
            }
            Err(Close::Protocol(why)) => {
                tracing::warn!(conn = self.id, peer = %self.peer, reason = %why, "protocol error; connection closed")
            }
            _ => {
                tracing::info!(conn = self.id, peer = %self.peer, cause = %cause, "connection closed")
            }
        }
        let _ = self.sock.shutdown().await;
        if let Some(p) = self.publishing.take().filter(|p| !p.finished) {
            let how = match result {
                Err(Close::Refused(_)) | Err(Close::Protocol(_)) => Departure::Refused,
                Err(Close::Kicked) | Err(Close::Shutdown) => Departure::Clean,
                _ => Departure::Abrupt,
            };
            tracing::debug!(channel = %p.channel, ?how, "publisher gone");
            self.shared
                .hub
                .left(p.channel_id, self.id, how, cause)
                .await;
        }
    }
}
