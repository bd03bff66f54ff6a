//! One RTMP connection's I/O: reads the socket into the sans-IO
//! [`PublishSession`] and does what it answers (write, look up the stream
//! key and ask the hub, forward on the media link), with the timeouts, the
//! operator's kick and shutdown around it.

use crate::Shared;
use crate::hub::{Departure, Grant};
use crate::session::{Action, Close, PublishSession};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, timeout_at};

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A publisher that sends nothing for this long is gone.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The accepted publish this connection feeds.
struct Publishing {
    channel_id: i64,
    channel: String,
    grant: Grant,
}

struct Conn {
    id: u64,
    peer: SocketAddr,
    shared: Arc<Shared>,
    sock: TcpStream,
    session: PublishSession,
    publishing: Option<Publishing>,
}

/// Runs one connection to completion.
pub async fn handle(
    sock: TcpStream,
    peer: SocketAddr,
    id: u64,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) {
    let _ = sock.set_nodelay(true);
    let session = PublishSession::new(shared.cfg.ingestd.max_message_size.0);
    let mut conn = Conn {
        id,
        peer,
        shared,
        sock,
        session,
        publishing: None,
    };
    let result = conn.run(stop).await;
    conn.close(result).await;
}

impl Conn {
    async fn run(&mut self, mut stop: watch::Receiver<bool>) -> Result<(), Close> {
        let handshake_by = Instant::now() + HANDSHAKE_TIMEOUT;
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
            let handshaken = self.session.handshaken();
            let by = if handshaken {
                Instant::now() + IDLE_TIMEOUT
            } else {
                handshake_by
            };
            let n = tokio::select! {
                r = timeout_at(by, self.sock.read(&mut buf)) => match r {
                    Ok(r) => r?,
                    Err(_) if handshaken => return Err(Close::Idle(IDLE_TIMEOUT)),
                    Err(_) => return Err(Close::Protocol("RTMP handshake timed out".into())),
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
            let actions = self.session.input(&buf[..n], stage_core::time::now_ms())?;
            self.perform(actions).await?;
        }
    }

    async fn perform(&mut self, actions: Vec<Action>) -> Result<(), Close> {
        let mut queue = std::collections::VecDeque::from(actions);
        while let Some(action) = queue.pop_front() {
            match action {
                Action::Send(bytes) => self.sock.write_all(&bytes).await?,
                Action::Forward(msg) => {
                    let Some(p) = &self.publishing else { continue };
                    p.grant.stats.count(&msg, stage_core::time::now_ms());
                    p.grant
                        .forwarder
                        .tx
                        .send(msg)
                        .await
                        .map_err(|_| Close::Protocol("stream already ended".into()))?;
                }
                Action::Authorize { key } => {
                    let ts_offset = self.publish(&key).await?;
                    let more = self
                        .session
                        .authorized(ts_offset, stage_core::time::now_ms())?;
                    // What the accepted request answers comes before anything
                    // still queued from the same read.
                    for a in more.into_iter().rev() {
                        queue.push_front(a);
                    }
                }
                Action::Stopped => {
                    // The session says this once per publish.
                    if let Some(p) = &self.publishing {
                        let (cid, sid) = (p.channel_id, p.grant.stream_id);
                        tracing::info!(conn = self.id, stream = sid, "publisher stopped streaming");
                        self.shared
                            .hub
                            .left(cid, self.id, Departure::Clean, "publisher stopped".into())
                            .await;
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks the stream key and asks the hub for the channel; returns where
    /// the stream's timeline starts.
    async fn publish(&mut self, key: &str) -> Result<i64, Close> {
        let channel = match self.shared.db.channel_by_key(key).await {
            Ok(Some(c)) => c,
            Ok(None) => return Err(Close::Refused("unknown or rotated stream key".into())),
            Err(e) => return Err(Close::Refused(format!("cannot check stream key: {e}"))),
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
        let ts_offset = grant.ts_offset;
        self.publishing = Some(Publishing {
            channel_id: channel.id,
            channel: channel.name,
            grant,
        });
        Ok(ts_offset)
    }

    async fn close(mut self, result: Result<(), Close>) {
        let cause = match &result {
            Ok(()) => "done".to_string(),
            Err(e) => e.to_string(),
        };
        if !self.session.handshaken() {
            tracing::info!(conn = self.id, peer = %self.peer, cause = %cause, "RTMP handshake failed; connection closed");
            let _ = self.sock.shutdown().await;
            return;
        }
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
                    kind: "refused".into(),
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
        // Still publishing (not stopped): the hub must hear it went.
        let publishing = self.session.publishing();
        if let Some(p) = self.publishing.take().filter(|_| publishing) {
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
