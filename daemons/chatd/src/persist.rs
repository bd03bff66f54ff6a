//! Batched persistence: rooms hand chat writes to one task that stores them
//! in transactions of up to 500 (or every 100 ms), so a slow database never
//! slows fan-out. The queue is bounded; when it is full a write is dropped
//! and counted (`chat_persist_dropped_total`), never waited for.

use crate::metrics::Metrics;
use stage_core::Db;
use stage_core::chat::ChatWrite;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const QUEUE: usize = 100_000;
const BATCH: usize = 500;

/// Where rooms send writes.
#[derive(Clone)]
pub struct Persist {
    tx: mpsc::Sender<ChatWrite>,
    metrics: Arc<Metrics>,
}

impl Persist {
    /// Starts the writer; at `stop` it writes what is queued and ends.
    pub fn start(
        db: Db,
        metrics: Arc<Metrics>,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> (Persist, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(writer(db, rx, metrics.clone(), stop));
        (Persist { tx, metrics }, task)
    }

    pub fn write(&self, w: ChatWrite) {
        if self.tx.try_send(w).is_err() {
            Metrics::inc(&self.metrics.persist_dropped);
        }
    }
}

async fn writer(
    db: Db,
    mut rx: mpsc::Receiver<ChatWrite>,
    metrics: Arc<Metrics>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut stopping = false;
    loop {
        if stopping {
            // Whatever is queued, then done.
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(w) => batch.push(w),
                    Err(_) => break,
                }
            }
            if batch.is_empty() {
                return;
            }
        } else {
            tokio::select! {
                w = rx.recv() => match w {
                    Some(w) => batch.push(w),
                    None => return,
                },
                _ = stage_core::telemetry::stopped(&mut stop) => {
                    stopping = true;
                    continue;
                }
            }
            let deadline = tokio::time::Instant::now() + Duration::from_millis(100);
            while batch.len() < BATCH {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(w)) => batch.push(w),
                    Ok(None) | Err(_) => break,
                }
            }
        }
        let mut delay = Duration::from_millis(100);
        for attempt in 1..=5 {
            match db.chat_write(&batch).await {
                Ok(()) => {
                    Metrics::add(&metrics.persisted, batch.len() as u64);
                    break;
                }
                Err(e) if attempt < 5 => {
                    tracing::warn!(cause = %e, attempt, "storing chat failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => {
                    tracing::error!(cause = %e, writes = batch.len(), "storing chat failed; writes lost");
                    Metrics::add(&metrics.persist_dropped, batch.len() as u64);
                }
            }
        }
        batch.clear();
    }
}
