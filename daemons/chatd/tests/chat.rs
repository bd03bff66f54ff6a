//! chatd over real sockets: the protocol, REST, moderation, polls, reactions
//! and persistence, with raw WebSocket clients.

mod common;

use common::{Chatd, channel, user};
use serde_json::json;
use stage_testing::FetchJson;
use std::time::{Duration, Instant};

#[tokio::test]
async fn messages_fan_out_are_kept_in_history_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::config(dir.path());
    let mut d = Chatd::start_with(cfg.clone()).await;
    let ch = channel(&d.db, "demo").await;
    let stream = d.db.start_stream(&ch).await.unwrap();
    let ana = user(&d.db, "ana").await;
    let mut a = d.connect("demo", Some(&d.token(&ana))).await;
    let mut g = d.connect("demo", None).await;

    // The live stream was noted when the room started (ingestd's notice
    // keeps it current afterwards).
    let t0 = Instant::now();
    a.chat("  hello <b>world</b>  ").await;
    let m = g.expect("chat").await;
    assert!(
        t0.elapsed() < Duration::from_millis(500),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(m["user"], "ana");
    assert_eq!(m["role"], "viewer");
    assert_eq!(
        m["body"], "hello <b>world</b>",
        "trimmed, otherwise as typed"
    );
    assert_eq!(
        a.expect("chat").await["id"],
        m["id"],
        "the sender sees it too"
    );

    // Guests read but may not write unless the channel allows them.
    g.chat("hi").await;
    assert_eq!(g.error_code().await, "login_required");

    // REST posting goes through the same room and rules.
    let http = reqwest::Client::new();
    let res = http
        .post(format!("http://{}/streams/{}/chat", d.public, stream.id))
        .bearer_auth(d.token(&ana))
        .json(&json!({"body": "over REST"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(g.expect("chat").await["body"], "over REST");
    let res = http
        .post(format!("http://{}/streams/{}/chat", d.public, stream.id))
        .json(&json!({"body": "anonymous"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["code"],
        "login_required"
    );
    let bad = http
        .post(format!("http://{}/streams/{}/chat", d.public, stream.id))
        .bearer_auth("forged.token")
        .json(&json!({"body": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);

    // A newcomer gets the history.
    let mut late = common::Ws::connect(d.public, "demo", None).await;
    let h = late.expect("history").await;
    let bodies: Vec<_> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(bodies, ["hello <b>world</b>", "over REST"]);

    // Stored in batches; after a restart the history is still there and the
    // REST history pages by id.
    d.stop().await;
    let d = Chatd::start_with(cfg).await;
    let mut again = d.connect("demo", None).await;
    let h = again.expect("history").await;
    assert_eq!(h["messages"].as_array().unwrap().len(), 2);
    let page: serde_json::Value = http
        .get(format!(
            "http://{}/streams/{}/chat?limit=1",
            d.public, stream.id
        ))
        .fetch_json()
        .await;
    assert_eq!(page["messages"][0]["body"], "over REST");
    let before = page["before"].as_str().unwrap();
    let older: serde_json::Value = http
        .get(format!(
            "http://{}/streams/{}/chat?before={before}",
            d.public, stream.id
        ))
        .fetch_json()
        .await;
    assert_eq!(older["messages"][0]["body"], "hello <b>world</b>");
    assert_eq!(older["messages"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn rate_limits_slow_mode_bans_and_timeouts_are_enforced_server_side() {
    let d = Chatd::start(|c| {
        c.chat.user_rate = 3;
        c.chat.ip_rate = 100;
    })
    .await;
    channel(&d.db, "demo").await;
    let (bob, eve, mo) = (
        user(&d.db, "bob").await,
        user(&d.db, "eve").await,
        user(&d.db, "mod1").await,
    );
    let demo = d.db.channel("demo").await.unwrap().unwrap();
    d.db.set_moderator(demo.id, mo.id, true).await.unwrap();
    let mut b = d.connect("demo", Some(&d.token(&bob))).await;
    let mut e = d.connect("demo", Some(&d.token(&eve))).await;
    let mut m = d.connect("demo", Some(&d.token(&mo))).await;

    // Rate limit: the 4th message in the window is refused, with a wait.
    for i in 0..3 {
        b.chat(&format!("m{i}")).await;
        b.expect_where("chat", |v| v["user"] == "bob").await;
    }
    b.chat("one too many").await;
    let err = b.expect("error").await;
    assert_eq!(err["code"], "rate_limited");
    assert!(err["retry_after_ms"].as_u64().unwrap() > 0);
    // Nobody else received it.
    e.chat("eve here").await;
    let next = e.expect("chat").await;
    assert!(next["body"] != "one too many");

    // Slow mode (from the admin API, as stagectl does).
    let (s, _) = d
        .admin_post(
            &stage_core::api::CHAT_SETTINGS.path(&["demo"]),
            json!({"slow_seconds": 30}),
        )
        .await;
    assert_eq!(s, 200);
    e.expect_where("moderation", |v| v["action"] == "settings")
        .await;
    e.chat("second within 30 s").await;
    assert_eq!(e.error_code().await, "slow_mode");
    // Moderators are exempt.
    m.chat("mods are exempt").await;
    m.expect_where("chat", |v| v["user"] == "mod1").await;
    d.admin_post(
        &stage_core::api::CHAT_SETTINGS.path(&["demo"]),
        json!({"slow_seconds": 0}),
    )
    .await;

    // Timeout, then ban; the refusals are explicit.
    let (s, _) = d
        .admin_post(
            &stage_core::api::CHAT_ACTION.path(&["demo", "timeout"]),
            json!({"user": "eve", "seconds": 60}),
        )
        .await;
    assert_eq!(s, 200);
    e.expect_where("moderation", |v| v["action"] == "timeout")
        .await;
    e.chat("can I talk?").await;
    let err = e.expect("error").await;
    assert_eq!(err["code"], "timed_out");
    // A moderator bans over the WebSocket.
    m.send(json!({"type": "ban", "user": "bob"})).await;
    b.expect_where("moderation", |v| v["action"] == "ban" && v["user"] == "bob")
        .await;
    b.chat("still here").await;
    assert_eq!(b.error_code().await, "banned");
    // A viewer cannot moderate; moderators cannot be banned.
    e.send(json!({"type": "ban", "user": "mod1"})).await;
    assert_eq!(e.error_code().await, "forbidden");
    let (s, v) = d
        .admin_post(
            &stage_core::api::CHAT_ACTION.path(&["demo", "ban"]),
            json!({"user": "mod1"}),
        )
        .await;
    assert_eq!((s, v["code"].as_str()), (403, Some("forbidden")));
    // Unban restores.
    d.admin_post(
        &stage_core::api::CHAT_ACTION.path(&["demo", "unban"]),
        json!({"user": "bob"}),
    )
    .await;
    b.expect_where("moderation", |v| v["action"] == "unban")
        .await;

    // Blocked words and the length limit.
    d.admin_post(
        &stage_core::api::CHAT_SETTINGS.path(&["demo"]),
        json!({"add_words": ["Spoiler"]}),
    )
    .await;
    b.expect_where("moderation", |v| v["action"] == "settings")
        .await;
    // bob's rate bucket refills one message per 3.3 s: wait it out by the
    // clock the server gave, not a guess.
    let mut e2 = d
        .connect("demo", Some(&d.token(&user(&d.db, "zed").await)))
        .await;
    e2.chat("big SPOILER ahead").await;
    assert_eq!(e2.error_code().await, "blocked_word");
    e2.chat(&"x".repeat(501)).await;
    assert_eq!(e2.error_code().await, "too_long");
    e2.send(json!({"type": "chat"})).await;
    assert_eq!(e2.error_code().await, "bad_frame");

    // Members-only chat.
    d.admin_post(
        &stage_core::api::CHAT_SETTINGS.path(&["demo"]),
        json!({"members_only": true}),
    )
    .await;
    e2.expect_where("moderation", |v| v["action"] == "settings")
        .await;
    e2.chat("not a member").await;
    assert_eq!(e2.error_code().await, "members_only");

    // Every action is in the audit log, newest first; entries are stored in
    // batches (every 100 ms).
    let audit = || async {
        let audit = d
            .admin_get(&stage_core::api::CHAT_AUDIT.path(&["demo"]))
            .await;
        audit["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                format!(
                    "{} {} {}",
                    a["actor"].as_str().unwrap(),
                    a["action"].as_str().unwrap(),
                    a["target"].as_str().unwrap()
                )
            })
            .collect::<Vec<_>>()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut actions = audit().await;
    while actions.len() < 7 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        actions = audit().await;
    }
    assert!(
        actions.contains(&"stagectl timeout eve".to_string()),
        "{actions:?}"
    );
    assert!(actions.contains(&"mod1 ban bob".to_string()), "{actions:?}");
    assert!(
        actions.contains(&"stagectl unban bob".to_string()),
        "{actions:?}"
    );
    assert!(d.metric("chat_refused_total").await >= 8);
}

#[tokio::test]
async fn deletes_polls_and_reactions_reach_every_client() {
    let d = Chatd::start(|_| {}).await;
    let ch = channel(&d.db, "demo").await;
    let (ana, bo, mo) = (
        user(&d.db, "ana").await,
        user(&d.db, "bo1").await,
        user(&d.db, "mod1").await,
    );
    d.db.set_moderator(ch.id, mo.id, true).await.unwrap();
    let mut a = d.connect("demo", Some(&d.token(&ana))).await;
    let mut b = d.connect("demo", Some(&d.token(&bo))).await;
    let mut m = d.connect("demo", Some(&d.token(&mo))).await;

    // A moderator deletes over the WebSocket; stagectl over the admin API.
    a.chat("delete me").await;
    let id = b.expect("chat").await["id"].as_str().unwrap().to_string();
    m.expect("chat").await;
    m.send(json!({"type": "delete", "id": id})).await;
    assert_eq!(a.expect("deleted").await["id"], id.as_str());
    assert_eq!(b.expect("deleted").await["id"], id.as_str());
    a.chat("and me").await;
    let id2 = b.expect("chat").await["id"].as_str().unwrap().to_string();
    let t0 = Instant::now();
    let (s, _) = d
        .admin_post(
            &stage_core::api::CHAT_ACTION.path(&["demo", "delete"]),
            json!({"id": id2}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(b.expect("deleted").await["id"], id2.as_str());
    assert!(t0.elapsed() < Duration::from_secs(1));
    let (s, v) = d
        .admin_post(
            &stage_core::api::CHAT_ACTION.path(&["demo", "delete"]),
            json!({"id": "0".repeat(21)}),
        )
        .await;
    assert_eq!((s, v["code"].as_str()), (404, Some("not_found")));
    // Deleted messages leave the history.
    let mut late = d.connect("demo", None).await;
    assert_eq!(late.expect("history").await["messages"], json!([]));

    // Polls: created by a moderator, one vote per account, live tallies.
    m.send(json!({"type": "poll_create", "question": "Next game?", "options": ["A", "B"]}))
        .await;
    let p = a.expect("poll").await;
    let pid = p["poll"]["id"].as_i64().unwrap();
    assert_eq!(p["poll"]["status"], "open");
    a.send(json!({"type": "vote", "poll_id": pid, "option": 1}))
        .await;
    b.send(json!({"type": "vote", "poll_id": pid, "option": 1}))
        .await;
    let t = late
        .expect_where("poll", |v| v["poll"]["votes"] == json!([0, 2]))
        .await;
    assert_eq!(t["poll"]["options"], json!(["A", "B"]));
    a.send(json!({"type": "vote", "poll_id": pid, "option": 0}))
        .await;
    assert_eq!(a.error_code().await, "already_voted");
    a.send(json!({"type": "vote", "poll_id": pid, "option": 7}))
        .await;
    assert_eq!(a.error_code().await, "bad_option");
    late.send(json!({"type": "vote", "poll_id": pid, "option": 0}))
        .await;
    assert_eq!(late.error_code().await, "login_required");
    let (s, closed) = d
        .admin_post(
            &stage_core::api::CHAT_POLL_CLOSE.path(&["demo", &pid.to_string()]),
            json!({}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(closed["votes"], json!([0, 2]));
    b.expect_where("poll", |v| v["poll"]["status"] == "closed")
        .await;
    // Kept with the stream's channel.
    let polls = d
        .admin_get(&stage_core::api::CHAT_POLLS.path(&["demo"]))
        .await;
    assert_eq!(polls["polls"][0]["votes"], json!([0, 2]));

    // Reactions arrive aggregated.
    for _ in 0..3 {
        a.send(json!({"type": "react", "emoji": "🔥"})).await;
    }
    b.send(json!({"type": "react", "emoji": "🎉"})).await;
    let mut fire = 0;
    let mut party = 0;
    let deadline = Instant::now() + Duration::from_secs(3);
    while (fire, party) != (3, 1) && Instant::now() < deadline {
        let r = late.expect("reactions").await;
        fire += r["counts"]["🔥"].as_u64().unwrap_or(0);
        party += r["counts"]["🎉"].as_u64().unwrap_or(0);
    }
    assert_eq!((fire, party), (3, 1));
    a.send(json!({"type": "react", "emoji": "<script>"})).await;
    assert_eq!(a.error_code().await, "bad_reaction");

    // Viewer counts.
    let v = late.expect_where("viewers", |v| v["count"] == 4).await;
    assert_eq!(v["count"], 4);
}

#[tokio::test]
async fn bad_tokens_and_unknown_channels_are_refused_before_the_upgrade() {
    let d = Chatd::start(|_| {}).await;
    channel(&d.db, "demo").await;
    let url = format!("ws://{}/ws/demo?token=abc.def", d.public);
    let err = tokio_tungstenite::connect_async(url).await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    let url = format!("ws://{}/ws/nope", d.public);
    let err = tokio_tungstenite::connect_async(url).await.unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    // A platform-banned account cannot join; one banned while connected is
    // closed with 4003.
    let u = user(&d.db, "troll").await;
    let mut w = d.connect("demo", Some(&d.token(&u))).await;
    d.db.set_user_banned(u.id, true).await.unwrap();
    let (s, _) = d
        .admin_post(
            &stage_core::api::CHAT_USER_KICK.path(&[&u.id.to_string()]),
            json!({}),
        )
        .await;
    assert_eq!(s, 200);
    while w.next_within(Duration::from_secs(5)).await.is_some() {}
    assert_eq!(w.closed, Some(4003));
    let url = format!("ws://{}/ws/demo?token={}", d.public, d.token(&u));
    let err = tokio_tungstenite::connect_async(url).await.unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
}

#[tokio::test]
async fn behind_a_loopback_proxy_the_per_address_limit_uses_the_forwarded_address() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let d = Chatd::start(|c| {
        c.client_ip_header = "X-Forwarded-For".into();
        c.chat.ip_rate = 2;
        c.chat.user_rate = 100;
    })
    .await;
    let ch = channel(&d.db, "demo").await;
    let mut s = d.db.chat_settings(ch.id).await.unwrap();
    s.guests = true;
    d.db.set_chat_settings(ch.id, &s).await.unwrap();
    async fn from(d: &Chatd, ip: &str) -> common::Ws {
        let mut req = format!("ws://{}/ws/demo", d.public)
            .into_client_request()
            .unwrap();
        // A client's own claim first; the proxy appends the real address.
        req.headers_mut()
            .insert("x-forwarded-for", format!("1.2.3.4, {ip}").parse().unwrap());
        common::Ws::from_request(req).await
    }
    let mut a = from(&d, "203.0.113.1").await;
    let mut b = from(&d, "203.0.113.2").await;
    for i in 0..2 {
        a.chat(&format!("a{i}")).await;
        a.expect_where("chat", |v| v["body"] == format!("a{i}").as_str())
            .await;
    }
    a.chat("a2").await;
    assert_eq!(a.error_code().await, "rate_limited");
    // Another address has its own allowance.
    b.chat("b0").await;
    b.expect_where("chat", |v| v["body"] == "b0").await;
}

#[tokio::test]
async fn clients_that_come_and_go_leave_nothing_behind_and_shutdown_says_going_away() {
    let mut d = Chatd::start(|_| {}).await;
    channel(&d.db, "demo").await;
    for _ in 0..5 {
        let mut batch = Vec::new();
        for _ in 0..40 {
            batch.push(d.connect("demo", None).await);
        }
        assert_eq!(d.metric("chat_connections").await, 40);
        drop(batch);
        let deadline = Instant::now() + Duration::from_secs(5);
        while d.metric("chat_connections").await != 0 {
            assert!(Instant::now() < deadline, "connections leaked");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let status = d.admin_get("/status").await;
    assert_eq!(status["rooms"][0]["clients"], 0, "{status}");
    // Open clients hear "going away" when chatd stops.
    let mut w = d.connect("demo", None).await;
    d.stop().await;
    while w.next_within(Duration::from_secs(5)).await.is_some() {}
    assert_eq!(w.closed, Some(1001));
}

#[tokio::test]
async fn a_paid_tip_appears_highlighted_with_its_amount() {
    let d = Chatd::start(|_| {}).await;
    let ch = channel(&d.db, "demo").await;
    let ana = user(&d.db, "ana").await;
    let stream = d.db.start_stream(&ch).await.unwrap();
    let mut viewer = d.connect("demo", None).await;
    let (s, _) = d
        .admin_post(
            &stage_core::api::CHAT_ACTION.path(&["demo", "tip"]),
            json!({"user_id": ana.id, "user": "ana", "amount_minor": 1000, "currency": "usd",
                "message": "<b>great</b> stream", "stream_id": stream.id}),
        )
        .await;
    assert_eq!(s, 204);
    let m = viewer.expect("chat").await;
    assert_eq!(m["user"], "ana");
    assert_eq!(m["body"], "<b>great</b> stream");
    assert_eq!(m["tip"]["amount_minor"], 1000);
    assert_eq!(m["tip"]["display"], "10.00 USD");
    // Kept with the room's history (and the stream's chat).
    let mut late = d.connect("demo", None).await;
    let h = late.expect("history").await;
    assert_eq!(h["messages"][0]["tip"]["display"], "10.00 USD", "{h}");
    // Malformed notices are refused.
    let (s, _) = d
        .admin_post(
            &stage_core::api::CHAT_ACTION.path(&["demo", "tip"]),
            json!({"amount_minor": "x"}),
        )
        .await;
    assert_eq!(s, 422);
}
