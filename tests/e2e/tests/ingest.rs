//! Publishing rules: keys, rotation, refusals, reconnects, packagerd restarts
//! and malformed input.

use stage_e2e::rtmp_client::RtmpPublisher;
use stage_e2e::{Backend, Clip, Publisher, Stack, backends, parse_media_playlist};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn stream_count(stack: &Stack, channel: &str) -> usize {
    stack.stagectl_json(&["channel", "show", channel])["recent_streams"]
        .as_array()
        .map_or(0, |a| a.len())
}

async fn keys_and_rotation(backend: Backend) {
    let Some(stack) = Stack::start(backend).await else {
        return;
    };
    let key = stack.create_channel("keys");

    // A wrong key: refused within 1 s of asking to publish, nothing created.
    let t0 = Instant::now();
    let res =
        RtmpPublisher::connect(stack.ports.rtmp, "live_wrongwrongwrongwrongwrongwrongwr").await;
    let took = t0.elapsed();
    assert!(res.is_err(), "a wrong key was accepted");
    assert!(took < Duration::from_secs(1), "refusal took {took:?}");
    assert_eq!(
        stream_count(&stack, "keys"),
        0,
        "a refused publish created a stream"
    );
    // ffmpeg, too, gives up on it.
    let mut bad = Publisher::start(
        &Clip {
            seconds: Some(5),
            ..Clip::hd720()
        },
        &stack.rtmp_url("nope"),
        stack.dir.path(),
    );
    let t0 = Instant::now();
    while bad.running() && t0.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!bad.running(), "ffmpeg with a wrong key kept running");
    assert!(
        stack
            .log("ingestd")
            .contains("unknown or rotated stream key"),
        "no refusal log line"
    );
    assert!(
        !stack.log("ingestd").contains("live_wrongwrong"),
        "a key was logged"
    );

    // The right key publishes; after rotation it is refused and the new one works.
    let mut p = Publisher::start(&Clip::hd720(), &stack.rtmp_url(&key), stack.dir.path());
    let first = stack.wait_live("keys", Duration::from_secs(20)).await;
    // A second publisher on a live channel is refused.
    let second = RtmpPublisher::connect(stack.ports.rtmp, &key).await;
    assert!(
        second.is_err(),
        "a second concurrent publisher was accepted"
    );
    assert!(p.running(), "the first publisher was disturbed");
    p.stop_cleanly();
    stack
        .wait_until("stream ended", Duration::from_secs(5), || async {
            stack.live("keys").await["live"] == false
        })
        .await;

    let rotated = stack.stagectl_json(&["key", "rotate", "keys"]);
    let new_key = rotated["stream_key"].as_str().unwrap().to_string();
    assert_ne!(new_key, key);
    assert!(
        RtmpPublisher::connect(stack.ports.rtmp, &key)
            .await
            .is_err(),
        "the rotated-out key still publishes"
    );
    let _p2 = Publisher::start(&Clip::hd720(), &stack.rtmp_url(&new_key), stack.dir.path());
    let second_stream = stack.wait_live("keys", Duration::from_secs(20)).await;
    assert_ne!(second_stream, first);

    // key rotate --kick drops the live publisher at once.
    let kicked = stack.stagectl_json(&["key", "rotate", "keys", "--kick"]);
    assert_eq!(kicked["kicked"], true, "{kicked}");
    stack
        .wait_until("kicked stream ended", Duration::from_secs(3), || async {
            stack.live("keys").await["live"] == false
        })
        .await;

    // A disabled channel is refused.
    let (code, _, err) = stack.stagectl(&["channel", "set", "keys", "--enabled", "false"]);
    assert_eq!(code, 0, "{err}");
    let k3 = stack.stagectl_json(&["key", "rotate", "keys"])["stream_key"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        RtmpPublisher::connect(stack.ports.rtmp, &k3).await.is_err(),
        "a disabled channel accepted a publisher"
    );
    assert!(stack.log("ingestd").contains("is disabled"));
}

