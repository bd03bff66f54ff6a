//! `stagectl vod export`: one rendition of a recording remuxed into a
//! single MP4 file (no re-encoding), with a progress bar.
//!
//! FFmpeg (ffmpeg-next) does the work: its HLS demuxer reads the VOD
//! playlist and its MP4 muxer writes the file, `+faststart` so it plays
//! while downloading. The segments carry the media; this only keeps each
//! track's timestamps increasing across the recording's discontinuities (a
//! publisher reconnect or a packagerd restart may restart a track's clock),
//! which the MP4 muxer requires.

use ff::Rescale;
use ffmpeg_next as ff;
use std::path::Path;

/// What an export wrote.
pub struct Exported {
    pub bytes: u64,
    pub duration_s: f64,
    pub packets: u64,
}

/// Remuxes the VOD playlist `playlist` (a local file whose segments sit
/// beside it) into the MP4 file `out`; `progress` gets the media seconds
/// written so far.
pub fn remux(playlist: &Path, out: &Path, progress: &dyn Fn(f64)) -> anyhow::Result<Exported> {
    ff::init()?;
    ff::log::set_level(ff::log::Level::Error);
    let mut ictx = ff::format::input(playlist)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", playlist.display()))?;
    let mut octx = ff::format::output_as(out, "mp4")
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
    // Input stream index → (output index, input time base); audio and video only.
    let mut map: Vec<Option<(usize, ff::Rational)>> = Vec::new();
    for ist in ictx.streams() {
        let kind = ist.parameters().medium();
        if kind != ff::media::Type::Video && kind != ff::media::Type::Audio {
            map.push(None);
            continue;
        }
        let mut ost = octx.add_stream(ff::encoder::find(ff::codec::Id::None))?;
        ost.set_parameters(ist.parameters());
        // The input's codec tag is the fragmented file's; let the muxer
        // choose its own.
        unsafe {
            (*ost.parameters().as_mut_ptr()).codec_tag = 0;
        }
        map.push(Some((ost.index(), ist.time_base())));
    }
    if map.iter().all(Option::is_none) {
        anyhow::bail!("{}: no audio or video", playlist.display());
    }
    let mut opts = ff::Dictionary::new();
    opts.set("movflags", "+faststart");
    octx.write_header_with(opts)?;
    let tbs: Vec<ff::Rational> = octx.streams().map(|s| s.time_base()).collect();
    // Per output track: the shift applied, the last DTS written and the
    // last packet's duration (all in the output time base).
    // The file starts at 0: the recording's clock may not (a resumed
    // stream's does not), and MP4 would keep the offset as an empty edit.
    let start_us = unsafe { (*ictx.as_ptr()).start_time };
    let start_us = if start_us == ff::ffi::AV_NOPTS_VALUE {
        0
    } else {
        start_us
    };
    let mut shift: Vec<i64> = tbs
        .iter()
        .map(|tb| -start_us.rescale(ff::rescale::TIME_BASE, *tb))
        .collect();
    let mut last: Vec<Option<(i64, i64)>> = vec![None; tbs.len()];
    let mut start: Option<f64> = None;
    let mut end = 0f64;
    let mut packets = 0u64;
    for (ist, mut pkt) in ictx.packets() {
        let Some(Some((o, itb))) = map.get(ist.index()).copied() else {
            continue;
        };
        pkt.rescale_ts(itb, tbs[o]);
        pkt.set_position(-1);
        pkt.set_stream(o);
        let dur = pkt.duration().max(1);
        if let Some(dts) = pkt.dts().or(pkt.pts()) {
            if let Some((prev, prev_dur)) = last[o]
                && dts + shift[o] <= prev
            {
                shift[o] = prev + prev_dur - dts;
            }
            let d = dts + shift[o];
            pkt.set_dts(Some(d));
            pkt.set_pts(pkt.pts().map(|p| p + shift[o]));
            last[o] = Some((d, dur));
            let tb = tbs[o];
            let at = |t: i64| t as f64 * tb.numerator() as f64 / tb.denominator() as f64;
            let first = *start.get_or_insert(at(d));
            start = Some(first.min(at(d)));
            if at(d + dur) > end {
                end = at(d + dur);
                progress(end - first);
            }
        }
        pkt.write_interleaved(&mut octx)?;
        packets += 1;
    }
    octx.write_trailer()?;
    let bytes = std::fs::metadata(out)?.len();
    Ok(Exported {
        bytes,
        duration_s: end - start.unwrap_or(0.0),
        packets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn probe(file: &Path) -> serde_json::Value {
        let out = Command::new("ffprobe")
            .args(["-v", "error", "-of", "json", "-show_entries"])
            .arg("stream=codec_type,nb_frames:format=duration,format_name,start_time")
            .arg(file)
            .output()
            .expect("ffprobe (scripts/setup.sh installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    #[test]
    fn an_fmp4_vod_playlist_starting_late_becomes_an_mp4_starting_at_zero() {
        let dir = tempfile::tempdir().unwrap();
        // 4 s of fMP4 HLS whose clock starts at 10 s, as a resumed
        // stream's recording does.
        let st = Command::new("ffmpeg")
            .current_dir(dir.path())
            .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i"])
            .arg("testsrc2=size=320x240:rate=30")
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
            .args([
                "-t", "4", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "30",
            ])
            .args(["-c:a", "aac", "-output_ts_offset", "10", "-f", "hls"])
            .args(["-hls_segment_type", "fmp4", "-hls_time", "1"])
            .args(["-hls_playlist_type", "vod", "vod.m3u8"])
            .status()
            .expect("ffmpeg (scripts/setup.sh installs it)");
        assert!(st.success());
        let out = dir.path().join("out.mp4");
        let seen = std::sync::Mutex::new(Vec::new());
        let done = remux(&dir.path().join("vod.m3u8"), &out, &|s| {
            seen.lock().unwrap().push(s)
        })
        .unwrap();
        assert!((done.duration_s - 4.0).abs() < 0.1, "{}", done.duration_s);
        let v = probe(&out);
        assert!(
            v["format"]["format_name"].as_str().unwrap().contains("mp4"),
            "{v}"
        );
        let d: f64 = v["format"]["duration"].as_str().unwrap().parse().unwrap();
        assert!((d - 4.0).abs() < 0.1, "{v}");
        let video = v["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["codec_type"] == "video")
            .unwrap();
        assert_eq!(video["nb_frames"], "120", "{v}");
        assert_eq!(std::fs::metadata(&out).unwrap().len(), done.bytes);
        // Progress rose to the end.
        let seen = seen.into_inner().unwrap();
        assert!(seen.windows(2).all(|w| w[1] >= w[0]) && seen.len() > 10);
        assert!((seen.last().unwrap() - 4.0).abs() < 0.1, "{seen:?}");
    }

    #[test]
    fn a_missing_playlist_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = remux(
            &dir.path().join("nope.m3u8"),
            &dir.path().join("o.mp4"),
            &|_| {},
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("cannot read") && e.contains("nope.m3u8"), "{e}");
    }
}
