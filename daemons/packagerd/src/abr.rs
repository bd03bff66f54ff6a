//! A stream's ABR rungs: one transcoding thread per stream (the ladder in
//! `transcode.rs`), fed without ever holding up the source, and one
//! segmenter per rung fed from what it makes.

use crate::snapshot::{Completed, TranscodeStatus};
use crate::transcode::Transcoder;
use stage_core::config::Ladder;
use stage_media::link::LinkMessage;
use stage_media::llhls::Segmenter;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How far (ms) transcoding may fall behind real time before the lowest
/// rung is dropped.
const MAX_TRANSCODE_LAG_MS: i64 = 1_500;
/// Media queued for the transcoder before input is dropped (and decoding
/// restarts at the next keyframe).
const TRANSCODE_QUEUE: usize = 1024;

pub(crate) type NewSegmenter = Box<dyn Fn() -> Segmenter + Send>;

/// A stream's ABR rungs: the transcoder thread's channels and one
/// segmenter per rung, fed from its output.
pub(crate) struct Rungs {
    pub(crate) names: Vec<String>,
    pub(crate) segs: Vec<Option<Segmenter>>,
    pub(crate) done: Vec<Completed>,
    new_segmenter: NewSegmenter,
    /// Media for the transcoder, with when packagerd received it (Unix ms).
    input: Option<mpsc::Sender<(LinkMessage, i64)>>,
    pub(crate) output: Option<mpsc::Receiver<(usize, LinkMessage)>>,
    pub(crate) status: Arc<std::sync::Mutex<TranscodeStatus>>,
    resync: Arc<std::sync::atomic::AtomicBool>,
}

impl Rungs {
    /// `timing`: the segmenters' target and part durations, ms.
    pub(crate) fn new(
        ladder: Option<(String, Ladder)>,
        new_segmenter: NewSegmenter,
        timing: (i64, i64),
    ) -> Rungs {
        let status = Arc::new(std::sync::Mutex::new(TranscodeStatus::default()));
        let resync = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut names = Vec::new();
        let (mut input, mut output) = (None, None);
        if let Some((name, ladder)) = ladder {
            names = ladder.rungs.iter().map(|r| r.name.clone()).collect();
            if let Ok(mut s) = status.lock() {
                s.ladder = name;
            }
            let (in_tx, in_rx) = mpsc::channel(TRANSCODE_QUEUE);
            let (out_tx, out_rx) = mpsc::channel(4096);
            let (st, rs) = (status.clone(), resync.clone());
            match std::thread::Builder::new()
                .name("transcode".into())
                .spawn(move || transcode_thread(ladder, timing, in_rx, out_tx, st, rs))
            {
                Ok(_) => (input, output) = (Some(in_tx), Some(out_rx)),
                Err(e) => {
                    tracing::warn!(cause = %e, "cannot start a transcoding thread; serving the source only");
                }
            }
        }
        Rungs {
            segs: names.iter().map(|_| None).collect(),
            done: names.iter().map(|_| Completed::default()).collect(),
            names,
            new_segmenter,
            input,
            output,
            status,
            resync,
        }
    }

    /// Hands a source message to the transcoder without ever waiting: the
    /// source is never held up by its renditions.
    pub(crate) fn feed(&mut self, msg: &LinkMessage) {
        let Some(tx) = &self.input else { return };
        match tx.try_send((msg.clone(), stage_core::time::now_ms())) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.resync
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => self.input = None,
        }
    }

    pub(crate) fn push(&mut self, index: usize, msg: LinkMessage) -> bool {
        let Some(slot) = self.segs.get_mut(index) else {
            return false;
        };
        let seg = slot.get_or_insert_with(&self.new_segmenter);
        match seg.push(msg) {
            Ok(c) => c.any(),
            Err(e) => {
                tracing::warn!(rung = %self.names[index], cause = %e, "rendition stopped");
                seg.finish();
                true
            }
        }
    }

    /// After the source ended: the rungs' last frames, then their end.
    pub(crate) async fn finish(&mut self) {
        self.input = None;
        if let Some(mut rx) = self.output.take() {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while let Ok(Some((i, m))) = tokio::time::timeout_at(deadline, rx.recv()).await {
                self.push(i, m);
            }
        }
        for s in self.segs.iter_mut().flatten() {
            s.finish();
        }
    }
}

