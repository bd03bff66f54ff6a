//! In-process ABR transcoding with ffmpeg-next (libavcodec + libswscale):
//! the source is decoded once, each frame is scaled per rung and encoded
//! (libx264 `zerolatency`, closed GOP, VBV-capped), and keyframes are forced
//! at the source keyframes' timestamps so every rendition's segments and
//! parts start at the same PTS as the source's. Audio (AAC) is not
//! re-encoded: each rung carries the source's audio frames.
//!
//! The output is link messages, one stream per rung, which the stream task
//! feeds to one segmenter per rung exactly as it feeds the source's.
//! Synchronous and CPU-bound: it runs on its own thread (registry.rs).

use bytes::Bytes;
use ff::codec::{self, Id};
use ff::format::Pixel;
use ff::software::scaling;
use ff::util::frame::video::Video as VideoFrame;
use ff::util::picture;
use ffmpeg_next as ff;
use stage_core::config::Rung;
use stage_media::avc::{self, AvcConfig};
use stage_media::link::{Frame, LinkMessage};
use stage_media::llhls::SwitchPoints;
use std::collections::HashMap;
use std::sync::Once;

/// A transcoding failure (the stream's passthrough goes on without rungs).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TranscodeError(pub String);

fn err(what: &str, e: impl std::fmt::Display) -> TranscodeError {
    TranscodeError(format!("{what}: {e}"))
}

/// What a decoded frame needs from the packet it came from.
#[derive(Clone, Copy)]
struct Meta {
    keyframe: bool,
    wallclock_ms: i64,
}

struct ActiveRung {
    index: usize,
    width: u32,
    height: u32,
    scaler: Option<scaling::Context>,
    encoder: ff::encoder::video::Encoder,
    /// The encoder's avcC, sent before its first frame.
    config: Option<Bytes>,
    config_sent: bool,
    /// Which encoder is in use (libx264, or the configured hardware one).
    pub encoder_name: String,
}

/// One stream's decoder and rung encoders.
pub struct Transcoder {
    rungs: Vec<Rung>,
    default_preset: String,
    decoder: Option<ff::decoder::Video>,
    length_size: usize,
    parameter_sets: Vec<Bytes>,
    source: Option<(u32, u32)>,
    fps: f64,
    active: Vec<ActiveRung>,
    pending: HashMap<i64, Meta>,
    audio_config: Option<Bytes>,
    /// Skip video until the next keyframe (after a dropped input frame).
    resync: bool,
    switch: SwitchPoints,
}

/// Rungs worth making from a `source_height` source: never an upscale, and
/// none at or above the source (passthrough already serves that).
pub fn rungs_for(rungs: &[Rung], source_height: u32) -> Vec<usize> {
    (0..rungs.len())
        .filter(|&i| rungs[i].height < source_height)
        .collect()
}

/// Output size for a rung: its height, the source's aspect ratio, both even.
pub fn scaled_size(source: (u32, u32), height: u32) -> (u32, u32) {
    let half_w = source.0 as f64 * height as f64 / source.1.max(1) as f64 / 2.0;
    ((half_w.round() as u32).max(1) * 2, (height + 1) & !1)
}

fn init_ffmpeg() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = ff::init();
        ff::util::log::set_level(ff::util::log::Level::Error);
    });
}

impl Transcoder {
    pub fn new(rungs: Vec<Rung>, default_preset: &str) -> Transcoder {
        init_ffmpeg();
        Transcoder {
            rungs,
            default_preset: default_preset.to_string(),
            decoder: None,
            length_size: 4,
            parameter_sets: Vec::new(),
            source: None,
            fps: 30.0,
            active: Vec::new(),
            pending: HashMap::new(),
            audio_config: None,
            resync: false,
            switch: SwitchPoints::new(0, 0.0, 0.0),
        }
    }

    /// Adds keyframes between the source's (see [`SwitchPoints`]).
    pub fn with_switch_points(mut self, switch: SwitchPoints) -> Transcoder {
        self.switch = switch;
        self
    }

    /// Names of the rungs being made now, with the encoder each uses.
    pub fn active(&self) -> Vec<(usize, String)> {
        self.active
            .iter()
            .map(|r| (r.index, r.encoder_name.clone()))
            .collect()
    }

