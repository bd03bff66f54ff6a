//! packagerd's admin listener: /status and /metrics.

use crate::registry::Registry;
use crate::viewers::Viewers;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use stage_core::api::status;
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

fn streams(registry: &Registry, viewers: &Viewers) -> Vec<status::PackagerStream> {
    let size = |r: Option<(u32, u32)>| r.map(|(w, h)| format!("{w}x{h}"));
    let mut v: Vec<status::PackagerStream> = registry
        .all()
        .iter()
        .map(|h| {
            let s = h.snapshot.borrow().clone();
            status::PackagerStream {
                channel: s.channel.clone(),
                stream_id: s.stream_id,
                state: if s.ended { "ended" } else { "live" }.into(),
                segments: s.segment_count as u64,
                media_sequence: s.open_msn,
                part_target: s.part_target,
                long_parts: s.long_parts,
                keyframeless_cuts: s.forced_cuts,
                audio_frames_dropped: s.audio_dropped,
                viewers: viewers.count(s.stream_id),
                peak_viewers: viewers.peak(s.stream_id),
                latency_ms: s.latency_ms,
                frame_rate: s.frame_rate,
                started_at_ms: s.started_at_ms,
                bandwidth: s.bandwidth,
                codecs: s.codecs.clone(),
                resolution: size(s.resolution),
                renditions: s
                    .rungs
                    .iter()
                    .map(|(name, r)| status::RenditionStatus {
                        name: name.clone(),
                        resolution: size(r.resolution),
                        bandwidth: r.bandwidth,
                        codecs: r.codecs.clone(),
                        media_sequence: r.open_msn,
                    })
                    .collect(),
                transcode: s.transcode.as_ref().map(|t| status::TranscodeStatus {
                    ladder: t.ladder.clone(),
                    active: t
                        .active
                        .iter()
                        .map(|(rung, encoder)| status::ActiveRung {
                            rung: rung.clone(),
                            encoder: encoder.clone(),
                        })
                        .collect(),
                    dropped: t.dropped.clone(),
                    error: t.error.clone(),
                    speed: t.speed,
                    lag_ms: t.lag_ms,
                }),
            }
        })
        .collect();
    v.sort_by(|a, b| a.channel.cmp(&b.channel));
    v
}

async fn status(
    State((registry, viewers)): State<(Arc<Registry>, Arc<Viewers>)>,
) -> Json<status::PackagerStatus> {
    Json(status::PackagerStatus {
        daemon: "packagerd".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        streams: streams(&registry, &viewers),
        recording: registry.recorder().map(|r| r.status()),
    })
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
