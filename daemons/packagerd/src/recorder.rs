//! Recording: every rendition's init segments and media segments go to an
//! object store (`object_store`; a local directory by default) as they are
//! finished.
//!
//! Crash safety: a finished segment is written to local disk *before* the
//! live playlist lists it — into the store itself when the store is the
//! local directory, else into a spool directory from which a worker uploads
//! it (and then deletes the spool copy). The write goes to a temporary name
//! and is renamed into place, so a half-written file never carries a
//! segment's name. It is a page-cache write of one segment (well under a
//! millisecond); a SIGKILL loses nothing the page cache holds (a power cut
//! is another matter: no fsync, by choice, on the live path). On start the
//! spool's leftovers are uploaded and recordings of streams that ended while
//! packagerd was down are finalised (`recover`).
//!
//! Uploads are retried with back-off until they succeed and never delay the
//! live playlist; the spool's backlog is bounded in bytes (`queue_bytes`),
//! and past it new segments are left out of the recording and counted (in
//! `/status`). Thumbnails go through the same worker from memory.
//!
//! Object keys carry everything a VOD playlist needs (sequence number,
//! duration, init, discontinuity), so a recording is rebuilt from a listing
//! alone; each rendition's `variant.json` keeps its codecs and picture size
//! for the multivariant playlist. When a stream ends, `finalize` writes each
//! rendition's VOD playlist and a multivariant playlist next to the media
//! and registers the VOD in the database.

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use stage_core::Db;
use stage_core::db::NewVod;
use stage_media::hls::{MediaPlaylist, SegmentEntry, Variant, render_multivariant};
pub use stage_media::llhls::names::{RecordedSegment, init_name, parse_segment_name, segment_name};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// What `/status` reports about recording.
pub use stage_core::api::status::RecordingStatus;

/// What finalising a recording needs to know about the stream (the
/// renditions and their variants are read from the recording itself).
#[derive(Debug, Clone)]
pub struct Finish {
    pub stream_id: i64,
    pub title: String,
    pub started_at_ms: i64,
}

/// What a rendition's `variant.json` keeps: what the multivariant playlist
/// says about it beyond its bit rate (which `finalize` measures).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VariantInfo {
    pub codecs: Vec<String>,
    pub resolution: Option<(u32, u32)>,
    pub frame_rate: Option<f64>,
}

impl From<&Variant> for VariantInfo {
    fn from(v: &Variant) -> VariantInfo {
        VariantInfo {
            codecs: v.codecs.clone(),
            resolution: v.resolution,
            frame_rate: v.frame_rate,
        }
    }
}

enum Job {
    /// An object from memory (thumbnails, playlists).
    Put(ObjectPath, Bytes),
    /// A spool file to upload (key, bytes), then delete.
    Upload(String, u64),
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
    /// Where finished segments are written before they are listed.
    spool: PathBuf,
    /// Whether spool files are uploaded to `store` (false when the store
    /// is the spool directory itself).
    upload: bool,
}

/// The prefix of a stream's recording.
pub fn prefix(stream_id: i64) -> String {
    format!("s{stream_id}")
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
        head: None,
    }
}

