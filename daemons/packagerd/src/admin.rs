//! packagerd's admin listener: /status and /metrics.

use crate::registry::Registry;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;

/// The admin router.
pub fn router(token: String, registry: Arc<Registry>) -> Router {
    let api = Router::new()
        .route("/status", get(status))
        .with_state(registry.clone());
    stage_core::http::admin_router(token, api, move || {
        let r = registry.clone();
        async move { metrics(&r) }
    })
}

fn streams(registry: &Registry) -> Vec<serde_json::Value> {
    let mut v: Vec<serde_json::Value> = registry
        .all()
        .iter()
        .map(|h| {
            let s = h.snapshot.borrow().clone();
            serde_json::json!({
                "channel": s.channel,
                "stream_id": s.stream_id,
                "state": if s.ended { "ended" } else { "live" },
                "segments": s.segment_count,
                "bandwidth": s.bandwidth,
                "codecs": s.codecs,
                "resolution": s.resolution.map(|(w, h)| format!("{w}x{h}")),
            })
        })
        .collect();
    v.sort_by(|a, b| a["channel"].as_str().cmp(&b["channel"].as_str()));
    v
}

async fn status(State(registry): State<Arc<Registry>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "daemon": "packagerd",
        "version": env!("CARGO_PKG_VERSION"),
        "streams": streams(&registry),
    }))
}

fn metrics(registry: &Registry) -> String {
    use stage_core::http::metric_family;
    let snaps: Vec<_> = registry
        .all()
        .iter()
        .map(|h| h.snapshot.borrow().clone())
        .collect();
    let live = snaps.iter().filter(|s| !s.ended).count() as u64;
    let mut out = String::new();
    metric_family(&mut out, "stage_packager_streams", "gauge", &[(None, live)]);
    let bw: Vec<_> = snaps
        .iter()
        .map(|s| (Some(s.channel.as_str()), s.bandwidth))
        .collect();
    metric_family(&mut out, "stage_packager_bandwidth_bps", "gauge", &bw);
    out
}
