//! LL-HLS as a low-latency client sees it: a 60 s stream with a publisher
//! reconnect in the middle, followed the way hls.js follows it (blocking
//! reloads for the next part, delta updates, the preload hint fetched ahead).
//! Every playlist served is checked by an independent parser; blocking
//! responses are timed against the server's own part-completion stamps.
//!
//! Runs on SQLite only: nothing here touches the database beyond what the
//! other e2e tests cover on both backends, and it is a 60 s real-time stream.

use stage_e2e::llhls::Checker;
use stage_e2e::{Backend, Clip, Publisher, Stack};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn completed_at(r: &reqwest::Response) -> i64 {
    r.headers()
        .get("stage-completed-at")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("stage-completed-at header")
}

/// `HTTP-VERSION STATUS` of a GET by curl with `args`, e.g. `"2 200"`.
/// (curl, not reqwest: reqwest's HTTP/2 pulls in rustls, which rml_rtmp's
/// pinned `subtle` rules out of this workspace.)
fn curl(args: &[&str], url: &str) -> String {
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version} %{http_code}",
        ])
        .args(args)
        .arg(url)
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn percentile(v: &mut [i64], p: f64) -> i64 {
    v.sort_unstable();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test]
async fn ll_hls_follows_the_spec_across_a_reconnect_and_blocking_requests_are_prompt() {
    let mut stack = Stack::start(Backend::Sqlite).await.unwrap();
    let key = stack.create_channel("ll");
    let url = stack.rtmp_url(&key);
    let mut publisher = Publisher::start(&Clip::small(), &url, stack.dir.path());
    stack.wait_segments("ll", 1, Duration::from_secs(30)).await;
    let base = stack.url("/hls/ll/source/");
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let session = "e2e-session-0001";
    let get = |url: String| {
        client
            .get(url)
            .header("x-playback-session-id", session)
            .send()
    };

    // Refusals the spec asks for.
    let r = get(format!("{base}index.m3u8?_HLS_part=1")).await.unwrap();
    assert_eq!(r.status(), 400, "_HLS_part without _HLS_msn");
    let r = get(format!("{base}index.m3u8?_HLS_msn=999999"))
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "far ahead");
    let r = get(format!("{base}index.m3u8")).await.unwrap();
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=0, s-maxage=1",
        "plain playlist reloads are short-lived"
    );

    let mut checker = Checker::default();
    let text = get(format!("{base}index.m3u8"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut p = checker.check(&text).unwrap();
    let mut reload_ms: Vec<i64> = Vec::new();
    let mut hint_ms: Vec<i64> = Vec::new();
    let start = Instant::now();
    let mut reconnected = false;
    let mut round = 0u64;
    while start.elapsed() < Duration::from_secs(60) {
        round += 1;
        if !reconnected && start.elapsed() > Duration::from_secs(20) {
            // The publisher drops and comes back: a discontinuity, which
            // later slides into the range delta updates skip.
            publisher.kill();
            publisher = Publisher::start(&Clip::small(), &url, stack.dir.path());
            reconnected = true;
        }
        let (msn, part) = (p.open_msn(), p.open_parts.len());
        let skip = if round.is_multiple_of(2) {
            "&_HLS_skip=YES"
        } else {
            ""
        };
        let reload = get(format!(
            "{base}index.m3u8?_HLS_msn={msn}&_HLS_part={part}{skip}"
        ));
        // hls.js fetches the hinted part while it waits for the playlist.
        let hint = p.preload_hint.clone().unwrap();
        let hinted = get(format!("{base}{hint}"));
        let (r, h) = tokio::join!(reload, hinted);
        let r = r.unwrap();
        let got = now_ms();
        assert_eq!(r.status(), 200, "blocking reload {msn}.{part}");
        if skip.is_empty() {
            assert_eq!(
                r.headers()["cache-control"],
                "public, max-age=0, s-maxage=12",
                "a blocking response is cacheable under its canonical URL"
            );
        }
        let done = completed_at(&r);
        reload_ms.push(got - done);
        let text = r.text().await.unwrap();
        p = checker.check(&text).unwrap_or_else(|e| panic!("{e}"));
        let h = h.unwrap();
        if h.status() == 200 {
            let got = now_ms();
            assert_eq!(
                h.headers()["cache-control"],
                "public, max-age=31536000, immutable"
            );
            hint_ms.push(got - completed_at(&h));
            assert!(!h.bytes().await.unwrap().is_empty());
        } else {
            // Only across the reconnect may a hinted part never come.
            assert!(reconnected, "hinted part {hint}: {}", h.status());
        }
    }
    // A full reload with a cache buster is served but not cacheable.
    let r = get(format!(
        "{base}index.m3u8?_HLS_msn={}&x=1",
        p.open_msn() - 1
    ))
    .await
    .unwrap();
    assert_eq!(r.headers()["cache-control"], "no-cache");
    checker.check(&r.text().await.unwrap()).unwrap();

    eprintln!(
        "checked {} playlists ({} delta updates, {} skipping a discontinuity), {} hints, {} parts",
        checker.playlists,
        checker.deltas,
        checker.deltas_skipping_a_discontinuity,
        checker.hints_checked,
        checker.parts_seen
    );
    assert!(
        checker.parts_seen > 200,
        "only {} parts",
        checker.parts_seen
    );
    assert!(checker.hints_checked > 200);
    assert!(checker.deltas > 50);
    assert!(
        checker.deltas_skipping_a_discontinuity > 0,
        "no delta update skipped over the reconnect's discontinuity"
    );
    let (p50, p95, max) = (
        percentile(&mut reload_ms, 0.5),
        percentile(&mut reload_ms, 0.95),
        percentile(&mut reload_ms, 1.0),
    );
    let (h50, h95) = (
        percentile(&mut hint_ms, 0.5),
        percentile(&mut hint_ms, 0.95),
    );
    eprintln!(
        "blocking reload after part completion: median {p50} ms, p95 {p95} ms, max {max} ms; \
         hinted part: median {h50} ms, p95 {h95} ms ({} samples)",
        reload_ms.len()
    );
    assert!(
        p95 <= 100,
        "blocking reloads answered {p95} ms (p95) after the part"
    );
    assert!(
        h95 <= 100,
        "hinted parts answered {h95} ms (p95) after completion"
    );
    assert!(max <= 1000, "a blocking reload took {max} ms");

    // HTTP/2 without TLS (prior knowledge), as a CDN or proxy may speak it.
    let header = format!("x-playback-session-id: {session}");
    assert_eq!(
        curl(
            &["--http2-prior-knowledge", "-H", &header],
            &format!("{base}index.m3u8")
        ),
        "2 200"
    );

    // Viewers: this client (session id) and one without (address + agent).
    let r = client
        .get(format!("{base}index.m3u8"))
        .header("user-agent", "e2e-plain-client")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let live = stack.live("ll").await;
    assert_eq!(live["viewers"], 2, "{live}");
    let stream_id = live["stream_id"].as_i64().unwrap();
    let status = stack
        .admin_status(stack.ports.packager_admin)
        .await
        .unwrap();
    let s = &status["streams"][0];
    assert_eq!(s["viewers"], 2, "{status}");
    assert_eq!(s["long_parts"], 0, "{status}");

    // Stopping packagerd closes the sessions it holds: watch time recorded.
    publisher.stop_cleanly();
    stack.shutdown();
    let db = stack.db().await;
    let sessions = db.viewer_sessions(stream_id).await.unwrap();
    // (The harness's own early playlist polls are a third, long gone.)
    assert_eq!(
        sessions.iter().filter(|s| s.identified).count(),
        1,
        "{sessions:?}"
    );
    let main = sessions.iter().find(|s| s.identified).expect("identified");
    assert!(main.watch_ms >= 55_000, "{main:?}");
    assert!(main.left_at.is_some());
    assert!(
        sessions
            .iter()
            .any(|s| !s.identified && s.user_agent == "e2e-plain-client"),
        "{sessions:?}"
    );
    assert!(sessions.iter().all(|s| s.left_at.is_some()), "{sessions:?}");
    let stream = db.stream(stream_id).await.unwrap().unwrap();
    assert!(stream.peak_viewers >= 2, "{stream:?}");
}

/// `packagerd.tls_cert`/`tls_key`: the public listener speaks HTTPS with
/// HTTP/2 or HTTP/1.1 by ALPN, serves LL-HLS and counts viewers as over
/// plain HTTP.
#[tokio::test]
async fn https_serves_http2_and_http1_by_alpn() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let st = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .args([
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ])
        .output()
        .expect("openssl");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let extra = format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"",
        cert.display(),
        key.display()
    );
    let stack = Stack::start_with(Backend::Sqlite, &extra).await.unwrap();
    assert!(
        stack.up_stdout().contains("https://"),
        "banner should show the https player URL: {}",
        stack.up_stdout()
    );
    let key = stack.create_channel("tls");
    let _p = Publisher::start(&Clip::small(), &stack.rtmp_url(&key), stack.dir.path());
    let base = format!("https://127.0.0.1:{}", stack.ports.http);
    let https = |version: &str, path: &str| {
        let h = [
            "-k",
            version,
            "-H",
            "x-playback-session-id: tls-session-0001",
        ];
        curl(&h, &format!("{base}{path}"))
    };
    assert_eq!(https("--http2", "/healthz"), "2 200");
    assert_eq!(https("--http1.1", "/healthz"), "1.1 200");
    // Plain HTTP on the TLS port is refused, not served.
    let plain = curl(
        &["--max-time", "5"],
        &format!("http://127.0.0.1:{}/healthz", stack.ports.http),
    );
    assert!(!plain.ends_with(" 200"), "{plain}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if https("--http2", "/hls/tls/source/index.m3u8") == "2 200" {
            break;
        }
        assert!(Instant::now() < deadline, "no playlist over HTTPS");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let status = stack
        .admin_status(stack.ports.packager_admin)
        .await
        .unwrap();
    assert_eq!(status["streams"][0]["viewers"], 1, "{status}");
}
