//! The watch page through a network that misbehaves: the impairment proxy
//! (`stage_e2e::impair`) between headless Chromium and packagerd plays a
//! named profile for 90 s between clean stretches. Playback holds (at most
//! one `waiting`, none over 500 ms), the latency rises while the network is
//! bad (the page widens its target) and comes back to within 1.0 s of the
//! clean figure within 60 s of the network recovering.

use stage_e2e::browser::{Browser, brief_stall_report, stall_report};
use stage_e2e::impair::{Impairment, Profile};
use stage_e2e::{Backend, Clip, Publisher, Stack, loopback, playback_note};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The page's latency samples (ms) taken in [from, to) (Unix ms).
fn latencies(player: &serde_json::Value, from: i64, to: i64) -> Vec<f64> {
    player["latencies"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|x| (from..to).contains(&x[0].as_i64().unwrap_or(0)))
                .filter_map(|x| x[1].as_f64())
                .collect()
        })
        .unwrap_or_default()
}

fn median(mut v: Vec<f64>) -> f64 {
    assert!(!v.is_empty(), "no latency samples");
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

async fn plays_through(profile: Profile) {
    let name = format!("net{}", profile.name.replace(' ', ""));
    let stack = Stack::start(Backend::Sqlite).await.unwrap();
    let key = stack.create_channel(&name);
    // A 600 kbit/s stream (the rendition a phone on 4G is offered), copied in a loop
    // so no encoder competes with Chromium for the cores.
    let clip = Clip {
        seconds: Some(10),
        video_kbps: 600,
        ..Clip::small()
    };
    let _p = Publisher::start_copy(&clip, &stack.rtmp_url(&key), stack.dir.path());
    let imp = Impairment::start(loopback(stack.ports.http), Profile::clean())
        .await
        .expect("impairment proxy");
    let mut b = Browser::open(&imp.url(&format!("/watch/{name}")))
        .await
        .expect("chromium");
    let r = b.wait_playing(2.0, 60).await.unwrap();
    assert_eq!(r["ok"], true, "did not start: {r}");

    // Clean: where the page settles.
    let clean_from = now_ms() + 5_000;
    let r = b.wait_playing(20.0, 40).await.unwrap();
    assert_eq!(r["ok"], true, "did not play clean: {r}");
    let clean = median(latencies(&r["state"]["player"], clean_from, now_ms()));

    // The profile for 90 s of playback.
    let impaired_at = now_ms();
    imp.set(profile.clone());
    let r = b.wait_playing(90.0, 150).await.unwrap();
    let lifted_at = now_ms();
    imp.set(Profile::clean());
    assert_eq!(
        r["ok"],
        true,
        "did not play 90 s through {profile}: {}",
        stall_report(&r["state"]["player"])
    );
    let bad = latencies(&r["state"]["player"], impaired_at, lifted_at);
    let bad_max = bad.iter().cloned().fold(0.0, f64::max);
    let bad_median = median(bad);

    // Back within 1.0 s of the clean figure within 60 s: the median of the
    // last five samples.
    let limit = clean + 1000.0;
    let back = format!(
        "(p => {{ const l = p.latencies.filter(x => x[0] > {lifted_at}).slice(-5).map(x => x[1]).sort((a, b) => a - b); return l.length === 5 && l[2] <= {limit}; }})(window.stagePlayer)"
    );
    let r = b.wait_until(&back, 70).await.unwrap();
    let player = &r["state"]["player"];
    let targets = player["targets"].clone();
    let summary = format!(
        "{profile}: clean median {clean} ms; through it median {bad_median} ms, max {bad_max} ms; \
         back within 1 s of clean {} ms after; target changes {targets}; {}",
        r["waited_ms"],
        brief_stall_report(player)
    );
    eprintln!("{summary}");
    playback_note(&format!("network::{profile}"), &summary);
    assert_eq!(
        r["ok"],
        true,
        "latency not back within 1.0 s of {clean} ms 60 s after {profile} ended: {}",
        stall_report(player)
    );
    let waits: Vec<i64> = player["waits"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w.as_i64())
        .collect();
    assert!(
        waits.len() <= 1 && waits.iter().all(|w| *w <= 500),
        "waits {waits:?} through {profile}: {}",
        stall_report(player)
    );
    assert!(player["waitingSince"].is_null(), "still waiting: {player}");
    assert!(
        bad_median > clean,
        "the latency did not rise through {profile}: {bad_median} ms against {clean} ms clean"
    );
    b.close().await;
}

/// Home Wi-Fi: +30 ms, ±40 ms jitter, a 300 ms freeze every 20 s.
#[tokio::test]
async fn playback_holds_through_wifi() {
    plays_through(Profile::wifi()).await;
}

/// A 4G phone: +60 ms, ±80 ms, 6 Mbit/s dipping to 1.5 Mbit/s for 5 s
/// every 30 s.
#[tokio::test]
async fn playback_holds_through_4g() {
    plays_through(Profile::lte()).await;
}