    /// Stops making the lowest active rung (back-pressure); returns its
    /// index.
    pub fn drop_lowest(&mut self) -> Option<usize> {
        let lowest = (0..self.active.len()).min_by_key(|&i| self.active[i].height)?;
        Some(self.active.remove(lowest).index)
    }

    /// After input was lost: decode again from the next keyframe.
    pub fn resync(&mut self) {
        self.resync = true;
    }

    /// Feeds one link message; returns (rung index, message) for each rung.
    pub fn push(&mut self, msg: &LinkMessage) -> Result<Vec<(usize, LinkMessage)>, TranscodeError> {
        let mut out = Vec::new();
        match msg {
            LinkMessage::VideoConfig(record) => self.configure(record, &mut out)?,
            LinkMessage::AudioConfig(asc) => {
                self.audio_config = Some(asc.clone());
                for r in &self.active {
                    out.push((r.index, msg.clone()));
                }
            }
            // A rung's audio starts with its video (its first keyframe), as
            // the source's does.
            LinkMessage::Audio(_) => {
                for r in self.active.iter().filter(|r| r.config_sent) {
                    out.push((r.index, msg.clone()));
                }
            }
            LinkMessage::Discontinuity | LinkMessage::End(_) => {
                for r in &self.active {
                    out.push((r.index, msg.clone()));
                }
            }
            LinkMessage::Start(_) => {}
            LinkMessage::Video(f) => self.video(f, &mut out)?,
        }
        Ok(out)
    }

    fn configure(
        &mut self,
        record: &Bytes,
        out: &mut Vec<(usize, LinkMessage)>,
    ) -> Result<(), TranscodeError> {
        let cfg = AvcConfig::parse(record.clone()).map_err(|e| err("video config", e))?;
        let (sps, pps) = avc::parameter_sets(record).map_err(|e| err("video config", e))?;
        self.parameter_sets = sps.into_iter().chain(pps).collect();
        self.length_size = cfg.nalu_length_size;
        if let Some(f) = cfg.fps {
            self.fps = f;
        }
        let size = (cfg.width, cfg.height);
        if self.decoder.is_none() || self.source != Some(size) {
            let mut ctx = codec::Context::new_with_codec(
                ff::decoder::find(Id::H264)
                    .ok_or_else(|| TranscodeError("no H.264 decoder".into()))?,
            );
            // Slice threads: frame threads would delay every frame.
            ctx.set_threading(codec::threading::Config {
                kind: codec::threading::Type::Slice,
                count: 0,
                ..Default::default()
            });
            self.decoder = Some(ctx.decoder().video().map_err(|e| err("H.264 decoder", e))?);
            self.pending.clear();
            // New source size: new encoders (new SPS per rung). The first
            // picks the rungs below the source; after that the same rungs
            // go on (players hold the renditions they were given), each
            // capped at the new source's height: never an upscale.
            let wanted: Vec<usize> = if self.source.is_none() {
                rungs_for(&self.rungs, cfg.height)
            } else {
                self.active.iter().map(|r| r.index).collect()
            };
            self.active.clear();
            for i in wanted {
                let rung = self.open_rung(i, size)?;
                if let Some(asc) = &self.audio_config {
                    out.push((i, LinkMessage::AudioConfig(asc.clone())));
                }
                self.active.push(rung);
            }
            self.source = Some(size);
        }
        self.resync = true;
        Ok(())
    }

    fn open_rung(&self, index: usize, source: (u32, u32)) -> Result<ActiveRung, TranscodeError> {
        let rung = &self.rungs[index];
        let (width, height) = scaled_size(source, rung.height.min(source.1));
        if let Some(hw) = rung.encoder.as_deref().filter(|e| *e != "libx264") {
            match self.open_encoder(hw, rung, width, height) {
                Ok(e) => {
                    tracing::info!(rung = %rung.name, encoder = hw, "rung uses the hardware encoder");
                    return Ok(self.rung(index, width, height, e, hw));
                }
                Err(e) => {
                    tracing::warn!(rung = %rung.name, encoder = hw, cause = %e, "hardware encoder unavailable; falling back to libx264");
                }
            }
        }
        let e = self
            .open_encoder("libx264", rung, width, height)
            .map_err(|e| err(&format!("libx264 for rung {}", rung.name), e))?;
        Ok(self.rung(index, width, height, e, "libx264"))
    }

