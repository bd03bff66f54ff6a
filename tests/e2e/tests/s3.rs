//! Recording to S3 (issue 5), against a real S3-compatible server the suite
//! starts (npm `s3rver`, which keeps objects on disk): frozen with SIGSTOP
//! for 20 s mid-stream, the live stream goes on, the uploads wait in the
//! spool and retry, and once it is resumed the recording is complete; the
//! VOD is served from the bucket, exported from it and deleted from it.

use stage_e2e::{Clip, Publisher, Stack, ffprobe_json, free_ports, parse_media_playlist};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct S3rver(Child);

impl Drop for S3rver {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT);
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl S3rver {
    fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.0.id() as i32), sig).unwrap();
    }
}

/// Files under `dir` (recursively) whose names end with `suffix`.
fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(suffix) {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test]
async fn recording_to_s3_survives_the_server_frozen_for_20_s() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bin = root.join("node_modules/.bin/s3rver");
    assert!(
        bin.exists(),
        "s3rver missing: run `npm ci` in {}",
        root.display()
    );
    let data = tempfile::tempdir().unwrap();
    let port = free_ports(1)[0];
    let s3 = S3rver(
        Command::new(&bin)
            .arg("-d")
            .arg(data.path())
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .args(["--configure-bucket", "stage", "--silent"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("node (scripts/setup.sh installs it)"),
    );
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "s3rver did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let extra = format!(
        r#"
[recording]
store = "s3"
[recording.s3]
bucket = "stage"
endpoint = "http://127.0.0.1:{port}"
allow_http = true
access_key_id = "S3RVER"
secret_access_key = "S3RVER"
request_timeout = "3s"
"#
    );
    let Some(stack) = Stack::start_with(stage_e2e::Backend::Sqlite, &extra).await else {
        return;
    };
    let key = stack.create_channel("cloud");
    let clip = Clip {
        seconds: Some(10),
        ..Clip::small()
    };
    let mut p = Publisher::start_copy(&clip, &stack.rtmp_url(&key), stack.dir.path());
    let stream_id = stack.wait_live("cloud", Duration::from_secs(30)).await;
    let url = "/hls/cloud/source/index.m3u8";
    let last_seq = || async {
        let t = stack.get_text(url).await.unwrap_or_default();
        let (_, uris, _, _) = parse_media_playlist(&t);
        uris.last().and_then(|u| {
            u.strip_suffix(".m4s")?
                .rsplit('-')
                .next()?
                .parse::<u64>()
                .ok()
        })
    };
    stack
        .wait_until("3 segments", Duration::from_secs(30), || async {
            last_seq().await.is_some_and(|s| s >= 2)
        })
        .await;
    let status = || async {
        stack
            .admin_status(stack.ports.packager_admin)
            .await
            .map(|s| s["recording"].clone())
            .unwrap_or_default()
    };
    // Uploads work: objects land in the bucket.
    stack
        .wait_until("objects in the bucket", Duration::from_secs(20), || async {
            status().await["objects"].as_u64().unwrap_or(0) >= 3
        })
        .await;

    // Frozen for 20 s.
    s3.signal(nix::sys::signal::Signal::SIGSTOP);
    let before = last_seq().await.unwrap();
    let frozen = Instant::now();
    while frozen.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let during = status().await;
    let after = last_seq().await.unwrap();
    // The live stream went on: about ten 2-second segments.
    assert!(
        after >= before + 8,
        "the live playlist stalled while S3 was frozen: {before} → {after}"
    );
    // The segments wait in the spool; the stall is reported.
    assert!(
        during["queued_bytes"].as_u64().unwrap_or(0) > 0,
        "nothing waiting for S3: {during}"
    );
    assert!(
        during["error"].as_str().is_some_and(|e| !e.is_empty()),
        "no error in /status: {during}"
    );
    let spooled = files_ending(&stack.dir.path().join("data/spool"), ".m4s").len();
    assert!(spooled >= 8, "{spooled} segments in the spool: {during}");
    let log = stack.log("packagerd");
    assert!(log.contains("recording write failed; retrying"), "{log}");
    assert!(!log.contains("S3RVER\""), "a secret in the log");

    s3.signal(nix::sys::signal::Signal::SIGCONT);
    let resumed = Instant::now();
    stack
        .wait_until("the spool uploaded", Duration::from_secs(60), || async {
            let s = status().await;
            s["queued_bytes"] == 0 && s["error"].is_null()
        })
        .await;
    eprintln!(
        "caught up {:?} after S3 resumed ({spooled} segments had waited)",
        resumed.elapsed()
    );
    assert!(files_ending(&stack.dir.path().join("data/spool"), ".m4s").is_empty());
    // A few more seconds, then the end.
    let end_at = last_seq().await.unwrap() + 2;
    stack
        .wait_until("two more segments", Duration::from_secs(20), || async {
            last_seq().await.is_some_and(|s| s >= end_at)
        })
        .await;
    let listed_last = last_seq().await.unwrap();
    p.stop_cleanly();
    stack
        .wait_until("the VOD listed", Duration::from_secs(30), || async {
            let l = stack
                .get_json("/vods?channel=cloud")
                .await
                .unwrap_or_default();
            l["vods"].as_array().is_some_and(|v| !v.is_empty())
        })
        .await;
    let vod = stack.get_json("/vods?channel=cloud").await.unwrap()["vods"][0].clone();
    let id = vod["id"].as_i64().unwrap();
    // Complete: every segment from the first to past the last listed, in
    // order, without a gap (a gap would be a discontinuity).
    let text = stack
        .get_text(&format!("/vods/{id}/source/vod.m3u8"))
        .await
        .unwrap();
    assert!(!text.contains("#EXT-X-DISCONTINUITY"), "{text}");
    let (durations, uris, _, _) = parse_media_playlist(&text);
    let seqs: Vec<u64> = uris
        .iter()
        .map(|u| u.split('_').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(seqs[0], 0, "{text}");
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{text}");
    assert!(*seqs.last().unwrap() >= listed_last, "{text}");
    let total: f64 = durations.iter().sum();
    assert!(
        (total - vod["duration_s"].as_f64().unwrap()).abs() < 0.01,
        "{vod}"
    );
    // In the bucket (s3rver keeps each object as a file).
    let in_bucket = files_ending(data.path(), ".m4s._S3rver_object").len();
    assert!(
        in_bucket >= seqs.len(),
        "{in_bucket} objects for {} segments",
        seqs.len()
    );
    // Served from the bucket through packagerd, read end to end.
    let v = ffprobe_json(&[
        "-show_entries",
        "format=duration",
        &stack.url(&format!("/vods/{id}/source/vod.m3u8")),
    ])
    .unwrap();
    let d: f64 = v["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!((d - total).abs() <= 1.0, "ffprobe: {d} s of {total}");
    // Exported from the bucket.
    let mp4 = stack.dir.path().join("cloud.mp4");
    let e = stack.stagectl_json(&[
        "vod",
        "export",
        &id.to_string(),
        "-o",
        mp4.to_str().unwrap(),
    ]);
    assert!(
        (e["duration_s"].as_f64().unwrap() - total).abs() <= 1.0,
        "{e}"
    );
    // Deleted from the bucket.
    let gone = stack.stagectl_json(&["vod", "delete", &id.to_string()]);
    assert!(
        gone["objects"].as_u64().unwrap() as usize >= seqs.len(),
        "{gone}"
    );
    assert!(
        files_ending(data.path(), ".m4s._S3rver_object").is_empty(),
        "objects left in the bucket"
    );
    let _ = stream_id;
}
