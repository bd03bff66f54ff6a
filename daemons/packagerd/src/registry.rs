//! Live streams in this packagerd by channel: attaching a stream starts its
//! task (`stream.rs`); HTTP handlers read the snapshots it publishes.

use crate::abr::Rungs;
use crate::stream::run_stream;
use crate::thumbnails::Thumbnails;
use bytes::Bytes;
use stage_core::config::Ladder;
use stage_media::link::StreamInfo;
use stage_media::llhls::Segmenter;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use tokio::sync::{mpsc, watch};

pub use crate::snapshot::{File, Snapshot, TranscodeStatus};
pub use crate::stream::Input;

/// A stream's handle in the registry.
pub struct StreamHandle {
    pub info: StreamInfo,
    pub tx: mpsc::Sender<Input>,
    pub snapshot: watch::Receiver<Arc<Snapshot>>,
    /// The latest thumbnail (JPEG), every `packagerd.thumbnail_interval`.
    pub thumbnail: Arc<std::sync::Mutex<Option<Bytes>>>,
    /// The same snapshots, published just before `snapshot`: requests for
    /// the hinted part wait here, so when a part completes its waiters are
    /// woken (and answered) ahead of the blocked playlist reloads. Media
    /// first: a viewer needs the part to play, the playlist only to ask
    /// for the next one.
    pub media: watch::Receiver<Arc<Snapshot>>,
}

/// Packaging settings the stream tasks need.
#[derive(Clone)]
pub struct Settings {
    pub target_ms: i64,
    pub part_target_ms: i64,
    pub window: usize,
    pub ladders: BTreeMap<String, Ladder>,
    pub thumbnail_interval_ms: i64,
    /// The DVR window (ms of media live playlists list from the recording;
    /// 0: none). Only with recording on.
    pub dvr_ms: i64,
    /// Where live streams are recorded (None: recording off).
    pub recorder: Option<Arc<crate::recorder::Recorder>>,
}

/// Channel name → its current stream.
pub struct Registry {
    streams: RwLock<HashMap<String, Arc<StreamHandle>>>,
    settings: Settings,
}

impl Registry {
    /// An empty registry.
    pub fn new(settings: Settings) -> Arc<Registry> {
        Arc::new(Registry {
            streams: RwLock::new(HashMap::new()),
            settings,
        })
    }

    /// The recorder, when recording is on.
    pub fn recorder(&self) -> Option<Arc<crate::recorder::Recorder>> {
        self.settings.recorder.clone()
    }

    /// The current stream of a channel (live or just ended).
    pub fn get(&self, channel: &str) -> Option<Arc<StreamHandle>> {
        self.streams.read().ok()?.get(channel).cloned()
    }

    /// All streams.
    pub fn all(&self) -> Vec<Arc<StreamHandle>> {
        self.streams
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The stream a link connection announced: the existing one when this
    /// resumes it, else a new one (replacing an older stream of the channel).
    pub fn attach(self: &Arc<Self>, info: StreamInfo) -> Arc<StreamHandle> {
        let mut map = match self.streams.write() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        if let Some(h) = map.get(&info.channel)
            && h.info.stream_id == info.stream_id
            && !h.snapshot.borrow().ended
        {
            return h.clone();
        }
        // A stream that resumes here after packagerd restarted starts its
        // numbering past anything the old process could have served.
        let first_seq = if info.resumed {
            ((stage_core::time::now_ms() - info.started_at_ms).max(0) / 100) as u64 + 1
        } else {
            0
        };
        // The channel's switch: a stream it turns off has no recording (and
        // so no DVR window).
        let settings = {
            let mut s = self.settings.clone();
            if !info.record {
                s.recorder = None;
            }
            s
        };
        let new_segmenter = {
            let s = settings.clone();
            let id = info.stream_id;
            move || {
                let mut seg =
                    Segmenter::new(id, s.target_ms, s.part_target_ms, s.window, first_seq);
                if s.recorder.is_some() {
                    seg.set_dvr(s.dvr_ms);
                }
                seg
            }
        };
        let seg = new_segmenter();
        let ladder_name = if info.ladder.is_empty() {
            "default"
        } else {
            info.ladder.as_str()
        };
        let ladder = match self.settings.ladders.get(ladder_name) {
            Some(l) => Some((ladder_name.to_string(), l.clone())),
            None => {
                tracing::warn!(channel = %info.channel, ladder = ladder_name, "no such ladder in the config; serving the source only");
                None
            }
        }
        .filter(|(_, l)| !l.rungs.is_empty());
        let (tx, rx) = mpsc::channel(512);
        let first = Arc::new(Snapshot {
            stream_id: info.stream_id,
            channel: info.channel.clone(),
            title: info.title.clone(),
            started_at_ms: info.started_at_ms,
            ..Default::default()
        });
        let (snap_tx, snap_rx) = watch::channel(first.clone());
        let (media_tx, media_rx) = watch::channel(first);
        let thumbnail = Arc::new(std::sync::Mutex::new(None));
        let handle = Arc::new(StreamHandle {
            info: info.clone(),
            tx,
            snapshot: snap_rx,
            thumbnail: thumbnail.clone(),
            media: media_rx,
        });
        map.insert(info.channel.clone(), handle.clone());
        tracing::info!(channel = %info.channel, stream = info.stream_id, resumed = info.resumed, first_seq, "stream attached");
        let rungs = Rungs::new(
            ladder,
            Box::new(new_segmenter),
            (self.settings.target_ms, self.settings.part_target_ms),
        );
        let thumbs = Thumbnails::new(
            self.settings.thumbnail_interval_ms,
            thumbnail,
            settings.recorder.clone().map(|r| (r, info.stream_id)),
        );
        tokio::spawn(run_stream(
            self.clone(),
            settings.recorder.clone(),
            info,
            seg,
            (rungs, thumbs),
            rx,
            (media_tx, snap_tx),
        ));
        handle
    }

    pub(crate) fn remove_if(&self, channel: &str, stream_id: i64) {
        if let Ok(mut m) = self.streams.write()
            && m.get(channel)
                .is_some_and(|h| h.info.stream_id == stream_id)
        {
            m.remove(channel);
        }
    }
}
