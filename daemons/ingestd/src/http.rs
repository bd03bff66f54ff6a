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
        .route(stage_core::api::INGEST_KICK.pattern(), post(kick))
        .with_state(hub.clone());
    stage_core::http::admin_router(token, api, move || {
        let hub = hub.clone();
        async move { metrics(&hub).await }
    })
}

async fn status(State(hub): State<HubHandle>) -> Json<stage_core::api::status::IngestStatus> {
    Json(stage_core::api::status::IngestStatus {
        daemon: "ingestd".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        streams: hub.status().await,
        events: hub.events().await,
    })
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
            Json(serde_json::json!({
                "kicked": false, "code": "not_live", "message": "channel is not live",
            })),
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
    fn per<V>(
        streams: &[crate::hub::LiveStatus],
        f: fn(&crate::hub::LiveStatus) -> V,
    ) -> Vec<(Option<&str>, V)> {
        streams
            .iter()
            .map(|s| (Some(s.channel.as_str()), f(s)))
            .collect()
    }
    metric_family(
        &mut out,
        "stage_ingest_bytes_total",
        "counter",
        &per(&streams, |s| s.ingest_bytes),
    );
    metric_family(
        &mut out,
        "stage_ingest_bitrate_bps",
        "gauge",
        &per(&streams, |s| s.reading.bitrate_bps),
    );
    metric_family(
        &mut out,
        "stage_ingest_fps",
        "gauge",
        &per(&streams, |s| s.reading.fps),
    );
    metric_family(
        &mut out,
        "stage_ingest_keyframe_interval_ms",
        "gauge",
        &per(&streams, |s| s.reading.keyframe_interval_ms.max(0) as u64),
    );
    metric_family(
        &mut out,
        "stage_ingest_av_warnings_total",
        "counter",
        &per(&streams, |s| s.reading.av_warnings),
    );
    metric_family(
        &mut out,
        "stage_ingest_frames_dropped_total",
        "counter",
        &per(&streams, |s| s.frames_dropped),
    );
    metric_family(
        &mut out,
        "stage_ingest_publisher_reconnects_total",
        "counter",
        &per(&streams, |s| s.publisher_reconnects),
    );
    metric_family(
        &mut out,
        "stage_ingest_uptime_seconds",
        "gauge",
        &per(&streams, |s| s.uptime_s),
    );
    metric_family(
        &mut out,
        "stage_ingest_backlog_bytes",
        "gauge",
        &per(&streams, |s| s.backlog_bytes),
    );
    out
}
