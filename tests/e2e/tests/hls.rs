//! OBS-like publishes (ffmpeg over RTMP) come out as HLS that ffprobe reads
//! with the right codecs, durations within target and continuous timestamps.

use stage_e2e::{Backend, Clip, Publisher, Stack, backends, ffprobe_json, parse_media_playlist};
use std::time::Duration;

/// Downloads the init and listed segments of the live playlist into one file.
async fn download_rendition(
    stack: &Stack,
    channel: &str,
) -> (std::path::PathBuf, Vec<f64>, String) {
    let text = stack
        .get_text(&format!("/hls/{channel}/source/index.m3u8"))
        .await
        .expect("media playlist");
    let (durs, uris, _, maps) = parse_media_playlist(&text);
    let mut all = Vec::new();
    all.extend_from_slice(
        &stack
            .get_bytes(&format!("/hls/{channel}/source/{}", maps[0]))
            .await
            .expect("init"),
    );
    for u in &uris {
        all.extend_from_slice(
            &stack
                .get_bytes(&format!("/hls/{channel}/source/{u}"))
                .await
                .expect("segment"),
        );
    }
    let path = stack.dir.path().join(format!("{channel}.mp4"));
    std::fs::write(&path, all).unwrap();
    (path, durs, text)
}

/// Asserts packets of `stream` (v:0 / a:0) have continuous DTS: each step close to the median.
fn assert_continuous(file: &std::path::Path, stream: &str, max_step_ratio: f64) {
    let v = ffprobe_json(&[
        "-select_streams",
        stream,
        "-show_entries",
        "packet=dts_time",
        file.to_str().unwrap(),
    ])
    .unwrap();
    let dts: Vec<f64> = v["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["dts_time"].as_str().and_then(|s| s.parse().ok()))
        .collect();
    assert!(dts.len() > 30, "{stream}: only {} packets", dts.len());
    let mut steps: Vec<f64> = dts.windows(2).map(|w| w[1] - w[0]).collect();
    for (i, s) in steps.iter().enumerate() {
        assert!(*s > 0.0, "{stream}: DTS not increasing at packet {i}: {s}");
    }
    steps.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = steps[steps.len() / 2];
    let max = *steps.last().unwrap();
    assert!(
        max <= median * max_step_ratio,
        "{stream}: gap of {max:.4}s against median step {median:.4}s"
    );
}

async fn publish_720p_probe_and_stop(backend: Backend) {
    let Some(stack) = Stack::start(backend).await else {
        return;
    };
    let key = stack.create_channel("show");
    let mut ffmpeg = Publisher::start(&Clip::hd720(), &stack.rtmp_url(&key), stack.dir.path());
    let stream_id = stack.wait_live("show", Duration::from_secs(20)).await;
    assert!(stream_id > 0);
    // Let a few segments accumulate.
    stack
        .wait_segments("show", 4, Duration::from_secs(25))
        .await;
    assert!(ffmpeg.running(), "ffmpeg died: {}", ffmpeg.errors());

    let probe = ffprobe_json(&["-show_streams", &stack.url("/hls/show/index.m3u8")]).unwrap();
    let streams = probe["streams"].as_array().unwrap();
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("video stream");
    let audio = streams
        .iter()
        .find(|s| s["codec_type"] == "audio")
        .expect("audio stream");
    assert_eq!(video["codec_name"], "h264");
    assert_eq!(
        (video["width"].as_i64(), video["height"].as_i64()),
        (Some(1280), Some(720))
    );
    assert_eq!(video["r_frame_rate"], "30/1");
    assert_eq!(audio["codec_name"], "aac");
    assert_eq!(audio["sample_rate"], "48000");

    let multivariant = stack.get_text("/hls/show/index.m3u8").await.unwrap();
    assert!(
        multivariant.contains("CODECS=\"avc1.64001f,mp4a.40.2\""),
        "{multivariant}"
    );
    assert!(
        multivariant.contains("RESOLUTION=1280x720"),
        "{multivariant}"
    );
    assert!(multivariant.contains("FRAME-RATE=30.000"), "{multivariant}");

    let (file, durs, text) = download_rendition(&stack, "show").await;
    assert!(text.contains("#EXT-X-TARGETDURATION:2\n"), "{text}");
    assert!(text.contains("#EXT-X-PROGRAM-DATE-TIME:"), "{text}");
    for d in &durs {
        assert!(
            (1.9..=2.05).contains(d),
            "segment duration {d} outside the 2 s target: {text}"
        );
    }
    assert_continuous(&file, "v:0", 1.6);
    assert_continuous(&file, "a:0", 1.6);

    // A clean stop (ffmpeg sends FCUnpublish/deleteStream) ends the stream within 2 s.
    let t0 = std::time::Instant::now();
    ffmpeg.stop_cleanly();
    stack
        .wait_until("stream ended", Duration::from_secs(2), || async {
            stack.live("show").await["live"] == false
        })
        .await;
    let ended_after = t0.elapsed();
    assert!(
        ended_after < Duration::from_secs(2),
        "ended after {ended_after:?}"
    );
    let show = stack.stagectl_json(&["channel", "show", "show"]);
    assert_eq!(show["recent_streams"][0]["id"], stream_id);
    assert_eq!(show["recent_streams"][0]["status"], "ended", "{show}");
    assert!(
        show.get("stream_key").is_none(),
        "key must not be shown after creation"
    );
    let last = stack.get_text("/hls/show/source/index.m3u8").await.unwrap();
    assert!(last.ends_with("#EXT-X-ENDLIST\n"), "{last}");
}

#[tokio::test]
async fn publish_720p30_is_probed_continuous_and_stops_cleanly() {
    for b in backends() {
        publish_720p_probe_and_stop(b).await;
    }
}

#[tokio::test]
async fn publish_1080p60_high_bframes_44k_mono() {
    for backend in backends() {
        let Some(stack) = Stack::start(backend).await else {
            continue;
        };
        let key = stack.create_channel("hd");
        let clip = Clip {
            size: "1920x1080",
            rate: 60,
            gop: 120,
            profile: "high",
            preset: "superfast",
            bframes: 2,
            video_kbps: 1500,
            audio: Some((44100, 1)),
            video: true,
            seconds: None,
        };
        let ffmpeg = Publisher::start(&clip, &stack.rtmp_url(&key), stack.dir.path());
        stack.wait_live("hd", Duration::from_secs(30)).await;
        stack.wait_segments("hd", 3, Duration::from_secs(40)).await;
        let probe = ffprobe_json(&["-show_streams", &stack.url("/hls/hd/index.m3u8")]).unwrap();
        let streams = probe["streams"].as_array().unwrap();
        let video = streams
            .iter()
            .find(|s| s["codec_type"] == "video")
            .expect("video");
        let audio = streams
            .iter()
            .find(|s| s["codec_type"] == "audio")
            .expect("audio");
        assert_eq!(video["profile"], "High");
        assert_eq!(
            (video["width"].as_i64(), video["height"].as_i64()),
            (Some(1920), Some(1080))
        );
        assert_eq!(video["r_frame_rate"], "60/1");
        assert!(
            video["has_b_frames"].as_i64().unwrap_or(0) > 0,
            "no B-frames: {video}"
        );
        assert_eq!(audio["sample_rate"], "44100");
        assert_eq!(audio["channels"], 1);
        let (file, durs, text) = download_rendition(&stack, "hd").await;
        assert!(text.contains("#EXT-X-TARGETDURATION:2\n"), "{text}");
        for d in &durs {
            assert!((1.9..=2.05).contains(d), "segment duration {d}: {text}");
        }
        // B-frames: PTS differs from DTS somewhere, and DTS stays continuous.
        let pk = ffprobe_json(&[
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time,dts_time",
            file.to_str().unwrap(),
        ])
        .unwrap();
        let reordered = pk["packets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["pts_time"] != p["dts_time"]);
        assert!(reordered, "expected composition offsets");
        assert_continuous(&file, "v:0", 1.6);
        assert_continuous(&file, "a:0", 1.6);
        drop(ffmpeg);
    }
}

#[tokio::test]
async fn publish_video_only() {
    for backend in backends() {
        let Some(stack) = Stack::start(backend).await else {
            continue;
        };
        let key = stack.create_channel("silent");
        let clip = Clip {
            audio: None,
            ..Clip::hd720()
        };
        let _ffmpeg = Publisher::start(&clip, &stack.rtmp_url(&key), stack.dir.path());
        stack.wait_live("silent", Duration::from_secs(20)).await;
        stack
            .wait_segments("silent", 3, Duration::from_secs(25))
            .await;
        let multivariant = stack.get_text("/hls/silent/index.m3u8").await.unwrap();
        assert!(
            multivariant.contains("CODECS=\"avc1.64001f\""),
            "{multivariant}"
        );
        let probe = ffprobe_json(&["-show_streams", &stack.url("/hls/silent/index.m3u8")]).unwrap();
        let streams = probe["streams"].as_array().unwrap();
        assert!(
            streams.iter().all(|s| s["codec_type"] != "audio"),
            "{probe}"
        );
        assert!(streams.iter().any(|s| s["codec_type"] == "video"));
        let (file, durs, _) = download_rendition(&stack, "silent").await;
        assert!(durs.iter().all(|d| (1.9..=2.05).contains(d)), "{durs:?}");
        assert_continuous(&file, "v:0", 1.6);
    }
}

#[tokio::test]
async fn publish_audio_only() {
    for backend in backends() {
        let Some(stack) = Stack::start(backend).await else {
            continue;
        };
        let key = stack.create_channel("radio");
        let clip = Clip {
            video: false,
            ..Clip::hd720()
        };
        let _ffmpeg = Publisher::start(&clip, &stack.rtmp_url(&key), stack.dir.path());
        stack.wait_live("radio", Duration::from_secs(20)).await;
        stack
            .wait_segments("radio", 3, Duration::from_secs(25))
            .await;
        let multivariant = stack.get_text("/hls/radio/index.m3u8").await.unwrap();
        assert!(
            multivariant.contains("CODECS=\"mp4a.40.2\""),
            "{multivariant}"
        );
        assert!(!multivariant.contains("RESOLUTION"), "{multivariant}");
        let (file, durs, _) = download_rendition(&stack, "radio").await;
        assert!(durs.iter().all(|d| (1.9..=2.1).contains(d)), "{durs:?}");
        assert_continuous(&file, "a:0", 1.6);
    }
}