    fn rung(
        &self,
        index: usize,
        width: u32,
        height: u32,
        encoder: ff::encoder::video::Encoder,
        name: &str,
    ) -> ActiveRung {
        // With GLOBAL_HEADER the parameter sets are the encoder's extradata.
        let config = unsafe {
            let c = encoder.as_ptr();
            if (*c).extradata.is_null() || (*c).extradata_size <= 0 {
                None
            } else {
                let ex = std::slice::from_raw_parts((*c).extradata, (*c).extradata_size as usize);
                avc::record_from_annex_b(ex).ok()
            }
        };
        ActiveRung {
            index,
            width,
            height,
            scaler: None,
            encoder,
            config,
            config_sent: false,
            encoder_name: name.to_string(),
        }
    }

    fn open_encoder(
        &self,
        name: &str,
        rung: &Rung,
        width: u32,
        height: u32,
    ) -> Result<ff::encoder::video::Encoder, TranscodeError> {
        let codec = ff::encoder::find_by_name(name)
            .ok_or_else(|| TranscodeError(format!("encoder {name} not built into this FFmpeg")))?;
        let mut enc = codec::Context::new_with_codec(codec)
            .encoder()
            .video()
            .map_err(|e| err(name, e))?;
        let fps = rung.fps.map_or(self.fps, |f| f.min(self.fps));
        enc.set_width(width);
        enc.set_height(height);
        enc.set_format(Pixel::YUV420P);
        enc.set_time_base((1, 1000));
        enc.set_frame_rate(Some(ff::Rational::new((fps * 1000.0).round() as i32, 1000)));
        let bps = rung.video_bitrate_kbps as usize * 1000;
        enc.set_bit_rate(bps);
        enc.set_max_bit_rate(bps);
        // Keyframes come only where the source has them (forced below).
        enc.set_gop(100_000);
        enc.set_max_b_frames(0);
        enc.set_flags(codec::Flags::GLOBAL_HEADER);
        let mut opts = ff::Dictionary::new();
        if name == "libx264" {
            opts.set(
                "preset",
                rung.preset.as_deref().unwrap_or(&self.default_preset),
            );
            opts.set("tune", "zerolatency");
            opts.set("forced-idr", "1");
            let kbps = rung.video_bitrate_kbps;
            opts.set(
                "x264-params",
                &format!("scenecut=0:open-gop=0:vbv-maxrate={kbps}:vbv-bufsize={kbps}"),
            );
        } else {
            opts.set("forced-idr", "1");
            opts.set("zerolatency", "1");
        }
        enc.open_with(opts).map_err(|e| err(name, e))
    }

    fn video(
        &mut self,
        f: &Frame,
        out: &mut Vec<(usize, LinkMessage)>,
    ) -> Result<(), TranscodeError> {
        if self.active.is_empty() {
            return Ok(());
        }
        if self.resync {
            if !f.keyframe {
                return Ok(());
            }
            self.resync = false;
        }
        let Some(dec) = self.decoder.as_mut() else {
            return Ok(());
        };
        let prefix: &[Bytes] = if f.keyframe {
            &self.parameter_sets
        } else {
            &[]
        };
        let annex_b =
            avc::to_annex_b(&f.data, self.length_size, prefix).map_err(|e| err("frame", e))?;
        let mut packet = ff::Packet::copy(&annex_b);
        let pts = f.dts_ms + f.cts_ms as i64;
        packet.set_pts(Some(pts));
        packet.set_dts(Some(f.dts_ms));
        if f.keyframe {
            packet.set_flags(ff::packet::Flags::KEY);
        }
        self.pending.insert(
            pts,
            Meta {
                keyframe: f.keyframe,
                wallclock_ms: f.wallclock_ms,
            },
        );
        if let Err(e) = dec.send_packet(&packet) {
            // A broken frame: skip to the next keyframe rather than end.
            tracing::debug!(cause = %e, "decoder refused a frame");
            self.resync = true;
            return Ok(());
        }
        let mut decoded = VideoFrame::empty();
        while dec.receive_frame(&mut decoded).is_ok() {
            let pts = decoded.pts().or(decoded.timestamp()).unwrap_or(pts);
            let mut meta = self.pending.remove(&pts).unwrap_or(Meta {
                keyframe: false,
                wallclock_ms: f.wallclock_ms,
            });
            meta.keyframe = self
                .switch
                .keyframe(pts, meta.keyframe, 1000.0 / self.fps.max(1.0));
            // Forget anything older (frames the decoder dropped).
            self.pending.retain(|k, _| *k > pts);
            for rung in &mut self.active {
                encode(rung, &decoded, pts, meta, out)?;
            }
        }
        Ok(())
    }
}

