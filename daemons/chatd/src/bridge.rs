//! Scale-out through Redis pub/sub: every node publishes the events its rooms
//! originate on one Redis channel and applies the other nodes' events to its
//! own copy of each room. Viewer counts travel the same way (each node's
//! count per room, every second), so every node shows the sum.
//!
//! Redis holds no state here: a node that loses Redis keeps serving its own
//! clients and reconnects with back-off.

use crate::Ctx;
use crate::metrics::Metrics;
use crate::room::Event;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

#[derive(Serialize)]
struct Out<'a> {
    node: u32,
    channel: &'a str,
    event: &'a Event,
}

#[derive(Deserialize)]
struct In {
    node: u32,
    channel: String,
    event: Event,
}

/// The JSON envelope for one event.
pub fn envelope(node: u32, channel: &str, event: &Event) -> String {
    serde_json::to_string(&Out {
        node,
        channel,
        event,
    })
    .unwrap_or_default()
}

/// Starts the publisher and the subscriber.
pub fn start(
    ctx: Arc<Ctx>,
    rx: mpsc::Receiver<String>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let client = redis::Client::open(ctx.cfg.chat.redis_url.as_str())
        .map_err(|e| anyhow::anyhow!("config key `chat.redis_url`: {e}"))?;
    tokio::spawn(publisher(
        client.clone(),
        ctx.cfg.chat.redis_channel.clone(),
        rx,
        ctx.metrics.clone(),
    ));
    tokio::spawn(subscriber(client, ctx, stop));
    Ok(())
}

async fn publisher(
    client: redis::Client,
    channel: String,
    mut rx: mpsc::Receiver<String>,
    metrics: Arc<Metrics>,
) {
    let mut delay = Duration::from_millis(100);
    'connect: loop {
        let mut conn = match client.get_multiplexed_async_connection().await {
            Ok(c) => {
                delay = Duration::from_millis(100);
                c
            }
            Err(e) => {
                Metrics::inc(&metrics.redis_errors);
                tracing::warn!(cause = %e, "redis: cannot connect (publisher); retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        while let Some(first) = rx.recv().await {
            // What else is waiting goes in the same round trip.
            let mut pipe = redis::pipe();
            let mut n = 1;
            pipe.publish(&channel, first).ignore();
            while n < 256 {
                match rx.try_recv() {
                    Ok(m) => {
                        pipe.publish(&channel, m).ignore();
                        n += 1;
                    }
                    Err(_) => break,
                }
            }
            match pipe.query_async::<()>(&mut conn).await {
                Ok(()) => Metrics::add(&metrics.redis_published, n),
                Err(e) => {
                    Metrics::add(&metrics.redis_errors, n);
                    tracing::warn!(cause = %e, lost = n, "redis: publish failed; reconnecting");
                    continue 'connect;
                }
            }
        }
        return;
    }
}

async fn subscriber(client: redis::Client, ctx: Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    let mut delay = Duration::from_millis(100);
    loop {
        let mut ps = match client.get_async_pubsub().await {
            Ok(ps) => ps,
            Err(e) => {
                Metrics::inc(&ctx.metrics.redis_errors);
                tracing::warn!(cause = %e, "redis: cannot connect (subscriber); retrying");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stage_core::telemetry::stopped(&mut stop) => return,
                }
                delay = (delay * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        let channel = ctx.cfg.chat.redis_channel.as_str();
        if let Err(e) = ps.subscribe(channel).await {
            Metrics::inc(&ctx.metrics.redis_errors);
            tracing::warn!(cause = %e, "redis: subscribe failed; retrying");
            tokio::time::sleep(delay).await;
            continue;
        }
        delay = Duration::from_millis(100);
        tracing::info!(channel, "redis: subscribed");
        let mut msgs = ps.on_message();
        loop {
            let m = tokio::select! {
                m = msgs.next() => m,
                _ = stage_core::telemetry::stopped(&mut stop) => return,
            };
            let Some(m) = m else { break };
            let payload: Vec<u8> = match m.get_payload() {
                Ok(p) => p,
                Err(_) => continue,
            };
            let env: In = match serde_json::from_slice(&payload) {
                Ok(e) => e,
                Err(e) => {
                    Metrics::inc(&ctx.metrics.redis_errors);
                    tracing::warn!(cause = %e, "redis: unreadable message ignored");
                    continue;
                }
            };
            if env.node == ctx.node {
                continue;
            }
            Metrics::inc(&ctx.metrics.redis_received);
            crate::deliver(&ctx, &env.channel, env.event);
        }
        Metrics::inc(&ctx.metrics.redis_errors);
        tracing::warn!("redis: subscription lost; reconnecting");
    }
}
