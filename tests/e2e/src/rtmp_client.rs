//! A small RTMP publisher built on rml_rtmp's client session, for tests that
//! must send what ffmpeg never would (malformed FLV tags, odd orders).

use anyhow::{Context, bail};
use bytes::Bytes;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType,
};
use rml_rtmp::time::RtmpTimestamp;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A connected, publishing RTMP client.
pub struct RtmpPublisher {
    pub sock: TcpStream,
    session: ClientSession,
}

async fn read_some(sock: &mut TcpStream, buf: &mut [u8]) -> anyhow::Result<usize> {
    let n = tokio::time::timeout(Duration::from_secs(5), sock.read(buf))
        .await
        .context("read timed out")??;
    if n == 0 {
        bail!("server closed the connection");
    }
    Ok(n)
}

impl RtmpPublisher {
    /// Handshakes, connects to app `live` and publishes `key`.
    pub async fn connect(port: u16, key: &str) -> anyhow::Result<RtmpPublisher> {
        let mut sock = TcpStream::connect(("127.0.0.1", port)).await?;
        let mut hs = Handshake::new(PeerType::Client);
        sock.write_all(
            &hs.generate_outbound_p0_and_p1()
                .map_err(|e| anyhow::anyhow!("{e:?}"))?,
        )
        .await?;
        let mut buf = vec![0u8; 8192];
        let leftover = loop {
            let n = read_some(&mut sock, &mut buf).await?;
            match hs
                .process_bytes(&buf[..n])
                .map_err(|e| anyhow::anyhow!("{e:?}"))?
            {
                HandshakeProcessResult::InProgress { response_bytes } => {
                    sock.write_all(&response_bytes).await?
                }
                HandshakeProcessResult::Completed {
                    response_bytes,
                    remaining_bytes,
                } => {
                    sock.write_all(&response_bytes).await?;
                    break remaining_bytes;
                }
            }
        };
        let (session, initial) =
            ClientSession::new(ClientSessionConfig::new()).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let mut me = RtmpPublisher { sock, session };
        me.send_all(initial).await?;
        let mut pending = leftover;
        let r = me
            .session
            .request_connection("live".into())
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        me.send_all(vec![r]).await?;
        me.wait_for(&mut pending, |e| {
            matches!(e, ClientSessionEvent::ConnectionRequestAccepted)
        })
        .await?;
        let r = me
            .session
            .request_publishing(key.into(), PublishRequestType::Live)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        me.send_all(vec![r]).await?;
        me.wait_for(&mut pending, |e| {
            matches!(e, ClientSessionEvent::PublishRequestAccepted)
        })
        .await?;
        Ok(me)
    }

    async fn send_all(&mut self, results: Vec<ClientSessionResult>) -> anyhow::Result<()> {
        for r in results {
            if let ClientSessionResult::OutboundResponse(p) = r {
                self.sock.write_all(&p.bytes).await?;
            }
        }
        Ok(())
    }

    async fn wait_for(
        &mut self,
        pending: &mut Vec<u8>,
        want: impl Fn(&ClientSessionEvent) -> bool,
    ) -> anyhow::Result<()> {
        let mut buf = vec![0u8; 8192];
        loop {
            let input = if pending.is_empty() {
                let n = read_some(&mut self.sock, &mut buf).await?;
                buf[..n].to_vec()
            } else {
                std::mem::take(pending)
            };
            let results = self
                .session
                .handle_input(&input)
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let mut found = false;
            for r in results {
                match r {
                    ClientSessionResult::OutboundResponse(p) => {
                        self.sock.write_all(&p.bytes).await?
                    }
                    ClientSessionResult::RaisedEvent(e) => found |= want(&e),
                    _ => {}
                }
            }
            if found {
                return Ok(());
            }
        }
    }

    /// Sends a video message with this FLV tag body.
    pub async fn video(&mut self, body: &[u8], ts: u32) -> anyhow::Result<()> {
        let r = self
            .session
            .publish_video_data(Bytes::copy_from_slice(body), RtmpTimestamp::new(ts), false)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        self.send_all(vec![r]).await
    }

    /// Sends an audio message with this FLV tag body.
    pub async fn audio(&mut self, body: &[u8], ts: u32) -> anyhow::Result<()> {
        let r = self
            .session
            .publish_audio_data(Bytes::copy_from_slice(body), RtmpTimestamp::new(ts), false)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        self.send_all(vec![r]).await
    }

    /// Whether the server has closed the connection (reads until EOF or `limit`).
    pub async fn closed_within(&mut self, limit: Duration) -> bool {
        let mut buf = vec![0u8; 8192];
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.sock.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    }
}

/// The tags of an FLV file: (tag type 8 audio / 9 video, timestamp ms, body).
pub fn flv_tags(file: &[u8]) -> anyhow::Result<Vec<(u8, u32, Vec<u8>)>> {
    if file.len() < 13 || &file[..3] != b"FLV" {
        bail!("not an FLV file");
    }
    let mut at = u32::from_be_bytes(file[5..9].try_into()?) as usize + 4;
    let mut out = Vec::new();
    while at + 11 <= file.len() {
        let kind = file[at];
        let size = u32::from_be_bytes([0, file[at + 1], file[at + 2], file[at + 3]]) as usize;
        let ts = u32::from_be_bytes([file[at + 7], file[at + 4], file[at + 5], file[at + 6]]);
        let body = file
            .get(at + 11..at + 11 + size)
            .context("truncated FLV tag")?;
        if kind == 8 || kind == 9 {
            out.push((kind, ts, body.to_vec()));
        }
        at += 11 + size + 4;
    }
    Ok(out)
}
