//! What the segmenter shows: the live media playlist, the rendition report
//! other renditions list, the DASH manifest's segments and the
//! multivariant playlist's variant entry.

use super::{DashSegment, Segment, Segmenter, names};
use crate::hls::{LowLatency, MediaPlaylist, RenditionReport, SegmentEntry, Variant};

/// Complete segments whose parts are listed in the playlist (the spec asks
/// to drop parts more than three target durations from the end).
const LISTED_PART_SEGMENTS: usize = 2;

impl Segmenter {
    /// The live media playlist.
    pub fn playlist(&self) -> MediaPlaylist {
        // With a DVR window every held segment is listed after it (the
        // window's last one is the oldest still in memory).
        let start = if self.dvr.limit_ms > 0 {
            0
        } else {
            self.segments.len().saturating_sub(self.window)
        };
        let listed = self.segments.len() - start;
        let mut segments: Vec<SegmentEntry> = Vec::with_capacity(listed);
        segments.extend(self.segments.iter().skip(start).enumerate().map(|(i, s)| {
            let mut e = s.entry.clone();
            if s.epoch == self.epoch {
                e.program_date_time_ms = self.listed_date(e.seq, s.start_ms);
            }
            if !self.ended && i + LISTED_PART_SEGMENTS >= listed {
                e.parts = s.parts.iter().map(|p| p.entry.clone()).collect();
            }
            e
        }));
        // Each discontinuity that has left the window counts (RFC 8216bis 6.2.1),
        // on top of the base a resumed stream starts from; those the DVR
        // window still lists do not.
        let before = self
            .segments
            .iter()
            .take(start)
            .filter(|s| s.entry.discontinuity)
            .count() as u64;
        let open = self.open.as_ref();
        MediaPlaylist {
            target_duration: self.target_ms as f64 / 1000.0,
            discontinuity_sequence: self.disc_base + self.dropped_disc - self.dvr.discontinuities
                + before,
            segments,
            ended: self.ended,
            low_latency: Some(LowLatency {
                part_target: self.part_target_ms() / 1000.0,
                open_parts: open.map_or_else(Vec::new, |o| {
                    o.parts.iter().map(|p| p.entry.clone()).collect()
                }),
                open_discontinuity: open.is_some_and(|o| o.discontinuity),
                open_map_uri: open.map(|o| names::init_uri(self.stream_id, o.init_id)),
                open_program_date_time_ms: open
                    .and_then(|o| self.listed_date(self.next_seq, o.start_ms)),
                preload_hint: (!self.ended).then(|| self.part_uri(self.next_part)),
                rendition_reports: Vec::new(),
            }),
            head: self.dvr.rendered.clone(),
        }
    }

    /// Where this rendition's playlist ends, for the other renditions'
    /// EXT-X-RENDITION-REPORT: the last segment (the open one once it has a
    /// part) and the index of its last part.
    pub fn report(&self, uri: String) -> Option<RenditionReport> {
        let open = self.open.as_ref()?;
        if !open.parts.is_empty() {
            return Some(RenditionReport {
                uri,
                last_msn: self.next_seq,
                last_part: Some(open.parts.len() as u64 - 1),
            });
        }
        let last = self.segments.back()?;
        Some(RenditionReport {
            uri,
            last_msn: last.entry.seq,
            last_part: last.parts.len().checked_sub(1).map(|p| p as u64),
        })
    }

    /// The segments of the playlist window, for the DASH manifest.
    pub fn dash_segments(&self) -> Vec<DashSegment> {
        let start = self.segments.len().saturating_sub(self.window);
        self.segments
            .iter()
            .skip(start)
            .map(|s| {
                let pdt_ms = if s.epoch == self.epoch {
                    self.pdt_ms(s.start_ms)
                } else {
                    s.entry.program_date_time_ms
                };
                let epoch_start = self
                    .epoch_starts
                    .iter()
                    .find(|e| e.0 == s.epoch)
                    .map_or(s.start_ms, |e| e.1);
                DashSegment {
                    seq: s.entry.seq,
                    epoch: s.epoch,
                    init_id: s.init_id,
                    uri: s.entry.uri.clone(),
                    map_uri: s.entry.map_uri.clone(),
                    pdt_ms,
                    epoch_start_ticks: self.to_video_ticks(epoch_start),
                    epoch_pdt_ms: pdt_ms.map(|p| p - (s.start_ms - epoch_start)),
                    duration: s.entry.duration,
                    tracks: s.tracks.clone(),
                    spans: s.spans.clone(),
                }
            })
            .collect()
    }

    /// The variant entry for the multivariant playlist, once a segment exists.
    pub fn variant(&self, uri: &str) -> Option<Variant> {
        let segs: Vec<&Segment> = self.segments.iter().rev().take(self.window).collect();
        if segs.is_empty() {
            return None;
        }
        let rates: Vec<f64> = segs
            .iter()
            .filter(|s| s.entry.duration > 0.1)
            .map(|s| s.data.len() as f64 * 8.0 / s.entry.duration)
            .collect();
        let peak = rates.iter().copied().fold(0.0, f64::max);
        let total_bytes: usize = segs.iter().map(|s| s.data.len()).sum();
        let total_dur: f64 = segs.iter().map(|s| s.entry.duration).sum();
        let avg = if total_dur > 0.0 {
            total_bytes as f64 * 8.0 / total_dur
        } else {
            peak
        };
        let frames: u32 = segs.iter().map(|s| s.video_frames).sum();
        let mut codecs = Vec::new();
        if let Some(v) = &self.avc {
            codecs.push(v.codec_string());
        }
        if let Some(a) = &self.aac {
            codecs.push(a.codec_string());
        }
        let frame_rate = self.avc.as_ref().map(|v| {
            if frames > 0 && total_dur > 0.0 {
                (frames as f64 / total_dur * 1000.0).round() / 1000.0
            } else {
                v.fps.unwrap_or(30.0)
            }
        });
        Some(Variant {
            bandwidth: (peak.max(avg) * 1.1) as u64 + 1,
            average_bandwidth: Some(avg as u64 + 1),
            codecs,
            resolution: self.avc.as_ref().map(|v| (v.width, v.height)),
            frame_rate,
            uri: uri.into(),
        })
    }
}
