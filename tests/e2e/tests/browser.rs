//! The player page in headless Chromium: plays the live stream, keeps playing
//! across a publisher reconnect and a packagerd restart, and shows user strings
//! as text only.

use stage_e2e::browser::{Browser, brief_stall_report, stall_report};
use stage_e2e::{Backend, Clip, Publisher, Stack, backends, playback_note};
use std::time::Duration;

#[tokio::test]
async fn watch_page_plays_and_survives_a_publisher_reconnect_and_a_packagerd_restart() {
    for backend in backends() {
        let Some(stack) = Stack::start(backend).await else {
            continue;
        };
        let key = stack.create_channel("live");
        let evil = "<img src=x onerror=\"document.title='pwned'\"> & Q&A";
        let (code, _, err) = stack.stagectl(&["channel", "set", "live", "--title", evil]);
        assert_eq!(code, 0, "{err}");

        // The page is opened before the stream starts: it must start by itself.
        let mut b = Browser::open(&stack.url("/watch/live"))
            .await
            .expect("chromium");
        let offline = b.state().await.unwrap();
        assert_eq!(offline["state"]["badge"], "OFFLINE", "{offline}");

        let mut p = Publisher::start(&Clip::hd720(), &stack.rtmp_url(&key), stack.dir.path());
        let r = b.wait_playing(5.0, 60).await.unwrap();
        assert_eq!(r["ok"], true, "video did not advance 5 s: {r}");
        let s = &r["state"];
        assert!(s["badge"].as_str().unwrap_or("").starts_with("LIVE"), "{s}");
        assert_eq!(s["title"], evil, "title not shown literally: {s}");
        assert_eq!(
            s["player"]["errors"].as_array().map(|e| e
                .iter()
                .any(|x| x.as_str().unwrap_or("").ends_with(":fatal"))),
            Some(false),
            "{s}"
        );

        // Drop the publisher abruptly and bring it back: playback continues.
        p.kill();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let _p2 = Publisher::start(&Clip::hd720(), &stack.rtmp_url(&key), stack.dir.path());
        let r = b.wait_playing(4.0, 60).await.unwrap();
        assert_eq!(
            r["ok"], true,
            "playback did not continue after the reconnect: {r}"
        );
        let state = b.state().await.unwrap();
        assert_ne!(
            state["state"]["title"], "pwned",
            "markup in the title ran as HTML"
        );
        // packagerd dies and `stagectl up` restarts it: the page picks the
        // stream up again by itself.
        let pids = stack.daemon_pids("packagerd");
        assert_eq!(pids.len(), 1);
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pids[0]),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let r = b.wait_playing(4.0, 60).await.unwrap();
        assert_eq!(
            r["ok"], true,
            "playback did not resume after packagerd restarted: {r}"
        );
        b.close().await;
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// 60 s of LL-HLS playback in hls.js's low-latency mode: no `waiting` once
/// playing, the latency holds steady (second half's median within 150 ms
/// of the first half's) and its median is at most 1.0 s. SQLite only: the
/// database plays no part.
#[tokio::test]
async fn low_latency_playback_holds_steady_for_a_minute() {
    let stack = Stack::start(Backend::Sqlite).await.unwrap();
    let key = stack.create_channel("steady");
    // A looped stream copy: on two shared cores a live x264 encode next to
    // Chromium can itself fall behind, which is not what this test is about.
    let clip = Clip {
        seconds: Some(10),
        ..Clip::small()
    };
    let _p = Publisher::start_copy(&clip, &stack.rtmp_url(&key), stack.dir.path());
    let mut b = Browser::open(&stack.url("/watch/steady?trace"))
        .await
        .expect("chromium");
    let r = b.wait_playing(2.0, 60).await.unwrap();
    assert_eq!(r["ok"], true, "did not start: {r}");
    let r = b.wait_playing(60.0, 90).await.unwrap();
    playback_note(
        "browser::low_latency_playback_holds_steady_for_a_minute",
        &brief_stall_report(&r["state"]["player"]),
    );
    assert_eq!(
        r["ok"],
        true,
        "did not play 60 s: {}",
        stall_report(&r["state"]["player"])
    );
    let s = &r["state"];
    let player = &s["player"];
    assert_eq!(
        player["waitingAfterStart"],
        0,
        "stalled: {}",
        stall_report(player)
    );
    assert!(
        s["badge"].as_str().unwrap_or("").starts_with("LIVE · "),
        "no latency in the badge: {s}"
    );
    let samples: Vec<f64> = player["latencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x[1].as_f64().unwrap())
        .collect();
    assert!(samples.len() >= 55, "{} latency samples", samples.len());
    // The minute after the start-up samples.
    let minute = &samples[samples.len() - 60.min(samples.len())..];
    let (first, second) = minute.split_at(minute.len() / 2);
    let (m1, m2) = (median(&mut first.to_vec()), median(&mut second.to_vec()));
    eprintln!(
        "latency medians: first half {m1} ms, second half {m2} ms; viewer session {}",
        player["session"]
    );
    assert!((m1 - m2).abs() <= 150.0, "latency drifted {m1} → {m2} ms");
    let whole = median(&mut minute.to_vec());
    assert!(
        whole <= 1000.0,
        "median latency {whole} ms over the minute (PROGRAM-DATE-TIME badge)"
    );
    // Not drifting behind the target latency: the page catches up when
    // more than 0.15 s behind it, or more than 0.05 s for 5 s on end.
    let mut behind: Vec<f64> = player["behindTarget"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x[1].as_f64().unwrap())
        .collect();
    let behind = behind.split_off(behind.len() / 2);
    let b2 = median(&mut behind.clone());
    eprintln!(
        "behind the target latency, second half: median {b2} ms; catch-ups {}",
        player["catchups"]
    );
    assert!(b2 <= 300.0, "{b2} ms behind the target latency: {behind:?}");
    // The page counts as one viewer, by its session id.
    let live = stack.live("steady").await;
    assert_eq!(live["viewers"], 1, "{live}");
    b.close().await;
}
