//! Feeds a recorded publish (an FLV file) through packagerd's ABR
//! transcoder (`packagerd::transcode`, the code the daemon runs) as fast as
//! it goes, and prints one JSON line: media seconds, wall seconds, CPU
//! seconds (this process, all threads) and frames out per rung.
//!
//! usage: transcode-bench --input clip.flv [--ladder default] [--preset veryfast]

use clap::Parser;
use stage_media::link::LinkMessage;
use std::time::Instant;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    input: std::path::PathBuf,
    /// A ladder of the built-in config.
    #[arg(long, default_value = "default")]
    ladder: String,
    /// Overrides the ladder's x264 preset.
    #[arg(long)]
    preset: Option<String>,
    /// Overrides the ladder's switch interval, ms (0: keyframes only at the source's).
    #[arg(long)]
    switch_interval_ms: Option<f64>,
}

fn cpu_seconds() -> f64 {
    // utime + stime of the whole process, in clock ticks (100 Hz on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |x| x.1);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let data = std::fs::read(&a.input)?;
    let msgs = stage_media::flv::file_messages(&data, 0)?;
    let ladders = stage_core::config::default_ladders();
    let ladder = ladders
        .get(&a.ladder)
        .ok_or_else(|| anyhow::anyhow!("no built-in ladder {}", a.ladder))?;
    let preset = a.preset.unwrap_or_else(|| ladder.preset.clone());
    let media_s = msgs
        .iter()
        .filter_map(|m| match m {
            LinkMessage::Video(f) => Some(f.dts_ms),
            _ => None,
        })
        .max()
        .unwrap_or(0) as f64
        / 1000.0;
    // As packagerd runs it: switch-point keyframes for 2 s segments of 200 ms parts.
    let every_ms = a
        .switch_interval_ms
        .unwrap_or(ladder.switch_interval.0.as_millis() as f64);
    let mut t = packagerd::transcode::Transcoder::new(ladder.rungs.clone(), &preset)
        .with_switch_points(stage_media::llhls::SwitchPoints::new(2000, 200.0, every_ms));
    let mut frames = vec![0u64; ladder.rungs.len()];
    let (c0, w0) = (cpu_seconds(), Instant::now());
    for m in &msgs {
        for (i, out) in t.push(m)? {
            if matches!(out, LinkMessage::Video(_)) {
                frames[i] += 1;
            }
        }
    }
    let (cpu, wall) = (cpu_seconds() - c0, w0.elapsed().as_secs_f64());
    let rungs: serde_json::Map<String, serde_json::Value> = ladder
        .rungs
        .iter()
        .zip(&frames)
        .map(|(r, n)| (r.name.clone(), (*n).into()))
        .collect();
    println!(
        "{}",
        serde_json::json!({
            "media_s": media_s, "wall_s": wall, "cpu_s": cpu, "preset": preset,
            "cpu_per_media_s": cpu / media_s.max(0.001), "speed": media_s / wall.max(0.001),
            "frames": rungs,
        })
    );
    Ok(())
}
