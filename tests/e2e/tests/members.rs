//! A members-only channel end to end (dev provider): packagerd refuses its
//! playlists and segments without a valid playback token (none, expired,
//! another channel's, tampered) and serves them privately with one; in
//! headless Chromium a viewer sees the subscribe screen, registers,
//! subscribes, watches, tips, and the tip shows in chat.

use serde_json::{Value, json};
use stage_core::tokens::{Claims, Signer, now_s};
use stage_e2e::browser::Browser;
use stage_e2e::{Backend, Clip, Publisher, Stack};
use std::time::Duration;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn get(url: &str) -> (u16, String, String) {
    let r = client().get(url).send().await.unwrap();
    let cache = r
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (
        r.status().as_u16(),
        cache,
        r.text().await.unwrap_or_default(),
    )
}

/// The first URI line of a playlist (a variant, or a segment).
fn first_uri(playlist: &str) -> String {
    playlist
        .lines()
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or_else(|| panic!("no URI in {playlist}"))
        .to_string()
}

async fn until(b: &mut Browser, what: &str, expr: &str, secs: u64) -> Value {
    let r = b.wait_until(expr, secs).await.unwrap();
    assert_eq!(r["ok"], true, "{what}: {r}");
    r
}

#[tokio::test]
async fn members_only_needs_a_token_and_a_subscriber_watches_and_tips() {
    let Some(stack) = Stack::start(Backend::Sqlite).await else {
        return;
    };
    let v = stack.stagectl_json(&["channel", "create", "club", "--members-only"]);
    let key = v["stream_key"].as_str().unwrap().to_string();
    let (code, _, err) = stack.stagectl(&["billing", "tier", "create", "club", "Fan", "3.00"]);
    assert_eq!(code, 0, "{err}");
    let clip = Clip {
        seconds: Some(60),
        ..Clip::small()
    };
    let mut publisher = Publisher::start_copy(&clip, &stack.rtmp_url(&key), stack.dir.path());
    stack.wait_live("club", Duration::from_secs(30)).await;

    // Tokens made with the install's key, as billingd makes them.
    let secret = std::fs::read_to_string(stack.dir.path().join("data/auth.key")).unwrap();
    let signer = Signer::new(secret.trim().as_bytes());
    let token = |channel: &str, exp: i64| {
        signer.sign(&Claims {
            kind: "play".into(),
            sub: 1,
            name: "operator".into(),
            role: "owner".into(),
            exp,
            channel: channel.into(),
        })
    };
    let good = token("club", now_s() + 600);
    let mut tampered = good.clone().into_bytes();
    let n = tampered.len();
    tampered[n - 3] = if tampered[n - 3] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let base = stack.url("/hls/club/index.m3u8");
    let with_good = format!("{base}?token={good}");
    stack
        .wait_until("the members-only playlist", Duration::from_secs(30), || {
            let u = with_good.clone();
            async move { get(&u).await.0 == 200 }
        })
        .await;
    let (s, _, body) = get(&base).await;
    assert_eq!(s, 403, "no token: {body}");
    for (what, t) in [
        ("expired", token("club", now_s() - 1)),
        ("another channel's", token("demo", now_s() + 600)),
        ("tampered", tampered.clone()),
    ] {
        let (s, cache, body) = get(&format!("{base}?token={t}")).await;
        assert_eq!(
            (s, cache.as_str()),
            (403, "private, no-store"),
            "{what}: {body}"
        );
    }

    // With a token: private, and every URI carries it on.
    let (s, cache, multi) = get(&format!("{base}?token={good}")).await;
    assert_eq!((s, cache.as_str()), (200, "private, no-cache"), "{multi}");
    let variant = first_uri(&multi);
    assert!(variant.ends_with(&format!("?token={good}")), "{multi}");
    let (s, cache, media) = get(&stack.url(&format!("/hls/club/{variant}"))).await;
    assert_eq!((s, cache.as_str()), (200, "private, no-cache"), "{media}");
    let rendition = variant.split('/').next().unwrap();
    let seg = first_uri(&media);
    assert!(seg.contains(&format!("token={good}")), "{media}");
    assert!(
        media
            .lines()
            .filter(|l| l.contains("URI=\""))
            .all(|l| l.contains("token=")),
        "{media}"
    );
    let seg_url = stack.url(&format!("/hls/club/{rendition}/{seg}"));
    let (s, cache, _) = get(&seg_url).await;
    assert_eq!((s, cache.as_str()), (200, "private, max-age=600"));
    let bare = seg_url.split('?').next().unwrap().to_string();
    assert_eq!(get(&bare).await.0, 403, "a segment without a token");
    assert_eq!(get(&format!("{bare}?token={tampered}")).await.0, 403);
    assert_eq!(
        get(&format!("{bare}?token={}", token("club", now_s() - 1)))
            .await
            .0,
        403
    );

    // A viewer in Chromium: the subscribe screen, then register, subscribe,
    // watch, tip.
    let mut b = Browser::open(&stack.url("/watch/club"))
        .await
        .expect("chromium");
    until(
        &mut b,
        "the members-only screen",
        "window.stageMembers && window.stageMembers.gate && !document.getElementById('gate').hidden && document.querySelector('#gatetiers .subscribe')",
        30,
    )
    .await;
    b.fill("#auth-user", "vic").await.unwrap();
    b.fill("#auth-email", "vic@example.com").await.unwrap();
    b.fill("#auth-pass", "vic's password").await.unwrap();
    b.click("#register").await.unwrap();
    until(&mut b, "registered", "window.stageChat.user === 'vic'", 20).await;
    b.click("#gatetiers .subscribe").await.unwrap();
    until(
        &mut b,
        "the checkout page",
        "location.pathname.startsWith('/billing/dev/checkout/') && !!document.getElementById('pay')",
        20,
    )
    .await;
    let price = b
        .eval("document.getElementById('price').textContent")
        .await
        .unwrap();
    assert_eq!(price, "3.00 USD");
    b.click("#pay").await.unwrap();
    until(
        &mut b,
        "back on the channel as a member",
        "location.pathname === '/watch/club' && window.stageMembers && window.stageMembers.member",
        20,
    )
    .await;
    let r = b.wait_playing(3.0, 60).await.unwrap();
    assert_eq!(r["ok"], true, "a member plays the stream: {r}");
    let gate = b
        .eval("document.getElementById('gate').hidden")
        .await
        .unwrap();
    assert_eq!(gate, true);

    b.fill("#tipamount", "2.50").await.unwrap();
    b.fill("#tipmsg", "<i>great</i> show").await.unwrap();
    b.click("#tipsend").await.unwrap();
    until(
        &mut b,
        "the tip's checkout page",
        "location.pathname.startsWith('/billing/dev/checkout/') && !!document.getElementById('pay')",
        20,
    )
    .await;
    b.click("#pay").await.unwrap();
    until(
        &mut b,
        "the tip in chat",
        "Array.from(document.querySelectorAll('#messages li.msg.tip')).some(li => li.querySelector('.amount').textContent === '2.50 USD' && li.querySelector('.body').textContent === '<i>great</i> show' && !li.querySelector('i'))",
        30,
    )
    .await;

    // The broadcast ends: its replay is members-only too, and plays for the
    // member on the replay page.
    publisher.stop_cleanly();
    stack
        .wait_until("the VOD listed", Duration::from_secs(30), || async {
            let list = stack
                .get_json("/vods?channel=club")
                .await
                .unwrap_or_default();
            list["vods"].as_array().is_some_and(|v| !v.is_empty())
        })
        .await;
    let list = stack.get_json("/vods?channel=club").await.unwrap();
    let vod_id = list["vods"][0]["id"].as_i64().unwrap();
    let vod = stack.get_json(&format!("/vods/{vod_id}")).await.unwrap();
    assert_eq!(vod["members_only"], true, "{vod}");
    let vod_pl = stack.url(&format!("/vods/{vod_id}/index.m3u8"));
    assert_eq!(
        get(&vod_pl).await.0,
        403,
        "a members-only VOD without a token"
    );
    let fresh = token("club", now_s() + 600);
    let (s, cache, multi) = get(&format!("{vod_pl}?token={fresh}")).await;
    assert_eq!((s, cache.as_str()), (200, "private, no-cache"), "{multi}");
    assert!(
        first_uri(&multi).ends_with(&format!("?token={fresh}")),
        "{multi}"
    );
    b.eval(&format!("location.href = '/vod/{vod_id}'"))
        .await
        .unwrap();
    until(
        &mut b,
        "the member plays the replay",
        "location.pathname.startsWith('/vod/') && window.stagePlayer && window.stagePlayer.vod && document.getElementById('video').currentTime > 1",
        30,
    )
    .await;
    b.close().await;

    // The ledger has the membership and the tip.
    let report = stack.stagectl_json(&["billing", "report", "--channel", "club"]);
    let total = report
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "total")
        .cloned()
        .unwrap();
    assert_eq!(total["gross"], json!(550), "{report}");
}
