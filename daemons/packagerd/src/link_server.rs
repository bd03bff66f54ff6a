//! The media link listener: ingestd connects here, one connection per stream
//! (framing in `stage_media::link`).

use crate::registry::{Input, Registry};
use bytes::BytesMut;
use stage_media::link::{self, LinkMessage};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Accepts link connections until `stop`.
pub async fn run(listener: TcpListener, registry: Arc<Registry>, stop: watch::Receiver<bool>) {
    let mut stopped = stop.clone();
    loop {
        tokio::select! {
            res = listener.accept() => match res {
                Ok((sock, peer)) => {
                    let registry = registry.clone();
                    tokio::spawn(async move {
                        if let Err(e) = serve(sock, registry).await {
                            tracing::warn!(%peer, cause = %e, "media link connection closed");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(cause = %e, "media link accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = stage_core::telemetry::stopped(&mut stopped) => return,
        }
    }
}

async fn read_message(
    sock: &mut TcpStream,
    buf: &mut BytesMut,
) -> anyhow::Result<Option<LinkMessage>> {
    loop {
        if let Some(m) = link::decode(buf)? {
            return Ok(Some(m));
        }
        if sock.read_buf(buf).await? == 0 {
            if buf.is_empty() {
                return Ok(None);
            }
            anyhow::bail!("link closed mid-frame");
        }
    }
}

async fn serve(mut sock: TcpStream, registry: Arc<Registry>) -> anyhow::Result<()> {
    let mut buf = BytesMut::with_capacity(256 * 1024);
    let first =
        tokio::time::timeout(Duration::from_secs(5), read_message(&mut sock, &mut buf)).await;
    let info = match first {
        Ok(Ok(Some(LinkMessage::Start(info)))) => info,
        Ok(Ok(Some(_))) => anyhow::bail!("link did not open with Start"),
        Ok(Ok(None)) => return Ok(()),
        Ok(Err(e)) => return Err(e),
        Err(_) => anyhow::bail!("no Start within 5s"),
    };
    if info.version != link::VERSION {
        anyhow::bail!(
            "link version {} (this packagerd speaks {})",
            info.version,
            link::VERSION
        );
    }
    let handle = registry.attach(info.clone());
    // The stream task learns of a resume (ingestd replays its GOP next).
    if handle
        .tx
        .send(Input::Media(LinkMessage::Start(info)))
        .await
        .is_err()
    {
        anyhow::bail!("stream {} already finished", handle.info.stream_id);
    }
    loop {
        match read_message(&mut sock, &mut buf).await {
            Ok(Some(msg)) => {
                let end = matches!(msg, LinkMessage::End(_));
                if handle.tx.send(Input::Media(msg)).await.is_err() {
                    anyhow::bail!("stream {} already finished", handle.info.stream_id);
                }
                if end {
                    return Ok(());
                }
            }
            Ok(None) => {
                let _ = handle.tx.send(Input::LinkLost).await;
                return Ok(());
            }
            Err(e) => {
                let _ = handle.tx.send(Input::LinkLost).await;
                return Err(e);
            }
        }
    }
}
