//! billingd's payments over real HTTP: the webhook's signature checks and
//! exactly-once processing (100 concurrent deliveries, SQLite and
//! PostgreSQL), and the dev provider's whole flow (subscribe, pay, playback
//! token, tip into chat, cancel).

use serde_json::{Value, json};
use stage_core::billing::signature;
use stage_core::tokens::{Signer, now_s};
use stage_core::{Config, Db, keys};
use stage_testing as testing;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc;

mod common;
use common::KEY;
use stage_testing::FetchJson;
const SECRET: &str = "whsec_test_0123456789abcdef";
const OLD_SECRET: &str = "whsec_test_old_0123456789abcdef";

/// billingd with a stand-in chatd beside it.
struct Billingd {
    d: common::Billingd,
    /// Tips billingd posted to (a stand-in for) chatd's admin API.
    chat: mpsc::UnboundedReceiver<(String, Value)>,
}

impl std::ops::Deref for Billingd {
    type Target = common::Billingd;
    fn deref(&self) -> &common::Billingd {
        &self.d
    }
}

/// A stand-in for chatd's admin API that records what it is told.
async fn fake_chatd() -> (SocketAddr, mpsc::UnboundedReceiver<(String, Value)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        stage_core::api::CHAT_ACTION.pattern(),
        axum::routing::post(
            move |axum::extract::Path((c, action)): axum::extract::Path<(String, String)>,
                  axum::Json(v): axum::Json<Value>| {
                let tx = tx.clone();
                async move {
                    if action != "tip" {
                        return axum::http::StatusCode::NOT_FOUND;
                    }
                    let _ = tx.send((c, v));
                    axum::http::StatusCode::NO_CONTENT
                }
            },
        ),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (addr, rx)
}

async fn start(db_url: Option<String>, edit: impl FnOnce(&mut Config)) -> Billingd {
    let (chat_addr, chat) = fake_chatd().await;
    let d = common::Billingd::start(|cfg| {
        if let Some(u) = db_url {
            cfg.database.url = u;
        }
        cfg.chatd.admin_listen = chat_addr;
        cfg.billing.public_url = format!("http://{}", cfg.billingd.listen);
        edit(cfg);
    })
    .await;
    Billingd { d, chat }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap()
}

fn event(id: &str, kind: &str, object: Value) -> String {
    json!({"id": id, "object": "event", "type": kind, "created": now_s(),
        "data": {"object": object}})
    .to_string()
}

async fn deliver(b: &Billingd, payload: &str, sig: Option<String>) -> (u16, Value) {
    let mut r = client()
        .post(format!("http://{}/stripe/webhook", b.public))
        .header("content-type", "application/json")
        .body(payload.to_string());
    if let Some(s) = sig {
        r = r.header("Stripe-Signature", s);
    }
    let res = r.send().await.unwrap();
    let s = res.status().as_u16();
    (s, res.json().await.unwrap_or(Value::Null))
}

async fn count(db: &Db, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(db.pool())
        .await
        .unwrap()
}

/// A viewer, a channel and an open tip checkout of 500 for it.
async fn tip_checkout(db: &Db, id: &str) -> (i64, i64) {
    let owner = db.ensure_owner("operator").await.unwrap();
    let ch = db
        .create_channel(owner, "demo", false, &keys::hash(&keys::generate()))
        .await
        .unwrap();
    let u = db.create_user("ana", "ana@x.io", "h").await.unwrap();
    db.create_checkout(&stage_core::billing::Checkout {
        id: id.into(),
        kind: "tip".into(),
        user_id: u.id,
        channel_id: ch.id,
        tier_id: None,
        stream_id: None,
        amount_minor: 500,
        currency: "usd".into(),
        message: "hi".into(),
        status: "open".into(),
        return_url: String::new(),
        created_at: 0,
    })
    .await
    .unwrap();
    (u.id, ch.id)
}

fn paid(cs: &str) -> Value {
    json!({"id": cs, "object": "checkout.session", "mode": "payment", "payment_status": "paid",
        "amount_total": 500, "currency": "usd", "payment_intent": format!("pi_{cs}")})
}

