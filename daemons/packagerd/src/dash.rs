//! The DASH manifest of a stream: every rendition's held segments, described
//! per track (`stage_media::dash`), pointing at per-track copies that
//! `http` cuts from the very segments HLS serves (`.t{track}.m4s`).

use crate::registry::Snapshot;
use stage_media::dash::{Media, Mpd, Period, Representation};
use stage_media::fmp4::{Track, TrackConfig};
use stage_media::llhls::DashSegment;

/// Suffix of a per-track copy of a segment or init: `NAME.t{ID}.m4s`.
pub fn track_file(file: &str) -> Option<(String, u32)> {
    let (stem, ext) = file.rsplit_once('.')?;
    let (base, track) = stem.rsplit_once(".t")?;
    let id: u32 = track.parse().ok()?;
    matches!(ext, "m4s" | "mp4").then(|| (format!("{base}.{ext}"), id))
}

fn track_of(tracks: &[Track], video: bool) -> Option<&Track> {
    tracks
        .iter()
        .find(|t| matches!(t.config, TrackConfig::Video(_)) == video)
}

/// `{rendition}/{uri with $Number$ for the sequence number}.t{id}.m4s`.
fn media_template(rendition: &str, seg: &DashSegment, id: u32) -> Option<String> {
    let prefix = seg.uri.strip_suffix(&format!("{}.m4s", seg.seq))?;
    Some(format!("{rendition}/{prefix}$Number$.t{id}.m4s"))
}

fn init_file(rendition: &str, seg: &DashSegment, id: u32) -> Option<String> {
    let stem = seg.map_uri.strip_suffix(".mp4")?;
    Some(format!("{rendition}/{stem}.t{id}.mp4"))
}

/// One track of one rendition over `segs` (one init, one timeline), with
/// its timeline shifted by `shift` (ticks of the source's clock to this
/// rendition's) and `pto` (the period's start in the source's video ticks).
fn representation(
    id: String,
    rendition: &str,
    segs: &[&DashSegment],
    video: bool,
    pto_video_ticks: u64,
    frame_rate: Option<f64>,
) -> Option<Representation> {
    let first = segs.first()?;
    let track = track_of(&first.tracks, video)?;
    let timeline: Vec<(u64, u64)> = segs
        .iter()
        .filter_map(|s| s.spans.iter().find(|x| x.track_id == track.id))
        .map(|x| (x.base, x.duration))
        .collect();
    if timeline.len() != segs.len() {
        return None;
    }
    let bandwidth = segs
        .iter()
        .filter_map(|s| s.spans.iter().find(|x| x.track_id == track.id))
        .filter(|x| x.duration > 0)
        .map(|x| x.bytes * 8 * track.timescale as u64 / x.duration.max(1))
        .max()
        .unwrap_or(0)
        .max(1);
    let (codecs, media) = match &track.config {
        TrackConfig::Video(v) => (
            v.codec_string(),
            Media::Video {
                width: v.width,
                height: v.height,
                frame_rate: frame_rate.or(v.fps).unwrap_or(30.0),
            },
        ),
        TrackConfig::Audio(a) => (
            a.codec_string(),
            Media::Audio {
                sample_rate: a.sample_rate,
                channels: a.channels,
            },
        ),
    };
    Some(Representation {
        id,
        codecs,
        bandwidth,
        media,
        timescale: track.timescale,
        presentation_time_offset: (pto_video_ticks as u128 * track.timescale as u128 / 90_000)
            as u64,
        start_number: first.seq,
        initialization: init_file(rendition, first, track.id)?,
        media_template: media_template(rendition, first, track.id)?,
        timeline,
    })
}

