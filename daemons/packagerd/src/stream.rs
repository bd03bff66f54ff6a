//! One live stream's pipeline: the task that owns its segmenters (source
//! and rungs), publishes a snapshot per change and hands finished
//! segments to the recorder.

use crate::abr::Rungs;
use crate::registry::Registry;
use crate::snapshot::{Completed, Snapshot, snapshot};
use crate::thumbnails::Thumbnails;
use bytes::Bytes;
use stage_media::hls::{RenditionReport, render_multivariant};
use stage_media::link::{LinkMessage, StreamInfo};
use stage_media::llhls::Segmenter;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How long a stream whose link broke (without End) waits for ingestd to resume it.
const ORPHAN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an ended stream's final playlist stays servable.
const LINGER: Duration = Duration::from_secs(60);
/// How many source segments the multivariant playlist waits for a rung's
/// first segment. hls.js and Safari read the multivariant playlist once: a
/// viewer who loads it before the rungs have a segment would have no ladder
/// for the whole session. A rung that has none by then is left out until
/// it has.
const LADDER_GRACE_SEGMENTS: usize = 3;

/// Input to a stream task.
pub enum Input {
    Media(LinkMessage),
    /// The link connection carrying this stream broke without `End`.
    LinkLost,
}

/// What a stream has handed to the recorder: per rendition, the last
/// segment and the init segments.
#[derive(Default)]
struct Recorded {
    last: HashMap<String, u64>,
    inits: std::collections::HashSet<(String, u64)>,
}

impl Recorded {
    /// Queues the rendition's segments finished since the last call.
    fn record(
        &mut self,
        recorder: &crate::recorder::Recorder,
        stream_id: i64,
        rendition: &str,
        seg: &mut Segmenter,
    ) {
        let last = self.last.get(rendition).copied();
        let mut written = Vec::new();
        for s in seg.held() {
            if last.is_some_and(|l| s.entry.seq <= l) {
                continue;
            }
            let init = if self.inits.insert((rendition.to_string(), s.init_id)) {
                let variant: crate::recorder::VariantInfo =
                    seg.variant("").map(|v| (&v).into()).unwrap_or_default();
                seg.inits().get(&s.init_id).map(|i| (i.clone(), variant))
            } else {
                None
            };
            let ok = recorder.segment(
                stream_id,
                rendition,
                &stage_media::llhls::names::RecordedSegment {
                    seq: s.entry.seq,
                    duration: s.entry.duration,
                    init_id: s.init_id,
                    discontinuity: s.entry.discontinuity,
                },
                &s.data,
                init.as_ref().map(|(i, v)| (&i[..], v.clone())),
            );
            if ok {
                written.push(s.entry.seq);
            } else {
                // The init may not have been written either: try it again
                // with the next segment.
                self.inits.remove(&(rendition.to_string(), s.init_id));
            }
            self.last.insert(rendition.to_string(), s.entry.seq);
        }
        for seq in written {
            seg.mark_recorded(seq);
        }
    }
}

/// One live stream's task: link input in, snapshots and recordings out,
/// until the stream ends or its link is not resumed.
pub(crate) async fn run_stream(
    registry: Arc<Registry>,
    recorder: Option<Arc<crate::recorder::Recorder>>,
    info: StreamInfo,
    mut seg: Segmenter,
    (mut rungs, mut thumbs): (Rungs, Thumbnails),
    mut rx: mpsc::Receiver<Input>,
    (media, snap): (watch::Sender<Arc<Snapshot>>, watch::Sender<Arc<Snapshot>>),
) {
    let mut orphaned: Option<tokio::time::Instant> = None;
    let mut out = Publisher {
        info: info.clone(),
        recorder: recorder.clone(),
        recorded: Recorded::default(),
        done: Completed::default(),
        media,
        snap,
    };
    loop {
        let deadline =
            orphaned.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(86_400));
        let transcoding = rungs.output.is_some();
        tokio::select! {
            input = rx.recv() => match input {
                Some(Input::Media(msg)) => {
                    orphaned = None;
                    let is_end = matches!(msg, LinkMessage::End(_));
                    rungs.feed(&msg);
                    thumbs.see(&msg);
                    match seg.push(msg) {
                        Ok(c) if c.any() => out.publish(&mut seg, &mut rungs),
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(stream = info.stream_id, cause = %e, "bad media on link; ending stream");
                            seg.finish();
                            out.publish(&mut seg, &mut rungs);
                            break;
                        }
                    }
                    if is_end {
                        tracing::info!(channel = %info.channel, stream = info.stream_id, "stream ended; playlist closed");
                        break;
                    }
                }
                Some(Input::LinkLost) => {
                    orphaned = Some(tokio::time::Instant::now() + ORPHAN_TIMEOUT);
                }
                None => break,
            },
            made = async { rungs.output.as_mut().expect("transcoding").recv().await }, if transcoding => match made {
                Some((i, msg)) => {
                    if rungs.push(i, msg) {
                        out.publish(&mut seg, &mut rungs);
                    }
                }
                None => rungs.output = None,
            },
            _ = tokio::time::sleep_until(deadline), if orphaned.is_some() => {
                tracing::warn!(stream = info.stream_id, "media link not resumed; ending stream");
                seg.finish();
                out.publish(&mut seg, &mut rungs);
                break;
            }
        }
    }
    if !seg.ended() {
        seg.finish();
    }
    // The source's end is published at once; the renditions' after their
    // last frames are through the transcoder.
    out.publish(&mut seg, &mut rungs);
    if !rungs.names.is_empty() {
        rungs.finish().await;
        out.publish(&mut seg, &mut rungs);
    }
    if let Some(r) = &recorder {
        r.finish(crate::recorder::Finish {
            stream_id: info.stream_id,
            title: info.title.clone(),
            started_at_ms: info.started_at_ms,
        });
    }
    tokio::time::sleep(LINGER).await;
    registry.remove_if(&info.channel, info.stream_id);
}

