//! packagerd's admin listener: /status and /metrics.

use crate::registry::Registry;
use crate::viewers::Viewers;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;

/// The admin router.
pub fn router(token: String, registry: Arc<Registry>, viewers: Arc<Viewers>) -> Router {
    let api = Router::new()
        .route("/status", get(status))
        .with_state((registry.clone(), viewers.clone()));
    stage_core::http::admin_router(token, api, move || {
        let r = registry.clone();
        let v = viewers.clone();
        async move { metrics(&r, &v) }
    })
}

fn streams(registry: &Registry, viewers: &Viewers) -> Vec<serde_json::Value> {
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
                "media_sequence": s.open_msn,
                "part_target": s.part_target,
                "long_parts": s.long_parts,
                "keyframeless_cuts": s.forced_cuts,
                "audio_frames_dropped": s.audio_dropped,
                "viewers": viewers.count(s.stream_id),
                "latency_ms": s.latency_ms,
                "frame_rate": s.frame_rate,
                "started_at_ms": s.started_at_ms,
                "peak_viewers": viewers.peak(s.stream_id),
                "bandwidth": s.bandwidth,
                "codecs": s.codecs,
                "resolution": s.resolution.map(|(w, h)| format!("{w}x{h}")),
                "renditions": s.rungs.iter().map(|(name, r)| serde_json::json!({
                    "name": name,
                    "resolution": r.resolution.map(|(w, h)| format!("{w}x{h}")),
                    "bandwidth": r.bandwidth,
                    "codecs": r.codecs,
                    "media_sequence": r.open_msn,
                })).collect::<Vec<_>>(),
                "transcode": s.transcode.as_ref().map(|t| serde_json::json!({
                    "ladder": t.ladder,
                    "active": t.active.iter().map(|(r, e)| serde_json::json!({"rung": r, "encoder": e})).collect::<Vec<_>>(),
                    "dropped": t.dropped,
                    "error": t.error,
                    "speed": t.speed,
                    "lag_ms": t.lag_ms,
                })),
            })
        })
        .collect();
    v.sort_by(|a, b| a["channel"].as_str().cmp(&b["channel"].as_str()));
    v
}

async fn status(
    State((registry, viewers)): State<(Arc<Registry>, Arc<Viewers>)>,
) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "daemon": "packagerd",
        "version": env!("CARGO_PKG_VERSION"),
        "streams": streams(&registry, &viewers),
        "recording": registry.recorder().map(|r| r.status()),
    }))
}

fn metrics(registry: &Registry, viewers: &Viewers) -> String {
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
    let v: Vec<_> = snaps
        .iter()
        .map(|s| (Some(s.channel.as_str()), viewers.count(s.stream_id)))
        .collect();
    metric_family(&mut out, "stage_packager_viewers", "gauge", &v);
    let lat: Vec<_> = snaps
        .iter()
        .filter_map(|s| Some((Some(s.channel.as_str()), s.latency_ms?.max(0))))
        .collect();
    metric_family(&mut out, "stage_packager_latency_ms", "gauge", &lat);
    let rungs: Vec<_> = snaps
        .iter()
        .map(|s| (Some(s.channel.as_str()), s.rungs.len() + 1))
        .collect();
    metric_family(&mut out, "stage_packager_renditions", "gauge", &rungs);
    let speed: Vec<_> = snaps
        .iter()
        .filter_map(|s| Some((Some(s.channel.as_str()), s.transcode.as_ref()?.speed?)))
        .collect();
    metric_family(&mut out, "stage_packager_transcode_speed", "gauge", &speed);
    if let Some(r) = registry.recorder() {
        let st = r.status();
        metric_family(
            &mut out,
            "stage_packager_recording_bytes_total",
            "counter",
            &[(None, st.bytes)],
        );
        metric_family(
            &mut out,
            "stage_packager_recording_dropped_segments_total",
            "counter",
            &[(None, st.dropped)],
        );
        metric_family(
            &mut out,
            "stage_packager_recording_retries_total",
            "counter",
            &[(None, st.retries)],
        );
        metric_family(
            &mut out,
            "stage_packager_recording_queued_bytes",
            "gauge",
            &[(None, st.queued_bytes)],
        );
    }
    out
}