fn transcode_thread(
    ladder: Ladder,
    (target_ms, part_ms): (i64, i64),
    mut input: mpsc::Receiver<(LinkMessage, i64)>,
    output: mpsc::Sender<(usize, LinkMessage)>,
    status: Arc<std::sync::Mutex<TranscodeStatus>>,
    resync: Arc<std::sync::atomic::AtomicBool>,
) {
    let names: Vec<String> = ladder.rungs.iter().map(|r| r.name.clone()).collect();
    let every_ms = ladder.switch_interval.0.as_millis() as f64;
    let mut t = Transcoder::new(ladder.rungs, &ladder.preset).with_switch_points(
        stage_media::llhls::SwitchPoints::new(target_ms, part_ms as f64, every_ms),
    );
    let mut last_drop: Option<std::time::Instant> = None;
    // Transcode speed: media time in over time spent in `push`.
    let mut busy = Duration::ZERO;
    let mut media_from: Option<i64> = None;
    let report = |t: &Transcoder, f: &dyn Fn(&mut TranscodeStatus)| {
        if let Ok(mut s) = status.lock() {
            s.active = t
                .active()
                .into_iter()
                .map(|(i, e)| (names[i].clone(), e))
                .collect();
            f(&mut s);
        }
    };
    while let Some((msg, received_ms)) = input.blocking_recv() {
        if resync.swap(false, std::sync::atomic::Ordering::Relaxed) {
            tracing::warn!(
                "transcoder input queue full; frames dropped, resuming at the next keyframe"
            );
            t.resync();
        }
        if matches!(msg, LinkMessage::Video(_)) {
            // How long the frame waited for the transcoder here. Not its
            // age since ingest: a resumed stream (packagerd restarted)
            // starts with ingestd's cached GOP, seconds old on arrival.
            let lag = stage_core::time::now_ms() - received_ms;
            let settled = last_drop.is_none_or(|d| d.elapsed() > Duration::from_secs(3));
            if lag > MAX_TRANSCODE_LAG_MS
                && settled
                && let Some(i) = t.drop_lowest()
            {
                tracing::warn!(rung = %names[i], lag_ms = lag, "transcoding behind real time; rung dropped");
                last_drop = Some(std::time::Instant::now());
                report(&t, &|s| s.dropped.push(names[i].clone()));
            }
        }
        let configured = matches!(msg, LinkMessage::VideoConfig(_));
        let started = std::time::Instant::now();
        let pushed = t.push(&msg);
        if let LinkMessage::Video(f) = &msg {
            busy += started.elapsed();
            let lag = stage_core::time::now_ms() - received_ms;
            let from = *media_from.get_or_insert(f.dts_ms);
            let media = f.dts_ms - from;
            if media >= 2000 {
                let speed = media as f64 / 1000.0 / busy.as_secs_f64().max(1e-6);
                report(&t, &|s| {
                    s.speed = Some((speed * 100.0).round() / 100.0);
                    s.lag_ms = lag;
                });
                busy = Duration::ZERO;
                media_from = Some(f.dts_ms);
            } else if media < 0 {
                media_from = Some(f.dts_ms);
            }
        }
        match pushed {
            Ok(out) => {
                for o in out {
                    if output.blocking_send(o).is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                tracing::warn!(cause = %e, "transcoding stopped; serving the source only");
                report(&t, &|s| s.error = Some(e.to_string()));
                return;
            }
        }
        if configured {
            report(&t, &|_| {});
            for (i, enc) in t.active() {
                tracing::info!(rung = %names[i], encoder = %enc, "rendition started");
            }
        }
    }
}
