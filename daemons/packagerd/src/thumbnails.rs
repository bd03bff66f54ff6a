//! A live stream's thumbnail (the channel card's picture, and one in the
//! recording every interval).

use bytes::Bytes;
use stage_media::link::LinkMessage;
use std::sync::Arc;

/// Takes a stream's thumbnail at the first keyframe every `every_ms` of
/// media, off the stream task (a blocking decode + JPEG encode).
pub(crate) struct Thumbnails {
    every_ms: i64,
    /// Each thumbnail also goes into the stream's recording.
    recorder: Option<(Arc<crate::recorder::Recorder>, i64)>,
    record: Option<Bytes>,
    last_ms: Option<i64>,
    busy: Arc<std::sync::atomic::AtomicBool>,
    latest: Arc<std::sync::Mutex<Option<Bytes>>>,
}

/// Thumbnail width in pixels (never upscaled).
const THUMBNAIL_WIDTH: u32 = 640;

impl Thumbnails {
    pub(crate) fn new(
        every_ms: i64,
        latest: Arc<std::sync::Mutex<Option<Bytes>>>,
        recorder: Option<(Arc<crate::recorder::Recorder>, i64)>,
    ) -> Thumbnails {
        Thumbnails {
            every_ms,
            recorder,
            record: None,
            last_ms: None,
            busy: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            latest,
        }
    }

    pub(crate) fn see(&mut self, msg: &LinkMessage) {
        use std::sync::atomic::Ordering;
        match msg {
            LinkMessage::VideoConfig(r) => self.record = Some(r.clone()),
            LinkMessage::Video(f) if f.keyframe => {
                let due = self
                    .last_ms
                    .is_none_or(|l| f.dts_ms - l >= self.every_ms || f.dts_ms < l);
                let Some(record) = self.record.clone().filter(|_| due) else {
                    return;
                };
                if self.busy.swap(true, Ordering::AcqRel) {
                    return;
                }
                self.last_ms = Some(f.dts_ms);
                let (frame, busy, latest) = (f.clone(), self.busy.clone(), self.latest.clone());
                let recorder = self.recorder.clone();
                tokio::task::spawn_blocking(move || {
                    match crate::transcode::thumbnail(&record, &frame, THUMBNAIL_WIDTH) {
                        Ok(jpeg) => {
                            if let Some((r, stream_id)) = &recorder {
                                r.thumbnail(*stream_id, frame.dts_ms, jpeg.clone());
                            }
                            if let Ok(mut l) = latest.lock() {
                                *l = Some(jpeg);
                            }
                        }
                        Err(e) => tracing::debug!(cause = %e, "no thumbnail from this keyframe"),
                    }
                    busy.store(false, Ordering::Release);
                });
            }
            _ => {}
        }
    }
}
