//! The stream journal: the one task that writes what the hub decides into
//! the database (streams started and ended, their history), in the order
//! decided. The hub hands it writes without waiting, so a slow database
//! (a busy SQLite file, a PostgreSQL failover) delays the rows, never the
//! hub's answers to publishers, kicks or `/status`.

use stage_core::Db;
use stage_core::db::{Channel, DbError, Stream};
use tokio::sync::{mpsc, oneshot};

enum Write {
    Start {
        channel: Channel,
        reply: oneshot::Sender<Result<Stream, DbError>>,
    },
    Event {
        stream_id: i64,
        kind: &'static str,
        data: serde_json::Value,
    },
    End {
        stream_id: i64,
    },
    Flush {
        reply: oneshot::Sender<()>,
    },
}

/// Cheap, cloneable handle to the journal task.
#[derive(Clone)]
pub struct Journal {
    tx: mpsc::UnboundedSender<Write>,
}

impl Journal {
    /// Starts the task; it runs until every handle is dropped.
    pub fn spawn(db: Db) -> Journal {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(db, rx));
        Journal { tx }
    }

    /// Opens a live stream for `channel` after every write handed in
    /// before; the answer comes on the receiver (`Conflict` if one is live).
    pub fn start(&self, channel: Channel) -> oneshot::Receiver<Result<Stream, DbError>> {
        let (reply, rx) = oneshot::channel();
        // A send fails only once the task is gone; the receiver then says so.
        let _ = self.tx.send(Write::Start { channel, reply });
        rx
    }

    /// Appends an event to a stream's history.
    pub fn event(&self, stream_id: i64, kind: &'static str, data: serde_json::Value) {
        let _ = self.tx.send(Write::Event {
            stream_id,
            kind,
            data,
        });
    }

    /// Marks a stream ended.
    pub fn end(&self, stream_id: i64) {
        let _ = self.tx.send(Write::End { stream_id });
    }

    /// Waits until everything handed in so far is written.
    pub async fn flush(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Write::Flush { reply }).is_ok() {
            let _ = rx.await;
        }
    }
}

async fn run(db: Db, mut rx: mpsc::UnboundedReceiver<Write>) {
    while let Some(w) = rx.recv().await {
        match w {
            Write::Start { channel, reply } => {
                let _ = reply.send(db.start_stream(&channel).await);
            }
            Write::Event {
                stream_id,
                kind,
                data,
            } => {
                if let Err(e) = db.add_event(stream_id, kind, data).await {
                    tracing::warn!(stream = stream_id, kind, cause = %e, "could not record a stream event");
                }
            }
            Write::End { stream_id } => {
                if let Err(e) = db.end_stream(stream_id).await {
                    tracing::error!(stream = stream_id, cause = %e, "could not mark stream ended");
                }
            }
            Write::Flush { reply } => {
                let _ = reply.send(());
            }
        }
    }
}
