//! Crash safety of the recording (issue 5): packagerd is SIGKILLed at 20
//! moments of a live stream, some right as a segment is finished (when every
//! rendition's segment is being written), the others at random, and
//! `stagectl up` restarts it each time. Every segment a live playlist listed
//! before a kill must be in the recording, byte for byte what was served,
//! readable by ffprobe; and the VOD must play.

use stage_e2e::browser::Browser;
use stage_e2e::{Clip, Publisher, Stack, ffprobe_json, parse_media_playlist};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const KILLS: usize = 20;
const RENDITIONS: [&str; 2] = ["source", "360p"];

/// The sequence number in a live segment URI `s{stream}-{seq}.m4s`.
fn live_seq(uri: &str) -> Option<u64> {
    uri.strip_suffix(".m4s")?.rsplit('-').next()?.parse().ok()
}

/// A recording's segment files of one rendition: seq → file name.
fn recorded(dir: &std::path::Path) -> BTreeMap<u64, String> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".m4s")
            && let Some(seq) = name.split('_').next().and_then(|s| s.parse().ok())
        {
            out.insert(seq, name);
        }
    }
    out
}

#[tokio::test]
async fn packagerd_killed_20_times_loses_no_listed_segment() {
    let Some(stack) = Stack::start(stage_e2e::Backend::Sqlite).await else {
        return;
    };
    let key = stack.create_channel("tough");
    // 480p: the default ladder adds a 360p rung (two renditions written at
    // each segment's end). A pre-encoded clip, copied: no encoder CPU.
    let clip = Clip {
        size: "854x480",
        seconds: Some(10),
        ..Clip::small()
    };
    let mut p = Publisher::start_copy(&clip, &stack.rtmp_url(&key), stack.dir.path());
    let stream_id = stack.wait_live("tough", Duration::from_secs(30)).await;
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("kill moments seeded with {seed}");
    let mut random_ms = |max: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % max
    };
    let playlist = |r: &str| format!("/hls/tough/{r}/index.m3u8");
    // Per rendition: every segment seen listed before a kill, and the bytes
    // served of the newest one each time.
    let mut seen: BTreeMap<&str, BTreeSet<u64>> = BTreeMap::new();
    let mut served: Vec<(&str, u64, bytes::Bytes)> = Vec::new();
    let t0 = Instant::now();
    for kill in 0..KILLS {
        // Playing again, on every rendition, past the last restart.
        stack
            .wait_until(
                "every rendition lists segments",
                Duration::from_secs(30),
                || async {
                    for r in RENDITIONS {
                        let t = stack.get_text(&playlist(r)).await.unwrap_or_default();
                        if parse_media_playlist(&t).1.len() < 2 {
                            return false;
                        }
                    }
                    true
                },
            )
            .await;
        // (Two segments since the restart: packagerd ran more than 3 s, so
        // `stagectl up` restarts it at once, without backing off.)
        let pids = stack.daemon_pids("packagerd");
        assert_eq!(pids.len(), 1, "packagerd pids: {pids:?}");
        if kill % 2 == 0 {
            // Right as the source finishes a segment: the rungs' segments
            // and the thumbnails are being written.
            let first = stack.get_text(&playlist("source")).await.unwrap();
            let last = parse_media_playlist(&first).1.last().cloned();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                let t = stack
                    .get_text(&playlist("source"))
                    .await
                    .unwrap_or_default();
                if parse_media_playlist(&t).1.last() != last.as_ref() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        } else {
            tokio::time::sleep(Duration::from_millis(random_ms(2000))).await;
        }
        for r in RENDITIONS {
            let t = stack.get_text(&playlist(r)).await.unwrap_or_default();
            let uris = parse_media_playlist(&t).1;
            let seqs: Vec<u64> = uris.iter().filter_map(|u| live_seq(u)).collect();
            assert_eq!(seqs.len(), uris.len(), "{t}");
            seen.entry(r).or_default().extend(&seqs);
            if let (Some(u), Some(seq)) = (uris.last(), seqs.last())
                && let Some(b) = stack.get_bytes(&format!("/hls/tough/{r}/{u}")).await
            {
                served.push((r, *seq, b));
            }
        }
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pids[0]),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        stack
            .wait_until("packagerd restarted", Duration::from_secs(10), || async {
                let now = stack.daemon_pids("packagerd");
                !now.is_empty() && now != pids
            })
            .await;
    }
    eprintln!("{KILLS} kills in {:?}", t0.elapsed());
    p.stop_cleanly();
    stack
        .wait_until("the VOD listed", Duration::from_secs(20), || async {
            let list = stack
                .get_json("/vods?channel=tough")
                .await
                .unwrap_or_default();
            list["vods"].as_array().is_some_and(|v| !v.is_empty())
        })
        .await;

    let root = stack
        .dir
        .path()
        .join(format!("data/recordings/s{stream_id}"));
    let probe_dir = tempfile::tempdir().unwrap();
    for r in RENDITIONS {
        let dir = root.join(r);
        let rec = recorded(&dir);
        let want = &seen[r];
        let missing: Vec<&u64> = want.iter().filter(|s| !rec.contains_key(s)).collect();
        assert!(
            missing.is_empty(),
            "{r}: listed live but not recorded: {missing:?} (recorded {:?})",
            rec.keys().collect::<Vec<_>>()
        );
        eprintln!(
            "{r}: {} segments seen listed, {} recorded",
            want.len(),
            rec.len()
        );
        // Nothing in the recording but whole objects and leftovers of a
        // killed write (never under a segment's name).
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            assert!(
                name.ends_with(".m4s")
                    || name.ends_with(".tmp")
                    || (name.starts_with("init-") && name.ends_with(".mp4"))
                    || name == "variant.json"
                    || name == "vod.m3u8",
                "{r}: unexpected {name}"
            );
        }
        // Every listed segment, with its init segment, reads in ffprobe.
        for seq in want {
            let name = &rec[seq];
            let init_id = name.split('_').nth(2).unwrap().trim_end_matches(".m4s");
            let mut data = std::fs::read(dir.join(format!("init-{init_id}.mp4"))).unwrap();
            data.extend(std::fs::read(dir.join(name)).unwrap());
            let file = probe_dir.path().join(format!("{r}-{seq}.mp4"));
            std::fs::write(&file, data).unwrap();
            let v = ffprobe_json(&[
                "-count_packets",
                "-show_entries",
                "stream=codec_type,nb_read_packets",
                file.to_str().unwrap(),
            ])
            .unwrap_or_else(|e| panic!("{r} segment {seq}: {e}"));
            let video = v["streams"]
                .as_array()
                .and_then(|s| s.iter().find(|s| s["codec_type"] == "video"))
                .unwrap_or_else(|| panic!("{r} segment {seq}: no video: {v}"));
            let n: u64 = video["nb_read_packets"].as_str().unwrap().parse().unwrap();
            assert!(n >= 1, "{r} segment {seq}: {v}");
        }
    }
    // What was served live is what was recorded, byte for byte.
    for (r, seq, bytes) in &served {
        let rec = recorded(&root.join(r));
        let on_disk = std::fs::read(root.join(r).join(&rec[seq])).unwrap();
        assert!(
            on_disk == bytes[..],
            "{r} segment {seq} differs from what was served"
        );
    }

    // The VOD: every rendition end to end, and the page plays it.
    let list = stack.get_json("/vods?channel=tough").await.unwrap();
    let vod = &list["vods"][0];
    let id = vod["id"].as_i64().unwrap();
    let duration = vod["duration_s"].as_f64().unwrap();
    for r in RENDITIONS {
        let v = ffprobe_json(&[
            "-show_entries",
            "format=duration",
            &stack.url(&format!("/vods/{id}/{r}/vod.m3u8")),
        ])
        .unwrap_or_else(|e| panic!("{r}: {e}"));
        let d: f64 = v["format"]["duration"].as_str().unwrap().parse().unwrap();
        assert!(d >= 0.9 * duration, "{r}: {d} s of {duration}");
    }
    let mut b = Browser::open(&stack.url(&format!("/vod/{id}")))
        .await
        .expect("chromium");
    let r = b.wait_playing(3.0, 60).await.unwrap();
    assert_eq!(r["ok"], true, "the VOD did not play: {r}");
    b.close().await;
}
