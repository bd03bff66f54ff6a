//! ABR ladders: the rungs made from the source, and the built-in ones.

use super::{Bad, ConfigError, HumanDuration};
use serde::{Deserialize, Serialize};
use std::time::Duration;

use std::collections::BTreeMap;

/// One rendition of an ABR ladder, made from the decoded source.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rung {
    /// Its name in URLs (`/hls/{channel}/{name}/index.m3u8`): letters,
    /// digits, `-` and `_`.
    pub name: String,
    /// Output height in pixels; the width follows the source's aspect ratio.
    /// A rung at or above the source's height is skipped (never upscaled).
    pub height: u32,
    /// Frame-rate cap; the source's rate when lower or unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<f64>,
    /// Video bitrate, kbit/s: the average and the VBV cap (1 s buffer).
    pub video_bitrate_kbps: u32,
    /// x264 preset for this rung; the ladder's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// A hardware encoder to use when present (`h264_nvenc`, `h264_vaapi`);
    /// libx264 when unset or when it cannot be opened (logged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder: Option<String>,
}

/// A named ABR ladder: source passthrough plus these rungs.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Ladder {
    /// x264 preset for rungs that name none.
    #[serde(default = "default_preset")]
    pub preset: String,
    /// Extra keyframes in the rungs between the source's, about this far
    /// apart (whole parts): a player dropping to a rung mid-segment starts
    /// at the last one instead of fetching the segment from its start.
    /// "0s" for none (keyframes only where the source has them).
    #[serde(default = "default_switch_interval")]
    pub switch_interval: HumanDuration,
    #[serde(default)]
    pub rungs: Vec<Rung>,
}

fn default_preset() -> String {
    "veryfast".into()
}

fn default_switch_interval() -> HumanDuration {
    HumanDuration(Duration::from_millis(600))
}

fn rung(name: &str, height: u32, kbps: u32) -> Rung {
    Rung {
        name: name.into(),
        height,
        fps: Some(30.0),
        video_bitrate_kbps: kbps,
        preset: None,
        encoder: None,
    }
}

/// The built-in ladders: `default` (source + 720p30 2.5 Mbit/s + 480p30
/// 1.2 Mbit/s + 360p30 0.7 Mbit/s) and `source` (passthrough only).
pub fn default_ladders() -> BTreeMap<String, Ladder> {
    let mut m = BTreeMap::new();
    m.insert(
        "default".into(),
        Ladder {
            preset: default_preset(),
            switch_interval: default_switch_interval(),
            rungs: vec![
                rung("720p", 720, 2500),
                rung("480p", 480, 1200),
                rung("360p", 360, 700),
            ],
        },
    );
    m.insert(
        "source".into(),
        Ladder {
            preset: default_preset(),
            switch_interval: default_switch_interval(),
            rungs: Vec::new(),
        },
    );
    m
}

/// x264's presets, fastest first.
pub const X264_PRESETS: [&str; 10] = [
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
];

/// Every ladder: names, presets, rungs.
pub(super) fn validate(ladders: &BTreeMap<String, Ladder>, bad: Bad) -> Result<(), ConfigError> {
    for (name, ladder) in ladders {
        let key = |k: &str| format!("ladders.{name}.{k}");
        let ok_name = |n: &str| {
            !n.is_empty()
                && n.len() <= 32
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !ok_name(name) {
            return Err(bad(
                &format!("ladders.{name}"),
                "ladder names are letters, digits, - and _",
            ));
        }
        if !X264_PRESETS.contains(&ladder.preset.as_str()) {
            return Err(bad(
                &key("preset"),
                &format!("must be one of {}", X264_PRESETS.join(", ")),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, r) in ladder.rungs.iter().enumerate() {
            let rk = |k: &str| format!("ladders.{name}.rungs[{i}].{k}");
            if !ok_name(&r.name) || r.name == "source" || !seen.insert(r.name.clone()) {
                return Err(bad(
                    &rk("name"),
                    "letters, digits, - and _; unique in the ladder; not `source`",
                ));
            }
            if !(64..=4320).contains(&r.height) {
                return Err(bad(&rk("height"), "must be between 64 and 4320"));
            }
            if !(50..=100_000).contains(&r.video_bitrate_kbps) {
                return Err(bad(
                    &rk("video_bitrate_kbps"),
                    "must be between 50 and 100000",
                ));
            }
            if r.fps.is_some_and(|f| !(1.0..=240.0).contains(&f)) {
                return Err(bad(&rk("fps"), "must be between 1 and 240"));
            }
            if r.preset
                .as_deref()
                .is_some_and(|p| !X264_PRESETS.contains(&p))
            {
                return Err(bad(
                    &rk("preset"),
                    &format!("must be one of {}", X264_PRESETS.join(", ")),
                ));
            }
            if r.encoder
                .as_deref()
                .is_some_and(|e| !["libx264", "h264_nvenc", "h264_vaapi", "h264_qsv"].contains(&e))
            {
                return Err(bad(
                    &rk("encoder"),
                    "must be libx264, h264_nvenc, h264_vaapi or h264_qsv",
                ));
            }
        }
    }
    Ok(())
}