/// A JPEG of one keyframe (`record` is the stream's avcC), `width` pixels
/// wide at most (never upscaled). Decodes just that frame: cheap enough to
/// run every few seconds for streams that are not transcoded.
pub fn thumbnail(record: &Bytes, keyframe: &Frame, width: u32) -> Result<Bytes, TranscodeError> {
    init_ffmpeg();
    let cfg = AvcConfig::parse(record.clone()).map_err(|e| err("video config", e))?;
    let (sps, pps) = avc::parameter_sets(record).map_err(|e| err("video config", e))?;
    let ps: Vec<Bytes> = sps.into_iter().chain(pps).collect();
    let annex_b =
        avc::to_annex_b(&keyframe.data, cfg.nalu_length_size, &ps).map_err(|e| err("frame", e))?;
    let mut dec = codec::Context::new_with_codec(
        ff::decoder::find(Id::H264).ok_or_else(|| TranscodeError("no H.264 decoder".into()))?,
    )
    .decoder()
    .video()
    .map_err(|e| err("H.264 decoder", e))?;
    let mut packet = ff::Packet::copy(&annex_b);
    packet.set_pts(Some(0));
    packet.set_dts(Some(0));
    packet.set_flags(ff::packet::Flags::KEY);
    dec.send_packet(&packet).map_err(|e| err("decode", e))?;
    dec.send_eof().map_err(|e| err("decode", e))?;
    let mut frame = VideoFrame::empty();
    dec.receive_frame(&mut frame)
        .map_err(|e| err("decode", e))?;
    let w = width.min(frame.width()).max(2) & !1;
    let h = ((frame.height() as u64 * w as u64 / frame.width().max(1) as u64) as u32).max(2) & !1;
    let mut scaler = scaling::Context::get(
        frame.format(),
        frame.width(),
        frame.height(),
        Pixel::YUVJ420P,
        w,
        h,
        scaling::Flags::BILINEAR,
    )
    .map_err(|e| err("scaler", e))?;
    let mut small = VideoFrame::empty();
    scaler
        .run(&frame, &mut small)
        .map_err(|e| err("scale", e))?;
    small.set_pts(Some(0));
    let mut enc = codec::Context::new_with_codec(
        ff::encoder::find(Id::MJPEG).ok_or_else(|| TranscodeError("no JPEG encoder".into()))?,
    )
    .encoder()
    .video()
    .map_err(|e| err("JPEG encoder", e))?;
    enc.set_width(w);
    enc.set_height(h);
    enc.set_format(Pixel::YUVJ420P);
    enc.set_time_base((1, 25));
    let mut enc = enc.open().map_err(|e| err("JPEG encoder", e))?;
    enc.send_frame(&small).map_err(|e| err("JPEG", e))?;
    enc.send_eof().map_err(|e| err("JPEG", e))?;
    let mut out = ff::Packet::empty();
    enc.receive_packet(&mut out).map_err(|e| err("JPEG", e))?;
    Ok(Bytes::copy_from_slice(out.data().unwrap_or_default()))
}