/// The MPD for the source (first) and its rungs, or None before the first
/// segment. `target_s` is the target duration.
pub fn manifest(
    renditions: &[(&str, &Snapshot)],
    started_at_ms: i64,
    now_ms: i64,
    target_s: f64,
) -> Option<Mpd> {
    let (_, source) = renditions.first()?;
    let segs = &source.dash;
    if segs.is_empty() {
        return None;
    }
    // A period per run of segments with one timeline and one init.
    let mut runs: Vec<&[DashSegment]> = Vec::new();
    let mut from = 0;
    for i in 1..=segs.len() {
        let split = i == segs.len()
            || segs[i].epoch != segs[i - 1].epoch
            || segs[i].init_id != segs[i - 1].init_id;
        if split {
            runs.push(&segs[from..i]);
            from = i;
        }
    }
    let ast = started_at_ms;
    let mut periods = Vec::new();
    for run in runs {
        let first = &run[0];
        let Some(epoch_pdt) = first.epoch_pdt_ms else {
            continue;
        };
        let (lo, hi) = (first.seq, run[run.len() - 1].seq);
        // The period starts where its timeline began (stable as the window
        // slides), so `pto` is that instant in each track's timescale.
        let pto = first.epoch_start_ticks;
        let src_video = |seq: u64| -> Option<u64> {
            let s = run.iter().find(|s| s.seq == seq)?;
            let t = track_of(&s.tracks, true)?;
            s.spans.iter().find(|x| x.track_id == t.id).map(|x| x.base)
        };
        let mut video = Vec::new();
        for (name, snap) in renditions {
            let mine: Vec<&DashSegment> = snap
                .dash
                .iter()
                .filter(|s| s.seq >= lo && s.seq <= hi)
                .collect();
            // One init per representation: the newest's.
            let Some(init) = mine.last().map(|s| s.init_id) else {
                continue;
            };
            let mine: Vec<&DashSegment> = mine.into_iter().filter(|s| s.init_id == init).collect();
            // Renditions are aligned by sequence number: a rung's segment
            // starts where the source's with the same number does, so its
            // period start is found through the source's clock.
            let Some(r_first) = mine.first() else {
                continue;
            };
            let r_base = track_of(&r_first.tracks, true)
                .and_then(|t| r_first.spans.iter().find(|x| x.track_id == t.id))
                .map(|x| x.base);
            let (Some(r_base), Some(s_base)) = (r_base, src_video(r_first.seq)) else {
                continue;
            };
            let r_pto = r_base.saturating_sub(s_base.saturating_sub(pto));
            if let Some(rep) = representation(
                (*name).to_string(),
                name,
                &mine,
                true,
                r_pto,
                snap.frame_rate,
            ) {
                video.push(rep);
            }
        }
        let all: Vec<&DashSegment> = run.iter().collect();
        let audio = representation("audio".into(), "source", &all, false, pto, None)
            .into_iter()
            .collect();
        periods.push(Period {
            id: format!("e{}-i{}", first.epoch, first.init_id),
            start_s: ((epoch_pdt - ast) as f64 / 1000.0).max(0.0),
            video,
            audio,
        });
    }
    if periods.is_empty() {
        return None;
    }
    let window: f64 = segs.iter().map(|s| s.duration).sum();
    let mpd = Mpd {
        availability_start_ms: ast,
        now_ms,
        minimum_update_period_s: (!source.ended).then_some(1.0),
        time_shift_buffer_s: window,
        suggested_presentation_delay_s: 3.0 * target_s,
        max_segment_s: target_s,
        min_buffer_s: target_s,
        periods,
    };
    Some(mpd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_track_file_names() {
        assert_eq!(track_file("s3-12.t1.m4s"), Some(("s3-12.m4s".into(), 1)));
        assert_eq!(
            track_file("s3-init-4.t2.mp4"),
            Some(("s3-init-4.mp4".into(), 2))
        );
        assert_eq!(track_file("s3-12.m4s"), None);
        assert_eq!(track_file("s3-12.tx.m4s"), None);
        assert_eq!(track_file("s3-12.t1.m3u8"), None);
    }

    /// A period per timeline, each starting at its timeline's first date;
    /// video and audio offsets name the same instant.
    #[test]
    fn periods_start_at_each_timelines_first_date() {
        let s = stage_media::testdata::two_timelines();
        let segs = s.dash_segments();
        let mut epochs: Vec<u64> = segs.iter().map(|x| x.epoch).collect();
        epochs.dedup();
        assert_eq!(epochs.len(), 2, "two timelines: {epochs:?}");
        let snap = crate::registry::Snapshot {
            dash: segs.clone(),
            ..Default::default()
        };
        let ast = 990_000;
        let mpd = crate::dash::manifest(&[("source", &snap)], ast, 1_030_000, 2.0)
            .unwrap()
            .render();
        assert_eq!(mpd.matches("<Period ").count(), 2, "{mpd}");
        for epoch in epochs {
            let x = segs.iter().find(|y| y.epoch == epoch).unwrap();
            let start = format!(
                "<Period id=\"e{epoch}-i{}\" start=\"PT{:.3}S\">",
                x.init_id,
                (x.epoch_pdt_ms.unwrap() - ast) as f64 / 1000.0
            );
            assert!(mpd.contains(&start), "{start} in {mpd}");
            // Video and audio offsets name the same instant.
            let v = format!("presentationTimeOffset=\"{}\"", x.epoch_start_ticks);
            let a = format!(
                "presentationTimeOffset=\"{}\"",
                x.epoch_start_ticks * 48_000 / 90_000
            );
            assert!(mpd.contains(&v) && mpd.contains(&a), "{v} {a} in {mpd}");
            let number = format!("startNumber=\"{}\"", x.seq);
            assert!(mpd.contains(&number), "{mpd}");
        }
        assert!(mpd.contains("media=\"source/s7-$Number$.t1.m4s\""), "{mpd}");
        assert!(
            mpd.contains("initialization=\"source/s7-init-0.t2.mp4\""),
            "{mpd}"
        );
    }
}
