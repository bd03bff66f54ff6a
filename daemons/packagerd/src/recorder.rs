//! Recording: every rendition's init segments and media segments go to an
//! object store (`object_store`; a local directory by default) as they are
//! finished, through a queue bounded in bytes that the live path never waits
//! on. Uploads are retried with back-off until they succeed; when the queue
//! is full, new segments are left out of the recording and counted (in
//! `/status`), never the live stream delayed.
//!
//! Object keys carry everything a VOD playlist needs (sequence number,
//! duration, init, discontinuity), so a recording is rebuilt from a listing
//! alone: stores write objects whole (the local store renames a finished
//! temporary file into place; an S3 PUT is atomic), so whatever is listed
//! after a crash is a complete segment. When a stream ends, `finalize`
//! writes each rendition's VOD playlist and a multivariant playlist next to
//! the media and registers the VOD in the database.

use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use stage_core::Db;
use stage_core::db::NewVod;
use stage_media::hls::{MediaPlaylist, SegmentEntry, Variant, render_multivariant};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// What `/status` reports about recording.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RecordingStatus {
    /// Objects written and their bytes.
    pub objects: u64,
    pub bytes: u64,
    /// Segments left out because the queue was full.
    pub dropped: u64,
    /// Failed writes that were retried.
    pub retries: u64,
    /// The last write error, until a write succeeds again.
    pub error: Option<String>,
    /// Bytes waiting for the store.
    pub queued_bytes: u64,
    /// VODs finalised.
    pub vods: u64,
}

/// What finalising a recording needs to know about the stream.
#[derive(Debug, Clone)]
pub struct Finish {
    pub stream_id: i64,
    pub title: String,
    pub started_at_ms: i64,
    /// Renditions, `source` first, each with its variant entry (URI set by
    /// `finalize`).
    pub renditions: Vec<(String, Option<Variant>)>,
}

enum Job {
    Put(ObjectPath, Bytes),
    Finish(Finish),
}

/// The recorder shared by every stream of this packagerd.
pub struct Recorder {
    tx: mpsc::UnboundedSender<Job>,
    /// Jobs queued or in progress (`drain` waits for 0).
    jobs: Arc<tokio::sync::watch::Sender<u64>>,
    queued: Arc<AtomicU64>,
    limit: u64,
    status: Arc<Mutex<RecordingStatus>>,
    store: Arc<dyn ObjectStore>,
}

/// The prefix of a stream's recording.
pub fn prefix(stream_id: i64) -> String {
    format!("s{stream_id}")
}

/// Object key of a segment: `{seq:010}_{duration µs}_{init id}[_d].m4s`.
pub fn segment_name(seq: u64, duration: f64, init_id: u64, discontinuity: bool) -> String {
    let us = (duration * 1e6).round() as u64;
    let d = if discontinuity { "_d" } else { "" };
    format!("{seq:010}_{us}_{init_id}{d}.m4s")
}

/// A recorded segment, from its object name.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedSegment {
    pub seq: u64,
    pub duration: f64,
    pub init_id: u64,
    pub discontinuity: bool,
}

/// Reads a segment's object name (None for anything else).
pub fn parse_segment_name(name: &str) -> Option<RecordedSegment> {
    let stem = name.strip_suffix(".m4s")?;
    let mut it = stem.split('_');
    let seq = it.next()?.parse().ok()?;
    let us: u64 = it.next()?.parse().ok()?;
    let init_id = it.next()?.parse().ok()?;
    let discontinuity = match it.next() {
        None => false,
        Some("d") => true,
        Some(_) => return None,
    };
    if it.next().is_some() {
        return None;
    }
    Some(RecordedSegment {
        seq,
        duration: us as f64 / 1e6,
        init_id,
        discontinuity,
    })
}

/// Object key of an init segment.
pub fn init_name(init_id: u64) -> String {
    format!("init-{init_id}.mp4")
}

/// A rendition's VOD playlist from its recorded segments (any order): gaps
/// (segments the recording lost) become discontinuities.
pub fn vod_playlist(segments: &[RecordedSegment]) -> MediaPlaylist {
    let mut segs: Vec<&RecordedSegment> = segments.iter().collect();
    segs.sort_by_key(|s| s.seq);
    segs.dedup_by_key(|s| s.seq);
    let mut out = Vec::with_capacity(segs.len());
    let mut prev: Option<&RecordedSegment> = None;
    for s in segs {
        let gap = prev.is_some_and(|p| p.seq + 1 != s.seq);
        out.push(SegmentEntry {
            seq: s.seq,
            duration: s.duration,
            uri: segment_name(s.seq, s.duration, s.init_id, s.discontinuity),
            map_uri: init_name(s.init_id),
            discontinuity: prev.is_some() && (s.discontinuity || gap),
            program_date_time_ms: None,
            independent: true,
            parts: Vec::new(),
        });
        prev = Some(s);
    }
    MediaPlaylist {
        target_duration: out.iter().map(|s| s.duration).fold(1.0, f64::max),
        discontinuity_sequence: 0,
        segments: out,
        ended: true,
        low_latency: None,
    }
}