impl Recorder {
    /// A recorder writing to `store` through the local directory `spool`
    /// (uploading from it when `upload`); its worker runs on the current
    /// runtime. Whatever an earlier process left in the spool is queued
    /// first.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        spool: PathBuf,
        upload: bool,
        limit: u64,
        db: Db,
    ) -> Arc<Recorder> {
        let (tx, rx) = mpsc::unbounded_channel();
        let jobs = Arc::new(tokio::sync::watch::Sender::new(0u64));
        let r = Arc::new(Recorder {
            tx,
            jobs: jobs.clone(),
            queued: Arc::new(AtomicU64::new(0)),
            limit,
            status: Arc::new(Mutex::new(RecordingStatus::default())),
            store: store.clone(),
            spool,
            upload,
        });
        // The local store is its own spool: nothing to upload, and a stray
        // temporary file there is never read as a segment.
        let leftovers = if upload {
            sweep_spool(&r.spool)
        } else {
            Vec::new()
        };
        for (key, len) in leftovers {
            r.queued.fetch_add(len, Ordering::Relaxed);
            r.enqueue(Job::Upload(key, len));
        }
        tokio::spawn(worker(
            rx,
            store,
            r.spool.clone(),
            db,
            r.queued.clone(),
            r.status.clone(),
            jobs,
        ));
        r
    }

    /// The store recordings are in.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// An object of a recording: from the spool while it waits there for
    /// its upload, else from the store. `Ok(None)`: no such object.
    pub async fn get(&self, key: &str) -> anyhow::Result<Option<Bytes>> {
        if self.upload {
            match tokio::fs::read(self.spool.join(key)).await {
                Ok(b) => return Ok(Some(b.into())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        match self.store.get(&ObjectPath::from(key)).await {
            Ok(r) => Ok(Some(r.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Recording state for `/status`.
    pub fn status(&self) -> RecordingStatus {
        let mut s = self.status.lock().map(|s| s.clone()).unwrap_or_default();
        s.queued_bytes = self.queued.load(Ordering::Relaxed);
        s
    }

    fn note(&self, f: impl FnOnce(&mut RecordingStatus)) {
        if let Ok(mut s) = self.status.lock() {
            f(&mut s);
        }
    }

    fn enqueue(&self, job: Job) -> bool {
        self.jobs.send_modify(|n| *n += 1);
        if self.tx.send(job).is_err() {
            self.jobs.send_modify(|n| *n = n.saturating_sub(1));
            return false;
        }
        true
    }

    /// Queues an object held in memory (bounded by the queue's bytes).
    fn put(&self, key: String, data: Bytes) -> bool {
        let len = data.len() as u64;
        if self.queued.load(Ordering::Relaxed) + len > self.limit {
            return false;
        }
        self.queued.fetch_add(len, Ordering::Relaxed);
        if !self.enqueue(Job::Put(ObjectPath::from(key), data)) {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Writes an object to local disk now (temporary name, then renamed)
    /// and, when the store is elsewhere, queues its upload.
    fn write_now(&self, key: &str, data: &[u8]) -> std::io::Result<()> {
        let len = data.len() as u64;
        if self.upload && self.queued.load(Ordering::Relaxed) + len > self.limit {
            return Err(std::io::Error::other(format!(
                "upload backlog over recording.queue_bytes ({} bytes)",
                self.limit
            )));
        }
        let started = std::time::Instant::now();
        write_atomic(&self.spool.join(key), data)?;
        let took = started.elapsed();
        if took > Duration::from_millis(100) {
            tracing::warn!(
                key,
                took_ms = took.as_millis() as u64,
                "slow recording write"
            );
        }
        if self.upload {
            self.queued.fetch_add(len, Ordering::Relaxed);
            self.enqueue(Job::Upload(key.to_string(), len));
        } else {
            self.note(|s| {
                s.objects += 1;
                s.bytes += len;
            });
        }
        Ok(())
    }

    /// Writes a finished segment of `rendition` (and its init segment and
    /// variant description, the first time `init` is given) before the
    /// live playlist lists it. Returns whether the segment is recorded; a
    /// failure (a full disk, a full upload backlog) is logged and reported
    /// in `/status`, and the live stream goes on.
    pub fn segment(
        &self,
        stream_id: i64,
        rendition: &str,
        seg: &RecordedSegment,
        data: &[u8],
        init: Option<(&[u8], VariantInfo)>,
    ) -> bool {
        let dir = format!("{}/{rendition}", prefix(stream_id));
        let name = segment_name(seg.seq, seg.duration, seg.init_id, seg.discontinuity);
        let mut written = Ok(());
        if let Some((init, variant)) = init {
            let json = serde_json::to_vec(&variant).unwrap_or_default();
            written = self
                .write_now(&format!("{dir}/{}", init_name(seg.init_id)), init)
                .and_then(|_| self.write_now(&format!("{dir}/variant.json"), &json));
        }
        let written = written.and_then(|_| self.write_now(&format!("{dir}/{name}"), data));
        match written {
            Ok(()) => {
                // With uploads, the error is the store's until an upload
                // succeeds.
                if !self.upload {
                    self.note(|s| s.error = None);
                }
                true
            }
            Err(e) => {
                let msg = e.to_string();
                tracing::warn!(
                    stream = stream_id,
                    rendition,
                    seq = seg.seq,
                    cause = %msg,
                    "segment left out of the recording"
                );
                self.note(|s| {
                    s.dropped += 1;
                    s.error = Some(msg);
                });
                false
            }
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
        self.enqueue(Job::Finish(f));
    }

    /// Finalises the recordings of streams that ended while no packagerd
    /// was running (killed, or stopped with the stream live): every
    /// recording in the store without a VOD whose stream is over. Queued
    /// behind the spool's leftovers, so those are in the VOD.
    pub async fn recover(&self, db: &Db) -> anyhow::Result<usize> {
        let listed = self.store.list_with_delimiter(None).await?;
        let mut n = 0;
        for p in listed.common_prefixes {
            let Some(id) = p
                .as_ref()
                .strip_prefix('s')
                .and_then(|x| x.parse::<i64>().ok())
            else {
                continue;
            };
            let Some(stream) = db.stream(id).await? else {
                continue;
            };
            if stream.status == "live" || db.vod_for_stream(id).await?.is_some() {
                continue;
            }
            tracing::info!(
                stream = id,
                "recording of a stream that ended while packagerd was down; finalising"
            );
            self.finish(Finish {
                stream_id: id,
                title: stream.title.clone(),
                started_at_ms: stream.started_at.unwrap_or_default(),
            });
            n += 1;
        }
        Ok(n)
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

/// Writes `data` to `path` whole or not at all: a temporary file beside it
/// (a name no listing reads as a segment) renamed into place.
fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let r = std::fs::write(&tmp, data).and_then(|_| std::fs::rename(&tmp, path));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// Removes the temporary files a killed process left in the upload spool
/// and returns the files still waiting for upload (key, bytes), in order.
fn sweep_spool(spool: &Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![spool.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let path = e.path();
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "tmp") {
                let _ = std::fs::remove_file(&path);
            } else if let Ok(rel) = path.strip_prefix(spool)
                && let Some(key) = rel.to_str()
            {
                out.push((key.to_string(), meta.len()));
            }
        }
    }
    out.sort();
    out
}

async fn worker(
    mut rx: mpsc::UnboundedReceiver<Job>,
    store: Arc<dyn ObjectStore>,
    spool: PathBuf,
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
    // Writes one object, retrying with back-off until the store takes it.
    let put = |path: ObjectPath, data: Bytes| {
        let store = store.clone();
        async move {
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
                        return;
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
        }
    };
    while let Some(job) = rx.recv().await {
        match job {
            Job::Put(path, data) => {
                let len = data.len() as u64;
                put(path, data).await;
                queued.fetch_sub(len, Ordering::Relaxed);
            }
            Job::Upload(key, len) => {
                let file = spool.join(&key);
                match tokio::fs::read(&file).await {
                    Ok(data) => {
                        put(ObjectPath::from(key.as_str()), data.into()).await;
                        if let Err(e) = tokio::fs::remove_file(&file).await {
                            tracing::warn!(file = %file.display(), cause = %e, "cannot remove an uploaded spool file");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(file = %file.display(), cause = %e, "spool file unreadable; left out of the recording");
                        note(&|s| s.error = Some(format!("spool {}: {e}", file.display())));
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

/// Deletes the recordings (objects and rows) of streams that started more
/// than `days` days before `now_ms`; returns how many. Each is logged.
pub async fn retention_pass(
    store: &dyn ObjectStore,
    db: &Db,
    days: u32,
    now_ms: i64,
) -> anyhow::Result<usize> {
    let cutoff = now_ms - i64::from(days) * 86_400_000;
    let old = db.vods_started_before(cutoff).await?;
    for v in &old {
        let objects = stage_store::delete_prefix(store, &v.prefix).await?;
        db.delete_vod(v.id).await?;
        tracing::info!(
            vod = v.id,
            channel = %v.channel,
            started_at = %stage_core::time::rfc3339_ms(v.started_at),
            objects,
            retention_days = days,
            "recording past retention deleted"
        );
    }
    Ok(old.len())
}

/// Runs `retention_pass` at start and then hourly until `stop`.
pub async fn retention(
    store: Arc<dyn ObjectStore>,
    db: Db,
    days: u32,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stage_core::telemetry::stopped(&mut stop) => return,
        }
        match retention_pass(&*store, &db, days, stage_core::time::now_ms()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, retention_days = days, "retention pass done"),
            Err(e) => tracing::warn!(cause = %e, "retention pass failed; trying again in an hour"),
        }
    }
}

/// Peak and average bits per second of a rendition's recorded segments.
fn measured_bandwidth(segs: &[(RecordedSegment, u64)]) -> (u64, u64) {
    let rate = |bytes: u64, secs: f64| (bytes as f64 * 8.0 / secs.max(0.001)).round() as u64;
    let peak = segs
        .iter()
        .map(|(s, n)| rate(*n, s.duration))
        .max()
        .unwrap_or(0);
    let total: u64 = segs.iter().map(|(_, n)| n).sum();
    let secs: f64 = segs.iter().map(|(s, _)| s.duration).sum();
    (peak, rate(total, secs))
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
    let mut per: BTreeMap<String, Vec<(RecordedSegment, u64)>> = BTreeMap::new();
    let mut thumbs = Vec::new();
    let mut bytes = 0u64;
    for m in &listed {
        let parts: Vec<&str> = m.location.as_ref().split('/').collect();
        let [_, dir, name] = parts[..] else {
            continue;
        };
        if dir == "thumbs" && name.ends_with(".jpg") {
            thumbs.push(format!("thumbs/{name}"));
        } else if let Some(s) = parse_segment_name(name) {
            per.entry(dir.to_string()).or_default().push((s, m.size));
        } else if !name.ends_with(".mp4") {
            continue;
        }
        bytes += m.size;
    }
    // The poster: the second thumbnail (past the first seconds, which are
    // often a title card or black), else the first.
    thumbs.sort();
    let poster = thumbs
        .get(1)
        .or(thumbs.first())
        .cloned()
        .unwrap_or_default();
    let mut renditions = Vec::new();
    for (name, segs) in &per {
        let info: VariantInfo = match store
            .get(&ObjectPath::from(format!("{root}/{name}/variant.json")))
            .await
        {
            Ok(r) => serde_json::from_slice(&r.bytes().await?).unwrap_or_default(),
            Err(_) => VariantInfo::default(),
        };
        renditions.push((name, segs, info));
    }
    // `source` first (players start on the first), then by picture height.
    renditions.sort_by_key(|(name, _, info)| {
        (
            *name != "source",
            std::cmp::Reverse(info.resolution.map_or(0, |r| r.1)),
        )
    });
    let mut variants = Vec::new();
    let mut names = Vec::new();
    let mut duration = 0.0;
    for (name, segs, info) in renditions {
        let list: Vec<RecordedSegment> = segs.iter().map(|(s, _)| s.clone()).collect();
        let playlist = vod_playlist(&list);
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
        let (bandwidth, average) = measured_bandwidth(segs);
        variants.push(Variant {
            bandwidth,
            average_bandwidth: Some(average),
            codecs: info.codecs,
            resolution: info.resolution,
            frame_rate: info.frame_rate,
            uri: format!("{name}/vod.m3u8"),
        });
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
    use object_store::local::LocalFileSystem;

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

    /// A migrated SQLite database in `dir`.
    async fn test_db(dir: &std::path::Path) -> Db {
        let url = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
        let db = Db::connect(&url, 1, Duration::from_secs(5)).await.unwrap();
        db.migrate().await.unwrap();
        db
    }

    /// A recorder on the local store `dir/rec` (its own spool), as
    /// packagerd makes one by default.
    fn local(dir: &std::path::Path, limit: u64, db: Db) -> Arc<Recorder> {
        let rec = dir.join("rec");
        std::fs::create_dir_all(&rec).unwrap();
        let store = LocalFileSystem::new_with_prefix(&rec)
            .unwrap()
            .with_automatic_cleanup(true);
        Recorder::new(Arc::new(store), rec, false, limit, db)
    }

    async fn recorder(dir: &std::path::Path, limit: u64) -> Arc<Recorder> {
        local(dir, limit, test_db(dir).await)
    }

    fn seg(seq: u64) -> RecordedSegment {
        RecordedSegment {
            seq,
            duration: 2.0,
            init_id: 0,
            discontinuity: false,
        }
    }

    fn variant() -> VariantInfo {
        VariantInfo {
            codecs: vec!["avc1.64001f".into(), "mp4a.40.2".into()],
            resolution: Some((1280, 720)),
            frame_rate: Some(30.0),
        }
    }

    #[tokio::test]
    async fn segments_are_on_disk_before_segment_returns() {
        let dir = tempfile::tempdir().unwrap();
        let r = recorder(dir.path(), 1 << 30).await;
        for seq in 0..40 {
            let init = (seq == 0).then(|| (&b"init"[..], variant()));
            assert!(r.segment(9, "source", &seg(seq), &vec![seq as u8; 10_000], init));
            // Written whole, under its own name, at once: nothing queued.
            let back = std::fs::read(
                dir.path()
                    .join("rec/s9/source")
                    .join(segment_name(seq, 2.0, 0, false)),
            )
            .unwrap();
            assert_eq!(back, vec![seq as u8; 10_000]);
        }
        let st = r.status();
        // 40 segments, the init and variant.json.
        assert_eq!((st.objects, st.queued_bytes, st.dropped), (42, 0, 0));
        let names: Vec<String> = std::fs::read_dir(dir.path().join("rec/s9/source"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 42, "{names:?}");
        assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    }

    #[tokio::test]
    async fn a_failing_disk_is_reported_and_recording_resumes_when_it_works_again() {
        let dir = tempfile::tempdir().unwrap();
        let r = recorder(dir.path(), 1 << 30).await;
        assert!(r.segment(
            9,
            "source",
            &seg(0),
            &[0u8; 100],
            Some((&b"init"[..], variant()))
        ));
        // The rendition's directory turns into a file: every write fails
        // (as on a full or broken disk; root ignores permissions, so this
        // is how a test makes writes fail).
        let rendition = dir.path().join("rec/s9/source");
        std::fs::rename(&rendition, dir.path().join("moved")).unwrap();
        std::fs::write(&rendition, b"not a directory").unwrap();
        let t0 = std::time::Instant::now();
        assert!(!r.segment(9, "source", &seg(1), &[1u8; 100], None));
        assert!(!r.segment(9, "source", &seg(2), &[2u8; 100], None));
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "a failing write waited"
        );
        let st = r.status();
        assert_eq!(st.dropped, 2, "{st:?}");
        assert!(st.error.is_some(), "not reported: {st:?}");
        // The disk works again: the next segment is recorded and the error
        // cleared.
        std::fs::remove_file(&rendition).unwrap();
        assert!(r.segment(9, "source", &seg(3), &[3u8; 100], None));
        let st = r.status();
        assert_eq!((st.dropped, st.error.clone()), (2, None), "{st:?}");
        assert!(rendition.join(segment_name(3, 2.0, 0, false)).exists());
    }

    /// A recorder uploading from a spool to a store in another directory.
    async fn uploading(dir: &std::path::Path, limit: u64) -> (Arc<Recorder>, Db) {
        let db = test_db(dir).await;
        std::fs::create_dir_all(dir.join("store")).unwrap();
        let store = Arc::new(LocalFileSystem::new_with_prefix(dir.join("store")).unwrap());
        let r = Recorder::new(store, dir.join("spool"), true, limit, db.clone());
        (r, db)
    }

    #[tokio::test]
    async fn spooled_segments_are_uploaded_and_served_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let (r, _db) = uploading(dir.path(), 1 << 30).await;
        for seq in 0..10 {
            let init = (seq == 0).then(|| (&b"init"[..], variant()));
            assert!(r.segment(4, "source", &seg(seq), &vec![seq as u8; 1000], init));
        }
        // Readable at once (from the spool, before any upload ran).
        let key = format!("s4/source/{}", segment_name(3, 2.0, 0, false));
        assert_eq!(r.get(&key).await.unwrap().unwrap(), vec![3u8; 1000]);
        assert!(r.drain(Duration::from_secs(10)).await);
        assert!(dir.path().join("store").join(&key).exists());
        assert!(!dir.path().join("spool").join(&key).exists());
        assert_eq!(r.get(&key).await.unwrap().unwrap(), vec![3u8; 1000]);
        assert_eq!(r.status().objects, 12);
    }

    #[tokio::test]
    async fn a_spool_left_by_a_killed_process_is_uploaded_on_start() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("spool/s5/source");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join(segment_name(0, 2.0, 0, false)), b"whole").unwrap();
        // A write the kill interrupted: never a segment.
        std::fs::write(
            src.join(format!("{}.tmp", segment_name(1, 2.0, 0, false))),
            b"ha",
        )
        .unwrap();
        let (r, _db) = uploading(dir.path(), 1 << 30).await;
        assert!(r.drain(Duration::from_secs(10)).await);
        let store = dir.path().join("store/s5/source");
        assert_eq!(
            std::fs::read(store.join(segment_name(0, 2.0, 0, false))).unwrap(),
            b"whole"
        );
        assert_eq!(std::fs::read_dir(&store).unwrap().count(), 1);
        assert_eq!(std::fs::read_dir(&src).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn a_full_upload_backlog_leaves_segments_out_and_never_waits() {
        let dir = tempfile::tempdir().unwrap();
        // Room for two segments waiting for upload.
        let (r, _db) = uploading(dir.path(), 25_000).await;
        let t0 = std::time::Instant::now();
        let recorded = (0..200)
            .filter(|&seq| r.segment(3, "source", &seg(seq), &[0u8; 10_000], None))
            .count() as u64;
        assert!(t0.elapsed() < Duration::from_secs(2), "recording waited");
        // Reported until an upload succeeds again.
        let st = r.status();
        assert!(
            st.error
                .as_deref()
                .is_some_and(|e| e.contains("queue_bytes")),
            "{st:?}"
        );
        assert!(r.drain(Duration::from_secs(10)).await);
        let st = r.status();
        assert_eq!(
            (st.objects, st.objects + st.dropped),
            (recorded, 200),
            "{st:?}"
        );
        assert!(st.dropped > 0, "{st:?}");
        assert_eq!(st.error, None, "{st:?}");
    }

    /// Files under `dir`, recursively.
    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                out.extend(walk(&e.path()));
            } else {
                out.push(e.path());
            }
        }
        out
    }

    #[tokio::test]
    async fn retention_deletes_recordings_older_than_its_days_only() {
        let dir = tempfile::tempdir().unwrap();
        let db = test_db(dir.path()).await;
        let owner = db.ensure_owner("o").await.unwrap();
        let ch = db.create_channel(owner, "c", false, "h").await.unwrap();
        let r = local(dir.path(), 1 << 30, db.clone());
        let now = stage_core::time::now_ms();
        let mut ids = Vec::new();
        for age_days in [10, 3] {
            let st = db.start_stream(&ch).await.unwrap();
            for seq in 0..2 {
                let init = (seq == 0).then(|| (&b"init"[..], variant()));
                assert!(r.segment(st.id, "source", &seg(seq), &[1u8; 100], init));
            }
            db.end_stream(st.id).await.unwrap();
            let (id, _) = finalize(
                &*r.store(),
                &db,
                &Finish {
                    stream_id: st.id,
                    title: "t".into(),
                    started_at_ms: now - age_days * 86_400_000,
                },
            )
            .await
            .unwrap();
            ids.push((id, st.id));
        }
        assert_eq!(retention_pass(&*r.store(), &db, 7, now).await.unwrap(), 1);
        let (old, old_stream) = ids[0];
        let (new, new_stream) = ids[1];
        assert!(db.vod(old).await.unwrap().is_none());
        let left: Vec<_> = walk(&dir.path().join(format!("rec/s{old_stream}")));
        assert!(left.is_empty(), "{left:?}");
        assert!(db.vod(new).await.unwrap().is_some());
        assert!(
            dir.path()
                .join(format!("rec/s{new_stream}/source/vod.m3u8"))
                .exists()
        );
        // Nothing more to do.
        assert_eq!(retention_pass(&*r.store(), &db, 7, now).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn recover_finalises_streams_that_ended_while_packagerd_was_down() {
        let dir = tempfile::tempdir().unwrap();
        let db = test_db(dir.path()).await;
        let owner = db.ensure_owner("o").await.unwrap();
        let ch = db.create_channel(owner, "c", false, "h").await.unwrap();
        let ended = db.start_stream(&ch).await.unwrap();
        let r = local(dir.path(), 1 << 30, db.clone());
        for seq in 0..3 {
            let init = (seq == 0).then(|| (&b"init"[..], variant()));
            assert!(r.segment(ended.id, "source", &seg(seq), &[1u8; 500], init));
        }
        // Still live: left for its stream's end.
        assert_eq!(r.recover(&db).await.unwrap(), 0);
        db.end_stream(ended.id).await.unwrap();
        assert_eq!(r.recover(&db).await.unwrap(), 1);
        assert!(r.drain(Duration::from_secs(10)).await);
        let vod = db.vod_for_stream(ended.id).await.unwrap().expect("a VOD");
        let v = db.vod(vod).await.unwrap().unwrap();
        assert_eq!(v.duration_ms, 6000);
        let index =
            std::fs::read_to_string(dir.path().join(format!("rec/s{}/index.m3u8", ended.id)))
                .unwrap();
        assert!(
            index.contains("CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1280x720"),
            "{index}"
        );
        // Once finalised, not again.
        assert_eq!(r.recover(&db).await.unwrap(), 0);
    }
}
