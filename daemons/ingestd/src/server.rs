//! Accept loop: one task per RTMP connection.

use crate::Shared;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Accepts RTMP connections until `stop` turns true.
pub async fn run(listener: TcpListener, shared: Arc<Shared>, stop: watch::Receiver<bool>) {
    let mut stopped = stop.clone();
    static NEXT_CONN: AtomicU64 = AtomicU64::new(1);
    loop {
        tokio::select! {
            res = listener.accept() => match res {
                Ok((sock, peer)) => {
                    let id = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
                    let shared = shared.clone();
                    let stop = stop.clone();
                    tokio::spawn(async move {
                        crate::connection::handle(sock, peer, id, shared, stop).await;
                    });
                }
                Err(e) => {
                    tracing::warn!(cause = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = stage_core::telemetry::stopped(&mut stopped) => return,
        }
    }
}
