//! chatd's counters, rendered as Prometheus text on /metrics.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    pub connections: AtomicU64,
    pub messages: AtomicU64,
    pub deliveries: AtomicU64,
    pub refused: AtomicU64,
    pub slow_consumer_drops: AtomicU64,
    pub persisted: AtomicU64,
    pub persist_dropped: AtomicU64,
    pub reactions: AtomicU64,
    pub redis_published: AtomicU64,
    pub redis_received: AtomicU64,
    pub redis_errors: AtomicU64,
}

impl Metrics {
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        for (name, kind, v) in [
            ("chat_connections", "gauge", g(&self.connections)),
            ("chat_messages_total", "counter", g(&self.messages)),
            ("chat_deliveries_total", "counter", g(&self.deliveries)),
            ("chat_refused_total", "counter", g(&self.refused)),
            (
                "chat_slow_consumer_drops_total",
                "counter",
                g(&self.slow_consumer_drops),
            ),
            ("chat_persisted_total", "counter", g(&self.persisted)),
            (
                "chat_persist_dropped_total",
                "counter",
                g(&self.persist_dropped),
            ),
            ("chat_reactions_total", "counter", g(&self.reactions)),
            (
                "chat_redis_published_total",
                "counter",
                g(&self.redis_published),
            ),
            (
                "chat_redis_received_total",
                "counter",
                g(&self.redis_received),
            ),
            ("chat_redis_errors_total", "counter", g(&self.redis_errors)),
        ] {
            stage_core::http::metric_family(&mut out, name, kind, &[(None, v)]);
        }
        out
    }
}
