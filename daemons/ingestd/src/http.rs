//! ingestd's admin listener: /status, /metrics, and the kick API.

use crate::hub::HubHandle;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

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
    use stage_core::http::metric_family;
    let streams = hub.status().await;
    let mut out = String::new();
    metric_family(
        &mut out,
        "stage_ingest_live_streams",
        "gauge",
        &[(None, streams.len() as u64)],
    );
    let per = |f: fn(&crate::hub::LiveStatus) -> u64| -> Vec<(Option<&str>, u64)> {
        streams
            .iter()
            .map(|s| (Some(s.channel.as_str()), f(s)))
            .collect()
    };
    metric_family(
        &mut out,
        "stage_ingest_bytes_total",
        "counter",
        &per(|s| s.ingest_bytes),
    );
    metric_family(
        &mut out,
        "stage_ingest_backlog_bytes",
        "gauge",
        &per(|s| s.backlog_bytes),
    );
    out
}