#[tokio::test]
async fn webhook_refuses_forged_stale_tampered_and_malformed_deliveries() {
    let b = start(None, |c| {
        c.billing.webhook_secrets = vec![OLD_SECRET.into(), SECRET.into()];
    })
    .await;
    tip_checkout(&b.db, "cs_1").await;
    let good = event("evt_1", "checkout.session.completed", paid("cs_1"));
    let now = now_s();
    let refused = [
        ("no header", good.clone(), None),
        (
            "forged",
            good.clone(),
            Some(signature::sign(
                good.as_bytes(),
                &["whsec_guessed_000000000"],
                now,
            )),
        ),
        (
            "stale",
            good.clone(),
            Some(signature::sign(good.as_bytes(), &[SECRET], now - 301)),
        ),
        (
            "tampered",
            good.replace("500", "50000"),
            Some(signature::sign(good.as_bytes(), &[SECRET], now)),
        ),
        (
            "malformed JSON",
            "{\"id\": ".to_string(),
            Some(signature::sign(b"{\"id\": ", &[SECRET], now)),
        ),
        (
            "not an event",
            "{\"id\": \"x\"}".to_string(),
            Some(signature::sign(b"{\"id\": \"x\"}", &[SECRET], now)),
        ),
        ("garbage header", good.clone(), Some("t=,v1=".into())),
    ];
    for (what, payload, sig) in refused {
        let (s, v) = deliver(&b, &payload, sig).await;
        assert_eq!(s, 400, "{what}: {v}");
    }
    assert_eq!(count(&b.db, "billing_events").await, 0, "nothing recorded");
    assert_eq!(count(&b.db, "ledger").await, 0);

    // Signed with either secret of a rotation: accepted once.
    let sig = signature::sign(good.as_bytes(), &[OLD_SECRET], now);
    let (s, v) = deliver(&b, &good, Some(sig.clone())).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("processed")), "{v}");
    // The same delivery again: acknowledged, nothing new.
    let (s, v) = deliver(&b, &good, Some(sig)).await;
    assert_eq!((s, v["duplicate"].as_bool()), (200, Some(true)), "{v}");
    assert_eq!(count(&b.db, "billing_events").await, 1);
    assert_eq!(count(&b.db, "ledger").await, 1);
    assert_eq!(count(&b.db, "tips").await, 1);
    // Refusals are counted for the operator.
    let m = client()
        .get(format!("http://{}/metrics", b.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("stage_billing_webhook_refused_total{reason=\"timestamp outside the tolerance window\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("stage_billing_webhook_duplicates_total 1"),
        "{m}"
    );
}

#[tokio::test]
async fn one_event_delivered_100_times_at_once_makes_one_ledger_entry() {
    for t in testing::databases().await {
        let l = t.label;
        let url = (l == "postgres").then(|| t.url.clone());
        let mut b = start(url, |c| c.billing.webhook_secrets = vec![SECRET.into()]).await;
        tip_checkout(&b.db, "cs_race").await;
        let payload = event("evt_race", "checkout.session.completed", paid("cs_race"));
        let sig = signature::sign(payload.as_bytes(), &[SECRET], now_s());
        let all =
            futures::future::join_all((0..100).map(|_| deliver(&b, &payload, Some(sig.clone()))))
                .await;
        let processed = all
            .iter()
            .filter(|(s, v)| *s == 200 && v["status"] == "processed")
            .count();
        let dups = all
            .iter()
            .filter(|(s, v)| *s == 200 && v["duplicate"] == true)
            .count();
        assert_eq!((processed, dups), (1, 99), "{l}: {all:?}");
        let ledger = b.db.ledger(None, None).await.unwrap();
        assert_eq!(ledger.len(), 1, "{l}");
        assert_eq!(
            (ledger[0].gross, ledger[0].platform_fee, ledger[0].creator),
            (500, 25, 475),
            "{l}"
        );
        // Posted to chat once.
        let (c, v) = tokio::time::timeout(Duration::from_secs(5), b.chat.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (c.as_str(), v["amount_minor"].as_i64()),
            ("demo", Some(500))
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(500), b.chat.recv())
                .await
                .is_err(),
            "{l}: a second chat post"
        );
    }
}

async fn post_json(url: String, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut r = client().post(url).json(&body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let res = r.send().await.unwrap();
    let s = res.status().as_u16();
    (s, res.json().await.unwrap_or(Value::Null))
}

/// Opens a dev checkout page, checks it shows `expect`, and pays.
async fn pay(url: &str, expect: &str) -> String {
    let page = client()
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(expect), "{page}");
    let res = client()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("action=pay")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303, "{}", res.text().await.unwrap());
    res.headers()["location"].to_str().unwrap().to_string()
}

