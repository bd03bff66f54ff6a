//! One task per live stream: holds the media link to packagerd.
//!
//! Media from the publisher's connection arrives on a bounded channel and is
//! written to packagerd. While packagerd is unreachable (down, restarting) the
//! publisher stays connected: media piles up in a backlog bounded by
//! `ingestd.backlog_max` (oldest whole GOPs dropped first, the current GOP
//! always kept) and is replayed, after the codec configs, on reconnect. While
//! connected, the backlog keeps just the current GOP so a broken link can be
//! resumed from its keyframe (packagerd drops what it already has).

use bytes::{Bytes, BytesMut};
use stage_media::link::{self, EndInfo, LinkMessage, StreamInfo};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

/// Live figures about one stream's link, read by /status.
#[derive(Debug, Default)]
pub struct LinkState {
    pub connected: AtomicBool,
    /// DTS (ms) of the last media frame received from the publisher.
    pub last_dts: AtomicI64,
    pub backlog_bytes: AtomicU64,
    pub frames_dropped: AtomicU64,
    pub reconnects: AtomicU64,
}

/// Handle the hub and the publisher's connection hold.
#[derive(Clone)]
pub struct Forwarder {
    pub tx: mpsc::Sender<LinkMessage>,
    pub state: Arc<LinkState>,
}

const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// Starts the forwarder for a stream.
pub fn spawn(info: StreamInfo, packager: SocketAddr, backlog_max: u64) -> Forwarder {
    let (tx, rx) = mpsc::channel(1024);
    let state = Arc::new(LinkState::default());
    let task = Task {
        info,
        packager,
        backlog_max,
        rx,
        state: state.clone(),
        vconf: None,
        aconf: None,
        backlog: VecDeque::new(),
        backlog_bytes: 0,
        conn: None,
        ever_connected: false,
    };
    tokio::spawn(task.run());
    Forwarder { tx, state }
}

struct Task {
    info: StreamInfo,
    packager: SocketAddr,
    backlog_max: u64,
    rx: mpsc::Receiver<LinkMessage>,
    state: Arc<LinkState>,
    vconf: Option<Bytes>,
    aconf: Option<Bytes>,
    backlog: VecDeque<LinkMessage>,
    backlog_bytes: u64,
    conn: Option<TcpStream>,
    ever_connected: bool,
}

fn msg_size(m: &LinkMessage) -> u64 {
    match m {
        LinkMessage::Video(f) | LinkMessage::Audio(f) => f.data.len() as u64 + 32,
        LinkMessage::VideoConfig(b) | LinkMessage::AudioConfig(b) => b.len() as u64 + 8,
        _ => 16,
    }
}

fn is_video_key(m: &LinkMessage) -> bool {
    matches!(m, LinkMessage::Video(f) if f.keyframe)
}

