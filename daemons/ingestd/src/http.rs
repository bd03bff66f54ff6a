//! ingestd's admin listener: /status, /metrics, and the kick API.

use crate::hub::HubHandle;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use std::fmt::Write;

/// The admin router.
pub fn router(token: String, hub: HubHandle) -> Router {
    let api = Router::new()
        .route("/status", get(status))
        .route("/admin/channels/{channel}/kick", post(kick))
        .with_state(hub.clone());
    stage_core::http::admin_router(token, api, move || {
        let hub = hub.clone();
        async move { metrics(&hub).await }
    })
}

async fn status(State(hub): State<HubHandle>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "daemon": "ingestd",
        "version": env!("CARGO_PKG_VERSION"),
        "streams": hub.status().await,
    }))
}

async fn kick(
    State(hub): State<HubHandle>,
    Path(channel): Path<String>,
) -> (StatusCode, Json<serde_json::Value>) {
    if hub.kick(&channel).await {
        (StatusCode::OK, Json(serde_json::json!({"kicked": true})))
    } else {
        (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({"kicked": false, "error": "channel is not live"})),
        )
    }
}

async fn metrics(hub: &HubHandle) -> String {
    let streams = hub.status().await;
    let mut out = String::new();
    out.push_str("# TYPE stage_ingest_live_streams gauge\n");
    let _ = writeln!(out, "stage_ingest_live_streams {}", streams.len());
    out.push_str("# TYPE stage_ingest_bytes_total counter\n");
    for s in &streams {
        let _ = writeln!(
            out,
            "stage_ingest_bytes_total{{channel=\"{}\"}} {}",
            s.channel, s.ingest_bytes
        );
    }
    out.push_str("# TYPE stage_ingest_backlog_bytes gauge\n");
    for s in &streams {
        let _ = writeln!(
            out,
            "stage_ingest_backlog_bytes{{channel=\"{}\"}} {}",
            s.channel, s.backlog_bytes
        );
    }
    out
}