#[tokio::test]
async fn dev_provider_subscribe_play_tip_and_cancel() {
    let mut b = start(None, |_| {}).await;
    let base = format!("http://{}", b.public);
    let owner = b.db.ensure_owner("operator").await.unwrap();
    let ch =
        b.db.create_channel(owner, "demo", true, &keys::hash(&keys::generate()))
            .await
            .unwrap();
    let (s, v) = post_json(
        format!("{base}/auth/register"),
        None,
        json!({"username": "ana", "email": "ana@x.io", "password": "correct horse"}),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let token = v["token"].as_str().unwrap().to_string();
    let t = Some(token.as_str());

    // Not a member yet: no playback token.
    let (s, v) = post_json(format!("{base}/channels/demo/playback-token"), t, json!({})).await;
    assert_eq!((s, v["code"].as_str()), (403, Some("not_member")), "{v}");

    // The operator's tier (admin API, as stagectl does it).
    let res = client()
        .post(format!(
            "http://{}{}",
            b.admin,
            stage_core::api::BILLING_TIERS.path(&[])
        ))
        .bearer_auth(&b.admin_token)
        .json(&json!({"channel": "demo", "name": "Supporter", "price_minor": 499}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let tier: Value = res.json().await.unwrap();
    let tiers: Value = client()
        .get(format!("{base}/channels/demo/tiers"))
        .fetch_json()
        .await;
    assert_eq!(tiers["tiers"][0]["price"], "4.99 USD", "{tiers}");
    assert_eq!(tiers["members_only"], true);

    // The client cannot choose the price: unknown fields are refused.
    let (s, _) = post_json(
        format!("{base}/channels/demo/subscribe"),
        t,
        json!({"tier_id": tier["id"], "price_minor": 1}),
    )
    .await;
    assert_eq!(s, 400);
    let (s, v) = post_json(
        format!("{base}/channels/demo/subscribe"),
        t,
        json!({"tier_id": tier["id"], "return_url": "https://evil.example/x"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let back = pay(v["url"].as_str().unwrap(), "4.99 USD").await;
    assert!(
        back.starts_with("http://127.0.0.1:") && back.ends_with("/watch/demo"),
        "no open redirect: {back}"
    );

    // A member now: a playback token bound to the channel and the account.
    let (s, v) = post_json(format!("{base}/channels/demo/playback-token"), t, json!({})).await;
    assert_eq!(s, 200, "{v}");
    let claims = Signer::new(KEY.as_bytes())
        .verify(v["token"].as_str().unwrap(), "play", now_s())
        .unwrap();
    assert_eq!(
        (claims.channel.as_str(), claims.name.as_str()),
        ("demo", "ana")
    );
    assert!(claims.exp <= now_s() + 600 && claims.exp > now_s() + 500);
    let (s, _) = post_json(
        format!("{base}/channels/demo/subscribe"),
        t,
        json!({"tier_id": tier["id"]}),
    )
    .await;
    assert_eq!(s, 409, "already a member");

    // A tip during a stream: limits, then paid, then posted to chat.
    let stream = b.db.start_stream(&ch).await.unwrap();
    let tip_url = format!("{base}/streams/{}/tip", stream.id);
    for amount in [99, 50_001] {
        let (s, v) = post_json(tip_url.clone(), t, json!({"amount_minor": amount})).await;
        assert_eq!((s, v["field"].as_str()), (422, Some("amount_minor")), "{v}");
    }
    let xss = "<img src=x onerror=alert(1)> thanks!";
    let (s, v) = post_json(
        tip_url.clone(),
        t,
        json!({"amount_minor": 1000, "message": xss}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    pay(
        v["url"].as_str().unwrap(),
        "&lt;img src=x onerror=alert(1)&gt; thanks!",
    )
    .await;
    let (c, posted) = tokio::time::timeout(Duration::from_secs(5), b.chat.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c, "demo");
    assert_eq!(posted["user"], "ana");
    assert_eq!(posted["amount_minor"], 1000);
    assert_eq!(posted["message"], xss);
    assert_eq!(posted["stream_id"], stream.id);

    // The ledger: 4.99 membership and 10.00 tip, 5% to the platform.
    let ledger = b.db.ledger(Some(ch.id), None).await.unwrap();
    let rows: Vec<_> = ledger
        .iter()
        .map(|e| (e.kind.as_str(), e.gross, e.platform_fee, e.creator))
        .collect();
    assert_eq!(rows, [("membership", 499, 24, 475), ("tip", 1000, 50, 950)]);

    // Cancel through the portal: the next token request is refused.
    let (s, v) = post_json(
        format!("{base}/billing/portal"),
        t,
        json!({"channel": "demo"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let portal = v["url"].as_str().unwrap();
    let page = client()
        .get(portal)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("active"), "{page}");
    let res = client()
        .post(portal)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("action=cancel")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    let (s, v) = post_json(format!("{base}/channels/demo/playback-token"), t, json!({})).await;
    assert_eq!((s, v["code"].as_str()), (403, Some("not_member")), "{v}");
    let m = b.db.membership(claims.sub, ch.id).await.unwrap().unwrap();
    assert_eq!(m.status, "canceled");
}

#[tokio::test]
async fn without_the_dev_provider_there_are_no_dev_pages() {
    let b = start(None, |c| {
        c.billing.provider = stage_core::config::Provider::Stripe;
        c.billing.webhook_secrets = vec![SECRET.into()];
        c.billing.stripe.secret_key = "sk_test_unused".into();
    })
    .await;
    tip_checkout(&b.db, "cs_dev_x").await;
    for path in ["/billing/dev/checkout/cs_dev_x", "/billing/dev/portal/x"] {
        let res = client()
            .post(format!("http://{}{path}", b.public))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("action=pay")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 404, "{path}");
    }
    assert_eq!(count(&b.db, "ledger").await, 0);
}