impl Recorder {
    /// A recorder writing under the local directory `dir` (created).
    pub fn local(dir: &std::path::Path, limit: u64, db: Db) -> anyhow::Result<Arc<Recorder>> {
        std::fs::create_dir_all(dir).map_err(|e| {
            anyhow::anyhow!(
                "config key `recording.dir`: cannot create {}: {e}",
                dir.display()
            )
        })?;
        let store = LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| anyhow::anyhow!("config key `recording.dir`: {}: {e}", dir.display()))?;
        Ok(Recorder::new(Arc::new(store), limit, db))
    }

    /// A recorder writing to `store`; its worker runs on the current runtime.
    pub fn new(store: Arc<dyn ObjectStore>, limit: u64, db: Db) -> Arc<Recorder> {
        let (tx, rx) = mpsc::unbounded_channel();
        let jobs = Arc::new(tokio::sync::watch::Sender::new(0u64));
        let r = Arc::new(Recorder {
            tx,
            jobs: jobs.clone(),
            queued: Arc::new(AtomicU64::new(0)),
            limit,
            status: Arc::new(Mutex::new(RecordingStatus::default())),
            store: store.clone(),
        });
        tokio::spawn(worker(
            rx,
            store,
            db,
            r.queued.clone(),
            r.status.clone(),
            jobs,
        ));
        r
    }

    /// The store recordings are in (VODs are served from it).
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// Recording state for `/status`.
    pub fn status(&self) -> RecordingStatus {
        let mut s = self.status.lock().map(|s| s.clone()).unwrap_or_default();
        s.queued_bytes = self.queued.load(Ordering::Relaxed);
        s
    }

    fn put(&self, key: String, data: Bytes) -> bool {
        let len = data.len() as u64;
        if self.queued.load(Ordering::Relaxed) + len > self.limit {
            return false;
        }
        self.queued.fetch_add(len, Ordering::Relaxed);
        self.jobs.send_modify(|n| *n += 1);
        if self.tx.send(Job::Put(ObjectPath::from(key), data)).is_err() {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            self.jobs.send_modify(|n| *n = n.saturating_sub(1));
            return false;
        }
        true
    }

    /// Queues a finished segment of `rendition` (and its init segment, the
    /// first time `init` is needed). Never waits.
    pub fn segment(
        &self,
        stream_id: i64,
        rendition: &str,
        seg: &RecordedSegment,
        data: Bytes,
        init: Option<Bytes>,
    ) {
        let dir = format!("{}/{rendition}", prefix(stream_id));
        if let Some(init) = init {
            self.put(format!("{dir}/{}", init_name(seg.init_id)), init);
        }
        let name = segment_name(seg.seq, seg.duration, seg.init_id, seg.discontinuity);
        if !self.put(format!("{dir}/{name}"), data) {
            if let Ok(mut s) = self.status.lock() {
                s.dropped += 1;
            }
            tracing::warn!(
                stream = stream_id,
                rendition,
                seq = seg.seq,
                "recording queue full; segment left out of the recording"
            );
        }
    }

    /// Queues a thumbnail of the stream taken at media time `at_ms`.
    pub fn thumbnail(&self, stream_id: i64, at_ms: i64, jpeg: Bytes) {
        let key = format!("{}/thumbs/{:012}.jpg", prefix(stream_id), at_ms.max(0));
        if !self.put(key, jpeg) {
            tracing::debug!(
                stream = stream_id,
                "recording queue full; thumbnail left out"
            );
        }
    }

    /// Finalises the stream's VOD once everything queued before is written.
    pub fn finish(&self, f: Finish) {
        self.jobs.send_modify(|n| *n += 1);
        if self.tx.send(Job::Finish(f)).is_err() {
            self.jobs.send_modify(|n| *n = n.saturating_sub(1));
        }
    }

    /// Waits (at most `limit`) until everything queued is written: at
    /// shutdown, so segments already finished reach the store.
    pub async fn drain(&self, limit: Duration) -> bool {
        let mut rx = self.jobs.subscribe();
        tokio::time::timeout(limit, rx.wait_for(|n| *n == 0))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

async fn worker(
    mut rx: mpsc::UnboundedReceiver<Job>,
    store: Arc<dyn ObjectStore>,
    db: Db,
    queued: Arc<AtomicU64>,
    status: Arc<Mutex<RecordingStatus>>,
    jobs: Arc<tokio::sync::watch::Sender<u64>>,
) {
    let note = |f: &dyn Fn(&mut RecordingStatus)| {
        if let Ok(mut s) = status.lock() {
            f(&mut s);
        }
    };
    while let Some(job) = rx.recv().await {
        match job {
            Job::Put(path, data) => {
                let len = data.len() as u64;
                let mut backoff = Duration::from_millis(200);
                loop {
                    match store.put(&path, data.clone().into()).await {
                        Ok(_) => {
                            note(&|s| {
                                s.objects += 1;
                                s.bytes += len;
                                s.error = None;
                            });
                            break;
                        }
                        Err(e) => {
                            let msg = e.to_string();
                            tracing::warn!(object = %path, cause = %msg, retry_in = ?backoff, "recording write failed; retrying");
                            note(&|s| {
                                s.retries += 1;
                                s.error = Some(msg.clone());
                            });
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(Duration::from_secs(10));
                        }
                    }
                }
                queued.fetch_sub(len, Ordering::Relaxed);
            }
            Job::Finish(f) => match finalize(&*store, &db, &f).await {
                Ok((id, secs)) => {
                    note(&|s| s.vods += 1);
                    tracing::info!(
                        stream = f.stream_id,
                        vod = id,
                        duration_s = secs,
                        "VOD finalised"
                    );
                }
                Err(e) => {
                    tracing::warn!(stream = f.stream_id, cause = %e, "cannot finalise the VOD");
                    note(&|s| s.error = Some(format!("finalising stream {}: {e}", f.stream_id)));
                }
            },
        }
        jobs.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Writes the VOD playlists of a recording from its listing and registers
/// it; returns the VOD id and its duration (s).
pub async fn finalize(store: &dyn ObjectStore, db: &Db, f: &Finish) -> anyhow::Result<(i64, f64)> {
    use futures::TryStreamExt;
    let root = prefix(f.stream_id);
    let listed: Vec<object_store::ObjectMeta> = store
        .list(Some(&ObjectPath::from(root.as_str())))
        .try_collect()
        .await?;
    let mut per: BTreeMap<String, Vec<RecordedSegment>> = BTreeMap::new();
    let mut thumbs = Vec::new();
    let mut bytes = 0u64;
    for m in &listed {
        let parts: Vec<&str> = m.location.as_ref().split('/').collect();
        let [_, dir, name] = parts[..] else {
            continue;
        };
        bytes += m.size;
        if dir == "thumbs" && name.ends_with(".jpg") {
            thumbs.push(format!("thumbs/{name}"));
        } else if let Some(s) = parse_segment_name(name) {
            per.entry(dir.to_string()).or_default().push(s);
        }
    }
    // The poster: the second thumbnail (past the first seconds, which are
    // often a title card or black), else the first.
    thumbs.sort();
    let poster = thumbs
        .get(1)
        .or(thumbs.first())
        .cloned()
        .unwrap_or_default();
    let mut variants = Vec::new();
    let mut names = Vec::new();
    let mut duration = 0.0;
    for (name, variant) in &f.renditions {
        let Some(segs) = per.get(name) else { continue };
        let playlist = vod_playlist(segs);
        let total: f64 = playlist.segments.iter().map(|s| s.duration).sum();
        if name == "source" || duration == 0.0 {
            duration = total;
        }
        store
            .put(
                &ObjectPath::from(format!("{root}/{name}/vod.m3u8")),
                Bytes::from(playlist.render_vod()).into(),
            )
            .await?;
        if let Some(v) = variant {
            variants.push(Variant {
                uri: format!("{name}/vod.m3u8"),
                ..v.clone()
            });
        }
        names.push(name.clone());
    }
    if names.is_empty() {
        anyhow::bail!("nothing was recorded");
    }
    store
        .put(
            &ObjectPath::from(format!("{root}/index.m3u8")),
            Bytes::from(render_multivariant(&variants)).into(),
        )
        .await?;
    let stream = db
        .stream(f.stream_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("stream {} is not in the database", f.stream_id))?;
    let id = db
        .upsert_vod(&NewVod {
            stream_id: f.stream_id,
            channel_id: stream.channel_id,
            title: f.title.clone(),
            started_at: f.started_at_ms,
            duration_ms: (duration * 1000.0).round() as i64,
            bytes: bytes as i64,
            renditions: names.join(","),
            prefix: root,
            thumbnail: poster,
        })
        .await?;
    Ok((id, duration))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_carry_what_the_playlist_needs() {
        let n = segment_name(42, 2.002, 7, true);
        assert_eq!(n, "0000000042_2002000_7_d.m4s");
        assert_eq!(
            parse_segment_name(&n),
            Some(RecordedSegment {
                seq: 42,
                duration: 2.002,
                init_id: 7,
                discontinuity: true
            })
        );
        assert_eq!(
            parse_segment_name("0000000001_2000000_0.m4s").map(|s| s.discontinuity),
            Some(false)
        );
        for bad in [
            "vod.m3u8",
            "init-0.mp4",
            "1_2.m4s",
            "1_2_3_x.m4s",
            "a_2_3.m4s",
            "1_2_3_d_4.m4s",
        ] {
            assert_eq!(parse_segment_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_vod_playlist_lists_every_segment_in_order_and_marks_gaps() {
        let seg = |seq, disc| RecordedSegment {
            seq,
            duration: 2.0,
            init_id: 0,
            discontinuity: disc,
        };
        // Out of order (a listing), a duplicate, a gap at 3 and a reconnect at 5.
        let p = vod_playlist(&[
            seg(2, false),
            seg(0, false),
            seg(1, false),
            seg(1, false),
            seg(4, false),
            seg(5, true),
        ]);
        let seqs: Vec<u64> = p.segments.iter().map(|s| s.seq).collect();
        assert_eq!(seqs, [0, 1, 2, 4, 5]);
        let disc: Vec<bool> = p.segments.iter().map(|s| s.discontinuity).collect();
        assert_eq!(disc, [false, false, false, true, true]);
        let text = p.render_vod();
        assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD\n"), "{text}");
        assert!(text.ends_with("#EXT-X-ENDLIST\n"), "{text}");
        assert!(text.contains("#EXT-X-MAP:URI=\"init-0.mp4\""), "{text}");
        assert!(!text.contains("PART"), "{text}");
    }

    async fn recorder(dir: &std::path::Path, limit: u64) -> Arc<Recorder> {
        let url = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
        let db = Db::connect(&url, 1, Duration::from_secs(5)).await.unwrap();
        db.migrate().await.unwrap();
        Recorder::local(&dir.join("rec"), limit, db).unwrap()
    }

    fn seg(seq: u64) -> RecordedSegment {
        RecordedSegment {
            seq,
            duration: 2.0,
            init_id: 0,
            discontinuity: false,
        }
    }

    #[tokio::test]
    async fn queued_segments_are_written_and_drain_waits_for_them() {
        let dir = tempfile::tempdir().unwrap();
        let r = recorder(dir.path(), 1 << 30).await;
        for seq in 0..40 {
            let init = (seq == 0).then(|| Bytes::from_static(b"init"));
            r.segment(
                9,
                "source",
                &seg(seq),
                Bytes::from(vec![seq as u8; 10_000]),
                init,
            );
        }
        assert!(r.drain(Duration::from_secs(10)).await, "not drained");
        let st = r.status();
        assert_eq!(
            (st.objects, st.bytes, st.queued_bytes, st.dropped),
            (41, 400_004, 0, 0)
        );
        let on_disk = std::fs::read_dir(dir.path().join("rec/s9/source"))
            .unwrap()
            .count();
        assert_eq!(on_disk, 41);
        let back = std::fs::read(
            dir.path()
                .join("rec/s9/source")
                .join(segment_name(7, 2.0, 0, false)),
        )
        .unwrap();
        assert_eq!(back, vec![7u8; 10_000]);
    }

    #[tokio::test]
    async fn a_full_queue_leaves_segments_out_and_never_waits() {
        let dir = tempfile::tempdir().unwrap();
        // Room for two segments.
        let r = recorder(dir.path(), 25_000).await;
        let t0 = std::time::Instant::now();
        for seq in 0..200 {
            r.segment(3, "source", &seg(seq), Bytes::from(vec![0u8; 10_000]), None);
        }
        assert!(t0.elapsed() < Duration::from_millis(500), "queueing waited");
        assert!(r.drain(Duration::from_secs(10)).await);
        let st = r.status();
        assert_eq!(st.objects + st.dropped, 200, "{st:?}");
        assert!(st.dropped > 0, "{st:?}");
    }
}
