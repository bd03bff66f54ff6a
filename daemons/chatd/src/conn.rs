//! One WebSocket client: frames it sends go to its room; frames the room
//! queues for it are written out (several queued frames per flush). When the
//! room drops it (too slow, banned) or the server stops, it is closed with a
//! code saying why.

use crate::Ctx;
use crate::policy::Speaker;
use crate::protocol::{self, ClientFrame, Refusal, close};
use crate::room::{Client, RoomMsg, RoomRef};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

/// Frames (bursts) one client may have queued; bytes are bounded separately
/// by `chat.client_queue`.
const QUEUE_FRAMES: usize = 4096;

static NEXT: AtomicU64 = AtomicU64::new(1);

/// Set by the room when it drops a client: the close code, and a wake-up.
#[derive(Default)]
pub struct Kill {
    pub code: AtomicU16,
    pub notify: Notify,
}

impl Kill {
    pub fn fire(&self, code: u16) {
        self.code.store(code, Ordering::Relaxed);
        self.notify.notify_one();
    }
}

fn reason(code: u16) -> &'static str {
    match code {
        close::SLOW_CONSUMER => "too slow: messages were not read in time",
        close::BANNED => "banned",
        close::GOING_AWAY => "server shutting down",
        _ => "",
    }
}

/// Serves `socket` for `who` in room `room` until either side closes.
pub async fn serve(ctx: Arc<Ctx>, room: RoomRef, who: Speaker, socket: WebSocket) {
    let conn = NEXT.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::channel::<Utf8Bytes>(QUEUE_FRAMES);
    let queued = Arc::new(AtomicUsize::new(0));
    let kill = Arc::new(Kill::default());
    let client = Client {
        tx,
        queued: queued.clone(),
        kill: kill.clone(),
        who,
    };
    if room.tx.send(RoomMsg::Join { conn, client }).await.is_err() {
        return;
    }
    let (mut sink, mut stream) = socket.split();
    // Dead peers are found by TCP keepalive (set on the socket), so no
    // timer runs per connection.
    let writer = async {
        while let Some(f) = rx.recv().await {
            queued.fetch_sub(f.len(), Ordering::Relaxed);
            if sink.feed(Message::Text(f)).await.is_err() {
                break;
            }
            while let Ok(f) = rx.try_recv() {
                queued.fetch_sub(f.len(), Ordering::Relaxed);
                if sink.feed(Message::Text(f)).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                break;
            }
        }
    };
    let reader = async {
        while let Some(Ok(msg)) = stream.next().await {
            let text = match msg {
                Message::Text(t) => t,
                Message::Binary(_) => {
                    let e = Refusal::new("bad_frame", "send JSON text frames");
                    let _ = room
                        .tx
                        .send(RoomMsg::ToConn {
                            conn,
                            text: protocol::error(&e),
                        })
                        .await;
                    continue;
                }
                Message::Close(_) => break,
                _ => continue,
            };
            let msg = match serde_json::from_str::<ClientFrame>(text.as_str()) {
                Ok(frame) => RoomMsg::Frame { conn, frame },
                Err(e) => RoomMsg::ToConn {
                    conn,
                    text: protocol::error(&Refusal::new(
                        "bad_frame",
                        format!("not a client frame: {e}"),
                    )),
                },
            };
            if room.tx.send(msg).await.is_err() {
                break;
            }
        }
    };
    let mut stop = ctx.stop.clone();
    let code = tokio::select! {
        _ = writer => kill.code.load(Ordering::Relaxed),
        _ = reader => 0,
        _ = kill.notify.notified() => kill.code.load(Ordering::Relaxed),
        _ = stage_core::telemetry::stopped(&mut stop) => close::GOING_AWAY,
    };
    let _ = room.tx.send(RoomMsg::Leave { conn }).await;
    if code != 0 {
        // A client that reads nothing may never take this: bounded wait.
        let frame = CloseFrame {
            code,
            reason: reason(code).into(),
        };
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            sink.send(Message::Close(Some(frame))),
        )
        .await;
    }
}