impl Task {
    async fn run(mut self) {
        let stream = self.info.stream_id;
        let mut next_attempt = Instant::now();
        let mut backoff = Duration::from_millis(50);
        loop {
            if self.conn.is_none() && Instant::now() >= next_attempt {
                match self.connect().await {
                    Ok(()) => {
                        backoff = Duration::from_millis(50);
                    }
                    Err(e) => {
                        if self.ever_connected || backoff >= MAX_BACKOFF {
                            tracing::warn!(stream, packager = %self.packager, cause = %e, "media link down; holding backlog");
                        }
                        next_attempt = Instant::now() + backoff;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
            let wait = if self.conn.is_none() {
                next_attempt
            } else {
                Instant::now() + Duration::from_secs(3600)
            };
            tokio::select! {
                msg = self.rx.recv() => {
                    let Some(msg) = msg else {
                        // Every sender gone without End: treat as ended.
                        self.finish(EndInfo { reason: "ingest dropped the stream".into() }).await;
                        return;
                    };
                    if let LinkMessage::End(e) = msg {
                        self.finish(e).await;
                        return;
                    }
                    self.push(msg).await;
                }
                _ = tokio::time::sleep_until(wait), if self.conn.is_none() => {}
            }
        }
    }

    async fn connect(&mut self) -> std::io::Result<()> {
        let mut sock = timeout(CONNECT_TIMEOUT, TcpStream::connect(self.packager))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out")
            })??;
        sock.set_nodelay(true)?;
        let mut buf = BytesMut::new();
        let mut info = self.info.clone();
        info.resumed = self.ever_connected;
        link::encode(&LinkMessage::Start(info), &mut buf);
        if let Some(v) = &self.vconf {
            link::encode(&LinkMessage::VideoConfig(v.clone()), &mut buf);
        }
        if let Some(a) = &self.aconf {
            link::encode(&LinkMessage::AudioConfig(a.clone()), &mut buf);
        }
        for m in &self.backlog {
            link::encode(m, &mut buf);
        }
        timeout(WRITE_TIMEOUT, sock.write_all(&buf))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "write timed out"))??;
        if self.ever_connected {
            self.state.reconnects.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                stream = self.info.stream_id,
                replayed = self.backlog.len(),
                "media link restored"
            );
        }
        self.ever_connected = true;
        self.conn = Some(sock);
        self.state.connected.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn record(&mut self, msg: &LinkMessage) {
        match msg {
            LinkMessage::VideoConfig(b) => self.vconf = Some(b.clone()),
            LinkMessage::AudioConfig(b) => self.aconf = Some(b.clone()),
            LinkMessage::Video(f) | LinkMessage::Audio(f) => {
                self.state.last_dts.store(f.dts_ms, Ordering::Relaxed)
            }
            _ => {}
        }
        let connected = self.conn.is_some();
        if connected && is_video_key(msg) {
            // packagerd has everything before this keyframe.
            self.backlog.clear();
            self.backlog_bytes = 0;
        }
        if connected && self.vconf.is_none() {
            // Audio-only: keep about a second for a resumed link.
            if let LinkMessage::Audio(f) = msg {
                while let Some(LinkMessage::Audio(old)) = self.backlog.front() {
                    if f.dts_ms - old.dts_ms <= 1000 {
                        break;
                    }
                    let m = self.backlog.pop_front();
                    self.backlog_bytes -= m.as_ref().map_or(0, msg_size);
                }
            }
        }
        self.backlog_bytes += msg_size(msg);
        self.backlog.push_back(msg.clone());
        while self.backlog_bytes > self.backlog_max && self.backlog.len() > 1 {
            // Drop the oldest GOP: everything up to the next video keyframe.
            let mut dropped = 0;
            while let Some(m) = self.backlog.pop_front() {
                self.backlog_bytes -= msg_size(&m);
                dropped += 1;
                if self.backlog.front().is_none_or(is_video_key) {
                    break;
                }
            }
            self.state
                .frames_dropped
                .fetch_add(dropped, Ordering::Relaxed);
        }
        self.state
            .backlog_bytes
            .store(self.backlog_bytes, Ordering::Relaxed);
    }

    async fn push(&mut self, msg: LinkMessage) {
        self.record(&msg);
        if let Some(sock) = self.conn.as_mut() {
            let mut buf = BytesMut::new();
            link::encode(&msg, &mut buf);
            let res = timeout(WRITE_TIMEOUT, sock.write_all(&buf)).await;
            if !matches!(res, Ok(Ok(()))) {
                tracing::warn!(
                    stream = self.info.stream_id,
                    "media link to packagerd broke; publisher stays connected"
                );
                self.conn = None;
                self.state.connected.store(false, Ordering::Relaxed);
            }
        }
    }

    async fn finish(&mut self, end: EndInfo) {
        if self.conn.is_none() {
            // One quick try so packagerd can close the playlist.
            let _ = self.connect().await;
        }
        if let Some(mut sock) = self.conn.take() {
            let mut buf = BytesMut::new();
            link::encode(&LinkMessage::End(end), &mut buf);
            let _ = timeout(WRITE_TIMEOUT, sock.write_all(&buf)).await;
            let _ = sock.shutdown().await;
        }
        self.state.connected.store(false, Ordering::Relaxed);
    }
}