fn encode(
    rung: &mut ActiveRung,
    input: &VideoFrame,
    pts: i64,
    meta: Meta,
    out: &mut Vec<(usize, LinkMessage)>,
) -> Result<(), TranscodeError> {
    let scaler = match &mut rung.scaler {
        Some(s)
            if s.input().width == input.width()
                && s.input().height == input.height()
                && s.input().format == input.format() =>
        {
            s
        }
        slot => slot.insert(
            scaling::Context::get(
                input.format(),
                input.width(),
                input.height(),
                Pixel::YUV420P,
                rung.width,
                rung.height,
                scaling::Flags::BILINEAR,
            )
            .map_err(|e| err("scaler", e))?,
        ),
    };
    let mut scaled = VideoFrame::empty();
    scaler
        .run(input, &mut scaled)
        .map_err(|e| err("scale", e))?;
    scaled.set_pts(Some(pts));
    scaled.set_kind(if meta.keyframe {
        picture::Type::I
    } else {
        picture::Type::None
    });
    rung.encoder
        .send_frame(&scaled)
        .map_err(|e| err("encode", e))?;
    let mut packet = ff::Packet::empty();
    while rung.encoder.receive_packet(&mut packet).is_ok() {
        let Some(data) = packet.data() else { continue };
        if !rung.config_sent {
            let config = rung
                .config
                .clone()
                .or_else(|| avc::record_from_annex_b(data).ok())
                .ok_or_else(|| TranscodeError("encoder gave no SPS/PPS".into()))?;
            out.push((rung.index, LinkMessage::VideoConfig(config)));
            rung.config_sent = true;
        }
        let pts = packet.pts().unwrap_or(pts);
        out.push((
            rung.index,
            LinkMessage::Video(Frame {
                dts_ms: packet.dts().unwrap_or(pts),
                cts_ms: (pts - packet.dts().unwrap_or(pts)) as i32,
                keyframe: packet.is_key(),
                wallclock_ms: meta.wallclock_ms,
                data: avc::to_length_prefixed(data),
            }),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use stage_core::config::default_ladders;
    use stage_media::llhls::{Segmenter, SwitchPoints};

    fn flv_messages(path: &std::path::Path) -> Vec<LinkMessage> {
        stage_media::flv::file_messages(&std::fs::read(path).unwrap(), 1_000_000).unwrap()
    }

    fn clip(dir: &std::path::Path, size: &str, bframes: u32) -> std::path::PathBuf {
        let path = dir.join(format!("{size}-{bframes}.flv"));
        let st = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!("testsrc2=size={size}:rate=30"))
            .args([
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=48000",
                "-t",
                "6",
            ])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-g",
                "60",
                "-sc_threshold",
                "0",
            ])
            .args([
                "-bf",
                &bframes.to_string(),
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
                "-f",
                "flv",
            ])
            .arg(&path)
            .status()
            .expect("ffmpeg (scripts/setup.sh installs it)");
        assert!(st.success());
        path
    }

    /// Segment and part durations of a segmenter, and its picture size.
    fn layout(s: &Segmenter) -> Vec<(f64, Vec<f64>)> {
        s.held()
            .map(|seg| {
                (
                    seg.entry.duration,
                    seg.parts.iter().map(|p| p.entry.duration).collect(),
                )
            })
            .collect()
    }

    /// A rung's name, segmenter and keyframe PTS.
    type RungRun = (String, Segmenter, Vec<i64>);

    /// `switch_ms`: the switch-point interval (0: none).
    fn run(size: &str, bframes: u32, switch_ms: f64) -> (Segmenter, Vec<RungRun>, Vec<i64>) {
        let dir = tempfile::tempdir().unwrap();
        let msgs = flv_messages(&clip(dir.path(), size, bframes));
        let ladder = default_ladders()["default"].clone();
        let mut t = Transcoder::new(ladder.rungs.clone(), &ladder.preset)
            .with_switch_points(SwitchPoints::new(2000, 200.0, switch_ms));
        let mut source = Segmenter::new(1, 2000, 200, 100, 0);
        let mut rungs: Vec<RungRun> = ladder
            .rungs
            .iter()
            .map(|r| {
                (
                    r.name.clone(),
                    Segmenter::new(1, 2000, 200, 100, 0),
                    Vec::new(),
                )
            })
            .collect();
        let mut source_keys = Vec::new();
        for m in &msgs {
            if let LinkMessage::Video(f) = m
                && f.keyframe
            {
                source_keys.push(f.dts_ms + f.cts_ms as i64);
            }
            source.push(m.clone()).unwrap();
            for (i, out) in t.push(m).unwrap() {
                if let LinkMessage::Video(f) = &out
                    && f.keyframe
                {
                    rungs[i].2.push(f.dts_ms + f.cts_ms as i64);
                }
                rungs[i].1.push(out).unwrap();
            }
        }
        source.finish();
        for r in &mut rungs {
            r.1.finish();
        }
        (source, rungs, source_keys)
    }

    #[test]
    fn rungs_below_the_source_are_made_aligned_with_it() {
        let (source, rungs, keys) = run("1280x720", 0, 0.0);
        let src = layout(&source);
        assert!(src.len() >= 3, "{src:?}");
        let made: Vec<&RungRun> = rungs.iter().filter(|r| r.1.held().count() > 0).collect();
        let names: Vec<&str> = made.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(names, ["480p", "360p"], "no 720p rung from a 720p source");
        for (name, seg, rung_keys) in made {
            assert_eq!(
                rung_keys, &keys,
                "{name}: keyframes where the source has them"
            );
            assert_eq!(
                layout(seg),
                src,
                "{name}: segments and parts as the source's"
            );
            let v = seg.variant("x").unwrap();
            let want = if name == "480p" {
                (854, 480)
            } else {
                (640, 360)
            };
            assert_eq!(v.resolution, Some(want), "{name}");
            assert!(v.codecs[0].starts_with("avc1."), "{:?}", v.codecs);
            assert_eq!(
                v.codecs.len(),
                2,
                "{name} carries the audio: {:?}",
                v.codecs
            );
        }
    }

    #[test]
    fn a_source_with_b_frames_is_aligned_by_presentation_time() {
        let (source, rungs, keys) = run("854x480", 2, 0.0);
        let r360 = rungs.iter().find(|r| r.0 == "360p").unwrap();
        assert_eq!(r360.2, keys);
        assert!(rungs.iter().filter(|r| r.1.held().count() > 0).count() == 1);
        assert_eq!(source.held().count(), r360.1.held().count());
    }

    /// With switch points the rungs have more keyframes than the source,
    /// each opening a part, and the same segments and parts.
    #[test]
    fn switch_points_keep_segments_and_parts_aligned() {
        let (source, rungs, keys) = run("1280x720", 0, 600.0);
        let src = layout(&source);
        for (name, seg, rung_keys) in rungs.iter().filter(|r| r.1.held().count() > 0) {
            assert_eq!(
                layout(seg),
                src,
                "{name}: segments and parts as the source's"
            );
            assert!(keys.iter().all(|k| rung_keys.contains(k)), "{name}");
            assert!(
                rung_keys.len() >= 3 * keys.len() - 2,
                "{name}: {rung_keys:?}"
            );
            let independent = seg
                .held()
                .flat_map(|s| s.parts.iter())
                .filter(|p| p.entry.independent)
                .count();
            assert!(
                independent >= rung_keys.len() - 1,
                "{name}: {independent} independent parts"
            );
        }
    }

    #[test]
    fn a_new_source_resolution_mid_stream_keeps_the_rungs_going() {
        let dir = tempfile::tempdir().unwrap();
        let first = flv_messages(&clip(dir.path(), "1280x720", 0));
        let second = flv_messages(&clip(dir.path(), "854x480", 0));
        let ladder = default_ladders()["default"].clone();
        let mut t = Transcoder::new(ladder.rungs.clone(), &ladder.preset);
        let mut r360 = Segmenter::new(1, 2000, 200, 100, 0);
        let mut configs = Vec::new();
        // The second clip continues the first's timeline, with a new SPS
        // (OBS changing its output resolution without reconnecting).
        let end = first
            .iter()
            .filter_map(|m| match m {
                LinkMessage::Video(f) | LinkMessage::Audio(f) => Some(f.dts_ms),
                _ => None,
            })
            .max()
            .unwrap()
            + 40;
        let shifted = second.into_iter().map(|m| match m {
            LinkMessage::Video(mut f) => {
                f.dts_ms += end;
                LinkMessage::Video(f)
            }
            LinkMessage::Audio(mut f) => {
                f.dts_ms += end;
                LinkMessage::Audio(f)
            }
            other => other,
        });
        let mut r480 = Segmenter::new(1, 2000, 200, 100, 0);
        let mut sizes480 = Vec::new();
        for m in first.into_iter().chain(shifted) {
            let outs = t.push(&m).unwrap();
            for (i, out) in outs {
                let config = match &out {
                    LinkMessage::VideoConfig(c) => Some(AvcConfig::parse(c.clone()).unwrap()),
                    _ => None,
                };
                match ladder.rungs[i].name.as_str() {
                    "360p" => {
                        configs.extend(config);
                        r360.push(out).unwrap();
                    }
                    "480p" => {
                        sizes480.extend(config.map(|c| (c.width, c.height)));
                        r480.push(out).unwrap();
                    }
                    other => panic!("rung {other} from a 720p source"),
                }
            }
        }
        r360.finish();
        r480.finish();
        // The 480p rung goes on at the new source's size (players on it
        // are not stranded; nothing is upscaled).
        assert_eq!(sizes480, [(854, 480), (854, 480)]);
        let total: f64 = r480.held().map(|s| s.entry.duration).sum();
        assert!(total > 11.5, "480p covers {total} s of 12");
        // 360p from both sources: a new encoder (its parameter sets sent
        // again; the same bytes here, so the segmenter keeps its init
        // segment) and no gap in the middle.
        assert_eq!(configs.len(), 2);
        assert!(configs.iter().all(|c| (c.width, c.height) == (640, 360)));
        let total: f64 = r360.held().map(|s| s.entry.duration).sum();
        assert!(total > 11.5, "360p covers {total} s of 12");
    }

    /// A configured hardware encoder that cannot open (no GPU here) leaves
    /// the rung on libx264, which still makes every frame. Where the device
    /// exists the hardware one may be used instead.
    #[test]
    fn a_hardware_encoder_that_cannot_open_falls_back_to_libx264() {
        let dir = tempfile::tempdir().unwrap();
        let msgs = flv_messages(&clip(dir.path(), "854x480", 0));
        let mut rungs = default_ladders()["default"].rungs.clone();
        rungs.retain(|r| r.height < 480);
        let mut vaapi = rungs[0].clone();
        vaapi.name = "vaapi".into();
        vaapi.height = 240;
        vaapi.encoder = Some("h264_vaapi".into());
        rungs[0].encoder = Some("h264_nvenc".into());
        rungs.push(vaapi);
        let mut t = Transcoder::new(rungs, "ultrafast");
        let mut frames = [0usize; 2];
        for m in &msgs {
            for (i, out) in t.push(m).unwrap() {
                if matches!(out, LinkMessage::Video(_)) {
                    frames[i] += 1;
                }
            }
        }
        let present = |dev: &str| std::path::Path::new(dev).exists();
        for (i, name) in t.active() {
            let (hw, dev) = [
                ("h264_nvenc", "/dev/nvidia0"),
                ("h264_vaapi", "/dev/dri/renderD128"),
            ][i];
            if !present(dev) {
                assert_eq!(name, "libx264", "rung {i} without {dev}");
            } else {
                assert!(name == "libx264" || name == hw, "{name}");
            }
            assert!(frames[i] >= 170, "rung {i}: {} frames of 180", frames[i]);
        }
        assert_eq!(t.active().len(), 2);
    }

    #[test]
    fn thumbnails_are_jpegs_of_a_keyframe() {
        let dir = tempfile::tempdir().unwrap();
        let msgs = flv_messages(&clip(dir.path(), "1280x720", 0));
        let record = msgs
            .iter()
            .find_map(|m| match m {
                LinkMessage::VideoConfig(r) => Some(r.clone()),
                _ => None,
            })
            .unwrap();
        let key = msgs
            .iter()
            .find_map(|m| match m {
                LinkMessage::Video(f) if f.keyframe => Some(f.clone()),
                _ => None,
            })
            .unwrap();
        let jpeg = thumbnail(&record, &key, 320).unwrap();
        assert_eq!(&jpeg[..3], &[0xff, 0xd8, 0xff], "JPEG magic");
        let path = dir.path().join("t.jpg");
        std::fs::write(&path, &jpeg).unwrap();
        let out = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=codec_name,width,height",
                "-of",
                "csv=p=0",
            ])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "mjpeg,320,180");
        // A delta frame is not a picture on its own.
        let delta = msgs
            .iter()
            .find_map(|m| match m {
                LinkMessage::Video(f) if !f.keyframe => Some(f.clone()),
                _ => None,
            })
            .unwrap();
        assert!(thumbnail(&record, &delta, 320).is_err());
    }

    #[test]
    fn sizes_keep_the_aspect_ratio_and_are_even() {
        assert_eq!(scaled_size((1920, 1080), 720), (1280, 720));
        assert_eq!(scaled_size((1280, 720), 480), (854, 480));
        assert_eq!(scaled_size((1080, 1920), 360), (202, 360));
        let rungs = default_ladders()["default"].rungs.clone();
        assert_eq!(rungs_for(&rungs, 1080), vec![0, 1, 2]);
        assert_eq!(rungs_for(&rungs, 720), vec![1, 2]);
        assert!(rungs_for(&rungs, 360).is_empty());
    }
}
