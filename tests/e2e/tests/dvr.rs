//! Cloud DVR (issue 5): while a stream is live, its playlist lists the
//! recorded past (served from the recording), and the watch page rewinds
//! 60 s with its seek bar, says how far behind live it is, and "Go live"
//! returns to the edge.

use stage_e2e::browser::Browser;
use stage_e2e::{Clip, Publisher, Stack, parse_media_playlist};
use std::time::Duration;

#[tokio::test]
async fn the_watch_page_rewinds_60_s_while_live_and_goes_live_again() {
    let Some(stack) = Stack::start(stage_e2e::Backend::Sqlite).await else {
        return;
    };
    let key = stack.create_channel("dvr");
    // 360p: the default ladder adds nothing, so the source is all there is.
    let clip = Clip {
        seconds: Some(10),
        ..Clip::small()
    };
    let mut p = Publisher::start_copy(&clip, &stack.rtmp_url(&key), stack.dir.path());
    let stream_id = stack.wait_live("dvr", Duration::from_secs(30)).await;
    let url = "/hls/dvr/source/index.m3u8";
    // 70 s of broadcast: more than 60 s to rewind.
    stack
        .wait_until("70 s listed", Duration::from_secs(100), || async {
            let t = stack.get_text(url).await.unwrap_or_default();
            parse_media_playlist(&t).0.iter().sum::<f64>() >= 70.0
        })
        .await;
    let text = stack.get_text(url).await.unwrap();
    let (durations, uris, _, _) = parse_media_playlist(&text);
    // Everything from the start, far more than memory holds (the last 14
    // segments), under the URIs the segments had live.
    assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:0\n"), "{text}");
    assert!(uris.len() >= 34, "{} listed: {text}", uris.len());
    assert_eq!(durations.len(), uris.len());
    assert_eq!(uris[3], format!("s{stream_id}-3.m4s"), "{text}");
    // Segment 3 left memory a minute ago: served from the recording, byte
    // for byte the recorded object.
    let served = stack
        .get_bytes(&format!("/hls/dvr/source/{}", uris[3]))
        .await
        .expect("a DVR segment");
    let dir = stack
        .dir
        .path()
        .join(format!("data/recordings/s{stream_id}/source"));
    let name = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("0000000003_"))
        .expect("segment 3 recorded");
    assert!(served == std::fs::read(dir.join(name)).unwrap()[..]);
    // Its init segment too; names outside the window are not found.
    let init = stack
        .get_bytes(&format!("/hls/dvr/source/s{stream_id}-init-0.mp4"))
        .await
        .expect("the init segment");
    assert_eq!(&init[4..8], b"ftyp");
    for bad in [
        "s9999-3.m4s",
        "0000000003_2000000_0.m4s",
        "s1-init-x.mp4",
        "..%2Fsource%2Fvariant.json",
    ] {
        assert!(
            stack
                .get_bytes(&format!("/hls/dvr/source/{bad}"))
                .await
                .is_none(),
            "{bad}"
        );
    }

    let mut b = Browser::open(&stack.url("/watch/dvr"))
        .await
        .expect("chromium");
    let r = b.wait_playing(2.0, 60).await.unwrap();
    assert_eq!(r["ok"], true, "did not play live: {r}");
    let r = b
        .wait_until(
            "stagePlayer.dvrWindow >= 65 && !document.getElementById('dvr').hidden && stagePlayer.behindLive < 5",
            20,
        )
        .await
        .unwrap();
    assert_eq!(r["ok"], true, "no DVR bar at the live edge: {r}");
    // The viewer drags the bar to one minute back.
    b.fill("#seek", "-60").await.unwrap();
    let r = b
        .wait_until(
            "stagePlayer.rewound && stagePlayer.behindLive > 55 && stagePlayer.behindLive < 66 && stagePlayer.dvrLoads > 0",
            20,
        )
        .await
        .unwrap();
    assert_eq!(r["ok"], true, "did not rewind 60 s: {r}");
    // It plays there (from the recording) and stays there: no catching up.
    let r = b.wait_playing(4.0, 30).await.unwrap();
    assert_eq!(r["ok"], true, "did not play rewound: {r}");
    let behind = r["state"]["player"]["behindLive"].as_f64().unwrap();
    assert!(
        (54.0..68.0).contains(&behind),
        "{behind} s behind after playing: {r}"
    );
    assert_eq!(r["state"]["player"]["jumps"], 0, "{r}");
    let r = b
        .wait_until(
            "/^1:0\\d behind live$/.test(document.getElementById('behind').textContent) && !document.getElementById('golive').hidden",
            5,
        )
        .await
        .unwrap();
    assert_eq!(r["ok"], true, "the page does not say how far behind: {r}");
    // "Go live" returns to the edge.
    b.click("#golive").await.unwrap();
    let r = b
        .wait_until(
            "!stagePlayer.rewound && stagePlayer.behindLive < 4 && document.getElementById('golive').hidden && document.getElementById('behind').textContent === 'LIVE'",
            15,
        )
        .await
        .unwrap();
    assert_eq!(r["ok"], true, "did not go live: {r}");
    let r = b.wait_playing(2.0, 30).await.unwrap();
    assert_eq!(r["ok"], true, "did not play at the edge: {r}");
    let errors = r["state"]["player"]["errors"].as_array().unwrap().clone();
    assert!(
        errors
            .iter()
            .all(|e| !e.as_str().unwrap_or("").ends_with(":fatal")),
        "{errors:?}"
    );
    b.close().await;

    // The channel's switch: with recording off, a stream has no recording,
    // no DVR window and no VOD.
    p.stop_cleanly();
    // (A hostile title, for the pages below.)
    let title = "<img src=x onerror=\"window.pwned=1\"> \u{202e}evil";
    let shown = stack.stagectl_json(&[
        "channel", "set", "dvr", "--record", "false", "--title", title,
    ]);
    assert_eq!(shown["record"], false, "{shown}");
    stack
        .wait_until(
            "the VOD of the first stream",
            Duration::from_secs(20),
            || async {
                stack
                    .get_json("/vods?channel=dvr")
                    .await
                    .unwrap_or_default()["vods"]
                    .as_array()
                    .is_some_and(|v| v.len() == 1)
            },
        )
        .await;
    let mut p = Publisher::start_copy(&clip, &stack.rtmp_url(&key), stack.dir.path());
    stack
        .wait_until("a second stream", Duration::from_secs(30), || async {
            stack.live("dvr").await["stream_id"]
                .as_i64()
                .is_some_and(|id| id != stream_id)
        })
        .await;
    let second = stack.live("dvr").await["stream_id"].as_i64().unwrap();
    let vod_id = stack.get_json("/vods?channel=dvr").await.unwrap()["vods"][0]["id"]
        .as_i64()
        .unwrap();
    // The front page: the live channel (title as text, viewers, thumbnail)
    // and the recording.
    stack
        .wait_until("the channel in /live", Duration::from_secs(20), || async {
            stack.get_json("/live").await.unwrap_or_default()["channels"][0]["channel"] == "dvr"
        })
        .await;
    let live = stack.get_json("/live").await.unwrap();
    assert_eq!(live["channels"][0]["title"], title, "{live}");
    let mut home = Browser::open(&stack.url("/")).await.expect("chromium");
    let t = serde_json::to_string(title).unwrap();
    let r = home
        .wait_until(
            &format!(
                "document.querySelectorAll('#live .card').length === 1 && \
                 document.querySelector('#live .card .title').textContent === {t} && \
                 /^dvr · \\d+ viewers?$/.test(document.querySelector('#live .card .sub').textContent) && \
                 document.querySelector('#live .card a').getAttribute('href') === '/watch/dvr' && \
                 document.querySelectorAll('#vods .card').length === 1 && \
                 document.querySelector('#vods .card a').getAttribute('href') === '/vod/{vod_id}' && \
                 document.querySelectorAll('.card .title img, .card .sub img').length === 0 && !window.pwned"
            ),
            20,
        )
        .await
        .unwrap();
    assert_eq!(r["ok"], true, "front page: {r}");
    home.close().await;
    // The watch page lists the channel's past broadcasts.
    let mut watch = Browser::open(&stack.url("/watch/dvr"))
        .await
        .expect("chromium");
    let r = watch
        .wait_until(
            &format!(
                "!document.getElementById('past').hidden && \
                 document.querySelectorAll('#pastlist .card').length === 1 && \
                 document.querySelector('#pastlist .card a').getAttribute('href') === '/vod/{vod_id}' && \
                 document.getElementById('title').textContent === {t} && !window.pwned"
            ),
            20,
        )
        .await
        .unwrap();
    assert_eq!(r["ok"], true, "past broadcasts: {r}");
    watch.close().await;
    // Past what memory holds (14 segments): a DVR window would list more.
    stack
        .wait_until("segment 14", Duration::from_secs(60), || async {
            let t = stack.get_text(url).await.unwrap_or_default();
            parse_media_playlist(&t).1.last().is_some_and(|u| {
                u.strip_suffix(".m4s")
                    .and_then(|x| x.rsplit('-').next())
                    .and_then(|n| n.parse::<u64>().ok())
                    .is_some_and(|n| n >= 14)
            })
        })
        .await;
    let text = stack.get_text(url).await.unwrap();
    assert!(
        parse_media_playlist(&text).1.len() <= 12,
        "a DVR window without recording: {text}"
    );
    assert!(
        !stack
            .dir
            .path()
            .join(format!("data/recordings/s{second}"))
            .exists(),
        "recorded with the switch off"
    );
    p.stop_cleanly();
    stack
        .wait_until(
            "the second stream ended",
            Duration::from_secs(20),
            || async { stack.live("dvr").await["live"] == false },
        )
        .await;
    let list = stack.get_json("/vods?channel=dvr").await.unwrap();
    assert_eq!(list["vods"].as_array().unwrap().len(), 1, "{list}");
}
