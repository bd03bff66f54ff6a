//! The DVR window: segments that have left memory stay listed, served from
//! the recording under the URIs they had live, and the recording's object
//! names they are found under.

use super::{Segment, Segmenter, names};
use crate::hls::{RenderedSegments, SegmentEntry};
use std::collections::VecDeque;
use std::sync::Arc;

/// Segments held in memory with a DVR window, at least (see `set_dvr`).
const DVR_MIN_HELD: usize = 8;

/// The DVR window's entries: segments that have left memory, listed
/// from the recording under the URIs they had live (a live playlist never
/// renames a segment), at most `limit_ms` of media.
/// They are rendered once each time one joins (see `MediaPlaylist::head`).
#[derive(Debug, Default)]
pub(super) struct Dvr {
    pub(super) limit_ms: i64,
    entries: VecDeque<SegmentEntry>,
    secs: f64,
    /// Discontinuity tags among `entries`.
    pub(super) discontinuities: u64,
    pub(super) rendered: Option<Arc<RenderedSegments>>,
    /// Their recording objects.
    objects: Arc<DvrObjects>,
}

/// The DVR window's segments' recording objects, for HTTP to find one by
/// its live URI. Plain numbers, no string per segment: every snapshot
/// shares this, so each segment that joins copies it (`Arc::make_mut`),
/// and a map of two strings per segment made thousands of small
/// allocations every 2 s (bench/README.md, "where packagerd's memory
/// went").
#[derive(Debug, Default, Clone)]
pub struct DvrObjects {
    stream_id: i64,
    /// Ascending by sequence number.
    entries: VecDeque<DvrObject>,
}

#[derive(Debug, Clone, Copy)]
struct DvrObject {
    seq: u64,
    duration: f64,
    init_id: u64,
    discontinuity: bool,
}

impl DvrObjects {
    /// The recording object's name for a DVR segment's live URI
    /// (`s{stream}-{seq}.m4s`).
    pub fn get(&self, uri: &str) -> Option<String> {
        let seq = names::parse_segment_uri(self.stream_id, uri)?;
        let i = self.entries.binary_search_by_key(&seq, |o| o.seq).ok()?;
        let o = self.entries[i];
        Some(names::segment_name(
            o.seq,
            o.duration,
            o.init_id,
            o.discontinuity,
        ))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Dvr {
    fn push(&mut self, e: SegmentEntry, stream_id: i64, init_id: u64) {
        self.secs += e.duration;
        self.discontinuities += e.discontinuity as u64;
        let objects = Arc::make_mut(&mut self.objects);
        objects.stream_id = stream_id;
        objects.entries.push_back(DvrObject {
            seq: e.seq,
            duration: e.duration,
            init_id,
            discontinuity: e.discontinuity,
        });
        self.entries.push_back(e);
        while self.secs * 1000.0 > self.limit_ms as f64 {
            let Some(old) = self.entries.pop_front() else {
                break;
            };
            objects.entries.pop_front();
            self.secs -= old.duration;
            self.discontinuities -= old.discontinuity as u64;
        }
        self.rendered =
            (!self.entries.is_empty()).then(|| Arc::new(RenderedSegments::new(&self.entries)));
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.objects = Arc::default();
        self.secs = 0.0;
        self.discontinuities = 0;
        self.rendered = None;
    }
}

impl Segmenter {
    /// Turns on the DVR window: up to `ms` of media that has left memory
    /// stays listed, served from the recording (0: off).
    pub fn set_dvr(&mut self, ms: i64) {
        self.dvr.limit_ms = ms.max(0);
        if ms > 0 {
            // Memory holds more than a delta update keeps (six target
            // durations), so a delta skips the whole pre-rendered DVR part.
            self.keep = self.keep.max(DVR_MIN_HELD);
        }
    }

    /// Marks a held segment as recorded.
    pub fn mark_recorded(&mut self, seq: u64) {
        if let Some(s) = self.segments.iter_mut().find(|s| s.entry.seq == seq) {
            s.recorded = true;
        }
    }

    /// A segment leaving memory joins the DVR window when it is in the
    /// recording; one that is not breaks the window (a live playlist has no
    /// gaps), which starts again after it.
    pub(super) fn retire_into_dvr(&mut self, s: Segment) {
        if self.dvr.limit_ms == 0 {
            return;
        }
        if !s.recorded {
            self.dvr.clear();
            return;
        }
        let mut e = s.entry;
        if s.epoch == self.epoch {
            e.program_date_time_ms = self.listed_date(e.seq, s.start_ms);
        }
        // Not `clear`: that keeps the parts' capacity, ~400 B a segment
        // for the window's hours.
        e.parts = Vec::new();
        self.dvr.push(e, self.stream_id, s.init_id);
    }

    /// The DVR window's segments' recording objects.
    pub fn dvr_objects(&self) -> Arc<DvrObjects> {
        self.dvr.objects.clone()
    }
}