#[tokio::test]
async fn wrong_keys_are_refused_and_rotation_takes_effect() {
    for b in backends() {
        keys_and_rotation(b).await;
    }
}

#[tokio::test]
async fn publisher_killed_and_back_within_grace_continues_the_same_stream() {
    for backend in backends() {
        let Some(stack) = Stack::start(backend).await else {
            continue;
        };
        let key = stack.create_channel("flaky");
        let mut p = Publisher::start(&Clip::hd720(), &stack.rtmp_url(&key), stack.dir.path());
        let id = stack.wait_live("flaky", Duration::from_secs(20)).await;
        stack
            .wait_segments("flaky", 2, Duration::from_secs(20))
            .await;
        p.kill();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let _p2 = Publisher::start(&Clip::hd720(), &stack.rtmp_url(&key), stack.dir.path());
        stack
            .wait_until(
                "playlist with a discontinuity and new segments",
                Duration::from_secs(20),
                || async {
                    let t = stack
                        .get_text("/hls/flaky/source/index.m3u8")
                        .await
                        .unwrap_or_default();
                    match t.find("#EXT-X-DISCONTINUITY\n") {
                        Some(at) => parse_media_playlist(&t[at..]).0.len() >= 2,
                        None => false,
                    }
                },
            )
            .await;
        assert_eq!(
            stack.live("flaky").await["stream_id"],
            id,
            "the reconnect started a new stream"
        );
        let show = stack.stagectl_json(&["channel", "show", "flaky"]);
        assert_eq!(
            show["recent_streams"].as_array().unwrap().len(),
            1,
            "{show}"
        );
        assert!(stack.log("ingestd").contains("publisher reconnected"));
    }
}

#[tokio::test]
async fn packagerd_killed_is_restarted_and_the_stream_recovers_within_5s() {
    for backend in backends() {
        let Some(stack) = Stack::start(backend).await else {
            continue;
        };
        let key = stack.create_channel("sturdy");
        let mut p = Publisher::start(&Clip::hd720(), &stack.rtmp_url(&key), stack.dir.path());
        let id = stack.wait_live("sturdy", Duration::from_secs(20)).await;
        let pids = stack.daemon_pids("packagerd");
        assert_eq!(pids.len(), 1, "packagerd pids: {pids:?}");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pids[0]),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let killed = Instant::now();
        stack
            .wait_until("packagerd restarted", Duration::from_secs(5), || async {
                let now = stack.daemon_pids("packagerd");
                !now.is_empty() && now != pids
            })
            .await;
        let recovered = stack
            .wait_until("stream playable again", Duration::from_secs(8), || async {
                let live = stack.live("sturdy").await;
                if live["ready"] != true {
                    return false;
                }
                let t = stack
                    .get_text("/hls/sturdy/source/index.m3u8")
                    .await
                    .unwrap_or_default();
                let (_, uris, _, maps) = parse_media_playlist(&t);
                match (uris.last(), maps.last()) {
                    (Some(u), Some(m)) => {
                        stack
                            .get_bytes(&format!("/hls/sturdy/source/{u}"))
                            .await
                            .is_some()
                            && stack
                                .get_bytes(&format!("/hls/sturdy/source/{m}"))
                                .await
                                .is_some()
                    }
                    _ => false,
                }
            })
            .await;
        let since_kill = killed.elapsed();
        assert!(
            since_kill < Duration::from_secs(5),
            "playable again only after {since_kill:?} ({recovered:?} of waiting)"
        );
        assert!(
            p.running(),
            "the publisher was disconnected: {}",
            p.errors()
        );
        assert_eq!(stack.live("sturdy").await["stream_id"], id);
        assert!(
            stack.up_stderr().contains("packagerd exited"),
            "{}",
            stack.up_stderr()
        );
        let status = stack.admin_status(stack.ports.ingest_admin).await.unwrap();
        assert_eq!(status["streams"][0]["state"], "publishing", "{status}");
        assert_eq!(status["streams"][0]["publisher_reconnects"], 0, "{status}");
    }
}