/// Where a stream task publishes each change: a snapshot for HTTP (the
/// part waiters' channel first) and finished segments for the recorder.
struct Publisher {
    info: StreamInfo,
    recorder: Option<Arc<crate::recorder::Recorder>>,
    recorded: Recorded,
    done: Completed,
    media: watch::Sender<Arc<Snapshot>>,
    snap: watch::Sender<Arc<Snapshot>>,
}

impl Publisher {
    /// The source's and every rung's state as of now.
    fn publish(&mut self, seg: &mut Segmenter, rungs: &mut Rungs) {
        let now = stage_core::time::now_ms();
        // Every rung dates its segments as the source does, as of now.
        let dates = seg.dates();
        for s in rungs.segs.iter_mut().flatten() {
            s.follow_dates(&dates);
        }
        self.done.stamp(seg, now);
        if let Some(r) = &self.recorder {
            self.recorded.record(r, self.info.stream_id, "source", seg);
            for (name, s) in rungs.names.iter().zip(&mut rungs.segs) {
                if let Some(s) = s {
                    self.recorded.record(r, self.info.stream_id, name, s);
                }
            }
        }
        // Each rendition's playlist reports where the others are.
        let mut all: Vec<(String, &Segmenter)> = vec![("source".into(), seg)];
        for (name, s) in rungs.names.iter().zip(&rungs.segs) {
            if let Some(s) = s {
                all.push((name.clone(), s));
            }
        }
        let reports = |me: &str| -> Vec<RenditionReport> {
            all.iter()
                .filter(|(n, _)| n != me)
                .filter_map(|(n, s)| s.report(format!("../{n}/index.m3u8")))
                .collect()
        };
        let mut top = snapshot(&self.info, seg, &self.done, reports("source"));
        let mut variants: Vec<stage_media::hls::Variant> =
            seg.variant("source/index.m3u8").into_iter().collect();
        for i in 0..rungs.names.len() {
            let (Some(s), Some(d)) = (&rungs.segs[i], rungs.done.get_mut(i)) else {
                continue;
            };
            d.stamp(s, now);
            let name = rungs.names[i].clone();
            if let Some(v) = s.variant(&format!("{name}/index.m3u8")) {
                variants.push(v);
            }
            let r = reports(&name);
            top.rungs
                .insert(name, Arc::new(snapshot(&self.info, s, d, r)));
        }
        if top.multivariant.is_some() {
            let running = rungs.segs.iter().flatten().count();
            let waiting = running + 1 > variants.len();
            top.multivariant = if waiting && seg.held().count() < LADDER_GRACE_SEGMENTS {
                None
            } else {
                Some(render_multivariant(&variants))
            };
            top.variants = variants;
        }
        let mut renditions: Vec<(&str, &Snapshot)> = vec![("source", &top)];
        renditions.extend(top.rungs.iter().map(|(n, s)| (n.as_str(), &**s)));
        let target = top.target_duration_secs as f64;
        // The availability start lies before any date the stream can carry
        // (its first dates may precede the publish by a start-up burst).
        let ast = self.info.started_at_ms - 10_000;
        let mpd = crate::dash::manifest(&renditions, ast, now, target);
        top.mpd = mpd.as_ref().map(|m| Bytes::from(m.render()));
        top.mpd_model = mpd.map(Arc::new);
        if !rungs.names.is_empty() {
            top.transcode = rungs.status.lock().ok().map(|s| s.clone());
        }
        let s = Arc::new(top);
        // Part waiters are woken first, so they run first.
        self.media.send_replace(s.clone());
        self.snap.send_replace(s);
    }
}
