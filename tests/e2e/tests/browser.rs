//! The player page in headless Chromium: plays the live stream, keeps playing
//! across a publisher reconnect and a packagerd restart, and shows user strings
//! as text only.

use stage_e2e::browser::Browser;
use stage_e2e::{Clip, Publisher, Stack, backends};
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
        assert_eq!(s["badge"], "LIVE", "{s}");
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