#[tokio::test]
async fn malformed_input_closes_only_that_connection() {
    for backend in backends() {
        let Some(stack) = Stack::start(backend).await else {
            continue;
        };
        let good_key = stack.create_channel("good");
        let bad_key = stack.create_channel("bad");
        let mut good =
            Publisher::start(&Clip::hd720(), &stack.rtmp_url(&good_key), stack.dir.path());
        stack.wait_live("good", Duration::from_secs(20)).await;
        let port = stack.ports.rtmp;

        async fn closed(sock: &mut TcpStream) -> bool {
            let mut buf = [0u8; 4096];
            loop {
                match tokio::time::timeout(Duration::from_secs(12), sock.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => return true,
                    Ok(Ok(_)) => continue,
                    Err(_) => return false,
                }
            }
        }

        // 1. Random bytes instead of a handshake.
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let junk: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let _ = s.write_all(&junk).await;
        assert!(
            closed(&mut s).await,
            "random bytes did not close the connection"
        );

        // 2. A truncated handshake (C0 and half of C1, then silence until EOF).
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut c = vec![3u8];
        c.extend(std::iter::repeat_n(7u8, 700));
        s.write_all(&c).await.unwrap();
        s.shutdown().await.unwrap();
        assert!(closed(&mut s).await, "a truncated handshake was not closed");

        // 3. An oversized chunk size after a valid connect/publish.
        let mut p = RtmpPublisher::connect(port, &bad_key)
            .await
            .expect("valid publish");
        // Set Chunk Size (type 1) on chunk stream 2 to 2^31-1.
        let msg = [
            0x02, 0, 0, 0, 0, 0, 4, 0x01, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff,
        ];
        p.sock.write_all(&msg).await.unwrap();
        assert!(
            p.closed_within(Duration::from_secs(5)).await,
            "an oversized chunk size was accepted"
        );

        // 4. A malformed FLV tag (AVC sequence header cut short).
        refuses_video_tag(
            &stack,
            &bad_key,
            &[0x17, 0x00, 0, 0, 0, 0x01, 0x64],
            "a malformed FLV tag",
        )
        .await;
        // 5. An unsupported codec (Sorenson H.263) is refused by name.
        refuses_video_tag(
            &stack,
            &bad_key,
            &[0x12, 0x00, 0x00],
            "an unsupported codec",
        )
        .await;

        let log = stack.log("ingestd");
        for needle in [
            "RTMP handshake failed",
            "chunk size",
            "AVC sequence header",
            "Sorenson H.263",
        ] {
            assert!(
                log.contains(needle),
                "ingestd log lacks `{needle}`:\n{}",
                stage_e2e::tail(&log, 30)
            );
        }
        // The good stream never noticed.
        assert!(
            good.running(),
            "the good publisher was dropped: {}",
            good.errors()
        );
        let before = stack.get_text("/hls/good/source/index.m3u8").await.unwrap();
        let last_before = parse_media_playlist(&before).1.last().cloned();
        stack
            .wait_until(
                "the good stream keeps making segments",
                Duration::from_secs(6),
                || async {
                    let t = stack
                        .get_text("/hls/good/source/index.m3u8")
                        .await
                        .unwrap_or_default();
                    parse_media_playlist(&t).1.last().cloned() != last_before
                },
            )
            .await;
        assert_eq!(stack.stagectl_json(&["status"])["ingestd"]["up"], true);
    }
}

/// Publishes on `key` (once its previous stream has ended), sends one video
/// tag and asserts ingestd closes the connection.
async fn refuses_video_tag(stack: &Stack, key: &str, body: &[u8], what: &str) {
    stack
        .wait_until(
            "previous stream on the channel ended",
            Duration::from_secs(5),
            || async { stack.live("bad").await["live"] == false },
        )
        .await;
    let mut p = RtmpPublisher::connect(stack.ports.rtmp, key)
        .await
        .expect("valid publish");
    p.video(body, 0).await.unwrap();
    assert!(
        p.closed_within(Duration::from_secs(5)).await,
        "{what} was accepted"
    );
}
