//! The stripe provider against a local stand-in for Stripe's API (Stripe
//! cannot be reached from tests). The stand-in answers with Stripe's
//! documented shapes and records what billingd sends: form-encoded bodies,
//! the secret key, idempotency keys, price ids and metadata. Then Stripe's
//! events for the session, signed, complete the membership and the tip.

use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};
use stage_core::billing::signature;
use stage_core::keys;
use stage_core::tokens::now_s;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

mod common;
use common::Billingd;
const SECRET: &str = "whsec_test_0123456789abcdef";
const SK: &str = "sk_test_stand_in_0123456789";

/// One request the stand-in received.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    auth: String,
    idempotency: String,
    form: BTreeMap<String, String>,
}

#[derive(Clone, Default)]
struct StandIn {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Answer 500 to everything (Stripe down).
    failing: Arc<Mutex<bool>>,
}

async fn record(
    State(s): State<StandIn>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: String,
) -> (axum::http::StatusCode, axum::Json<Value>) {
    let h = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let form: BTreeMap<String, String> = serde_urlencoded::from_str::<Vec<(String, String)>>(&body)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let path = uri.path().to_string();
    s.seen.lock().unwrap().push(Seen {
        path: path.clone(),
        auth: h("authorization"),
        idempotency: h("idempotency-key"),
        form,
    });
    if *s.failing.lock().unwrap() {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": {"type": "invalid_request_error", "message": "nope"}})),
        );
    }
    let n = s.seen.lock().unwrap().len();
    let v = match path.as_str() {
        "/v1/prices" => json!({"id": format!("price_{n}"), "object": "price", "active": true,
            "currency": "usd", "unit_amount": 499, "type": "recurring"}),
        "/v1/checkout/sessions" => {
            json!({"id": format!("cs_test_{n}"), "object": "checkout.session",
            "url": format!("https://checkout.stripe.com/c/pay/cs_test_{n}"), "status": "open",
            "payment_status": "unpaid"})
        }
        "/v1/billing_portal/sessions" => {
            json!({"id": format!("bps_{n}"), "object": "billing_portal.session",
            "url": format!("https://billing.stripe.com/p/session/bps_{n}")})
        }
        _ => json!({"error": {"type": "invalid_request_error", "message": "unknown path"}}),
    };
    (axum::http::StatusCode::OK, axum::Json(v))
}

async fn stand_in() -> (SocketAddr, StandIn) {
    let s = StandIn::default();
    let app = axum::Router::new()
        .fallback(axum::routing::post(record))
        .with_state(s.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (addr, s)
}

async fn start(stripe: SocketAddr) -> Billingd {
    Billingd::start(|cfg| {
        cfg.billing.provider = stage_core::config::Provider::Stripe;
        cfg.billing.webhook_secrets = vec![SECRET.into()];
        cfg.billing.stripe.secret_key = SK.into();
        cfg.billing.stripe.api_base = format!("http://{stripe}/");
    })
    .await
}

async fn post(url: String, bearer: Option<&str>, body: Value) -> (u16, Value) {
    let mut r = reqwest::Client::new().post(url).json(&body);
    if let Some(t) = bearer {
        r = r.bearer_auth(t);
    }
    let res = r.send().await.unwrap();
    let s = res.status().as_u16();
    (s, res.json().await.unwrap_or(Value::Null))
}

async fn webhook(b: &Billingd, id: &str, kind: &str, object: Value) -> Value {
    let payload = json!({"id": id, "object": "event", "type": kind, "created": now_s(),
        "data": {"object": object}})
    .to_string();
    let sig = signature::sign(payload.as_bytes(), &[SECRET], now_s());
    let res = reqwest::Client::new()
        .post(format!("http://{}/stripe/webhook", b.public))
        .header("Stripe-Signature", sig)
        .body(payload)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn tiers_checkouts_and_the_portal_go_to_stripe_as_documented() {
    let (addr, stripe) = stand_in().await;
    let b = start(addr).await;
    let base = format!("http://{}", b.public);
    let owner = b.db.ensure_owner("operator").await.unwrap();
    let ch =
        b.db.create_channel(owner, "demo", true, &keys::hash(&keys::generate()))
            .await
            .unwrap();

    // A tier gets its Price at Stripe.
    let res = reqwest::Client::new()
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
    let seen = stripe.seen.lock().unwrap().clone();
    let p = &seen[0];
    assert_eq!(p.path, "/v1/prices");
    assert_eq!(p.auth, format!("Bearer {SK}"));
    assert_eq!(p.idempotency, format!("stage-price-{}", tier["id"]));
    assert_eq!(p.form["unit_amount"], "499");
    assert_eq!(p.form["currency"], "usd");
    assert_eq!(p.form["recurring[interval]"], "month");
    assert_eq!(p.form["product_data[name]"], "demo · Supporter");
    assert_eq!(tier["provider_price"], "price_1");

    // A viewer subscribes: a subscription-mode session for that price, with
    // our metadata on the session and the subscription.
    let (s, v) = post(
        format!("{base}/auth/register"),
        None,
        json!({"username": "ana", "email": "ana@x.io", "password": "correct horse"}),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let token = v["token"].as_str().unwrap().to_string();
    let uid = v["user"]["id"].as_i64().unwrap().to_string();
    let (s, v) = post(
        format!("{base}/channels/demo/subscribe"),
        Some(&token),
        json!({"tier_id": tier["id"]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["url"], "https://checkout.stripe.com/c/pay/cs_test_2");
    let c = stripe.seen.lock().unwrap()[1].clone();
    assert_eq!(c.path, "/v1/checkout/sessions");
    assert!(c.idempotency.starts_with("stage-checkout-co_"), "{c:?}");
    for (k, want) in [
        ("mode", "subscription"),
        ("line_items[0][price]", "price_1"),
        ("line_items[0][quantity]", "1"),
        ("customer_email", "ana@x.io"),
        ("metadata[kind]", "membership"),
        ("metadata[user_id]", uid.as_str()),
        (
            "subscription_data[metadata][channel_id]",
            &ch.id.to_string(),
        ),
    ] {
        assert_eq!(c.form.get(k).map(String::as_str), Some(want), "{k}: {c:?}");
    }
    assert!(c.form["success_url"].ends_with("/watch/demo"), "{c:?}");
    assert!(b.db.checkout("cs_test_2").await.unwrap().is_some());

    // Stripe reports it paid: a member.
    webhook(
        &b,
        "evt_1",
        "checkout.session.completed",
        json!({"id": "cs_test_2", "object": "checkout.session", "mode": "subscription",
            "subscription": "sub_9", "customer": "cus_9", "payment_status": "paid"}),
    )
    .await;
    let (s, v) = post(
        format!("{base}/channels/demo/playback-token"),
        Some(&token),
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{v}");

    // A tip: a payment-mode session with an inline price of the asked amount.
    let stream = b.db.start_stream(&ch).await.unwrap();
    let (s, v) = post(
        format!("{base}/streams/{}/tip", stream.id),
        Some(&token),
        json!({"amount_minor": 700, "message": "hi"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let t = stripe.seen.lock().unwrap()[2].clone();
    for (k, want) in [
        ("mode", "payment"),
        ("line_items[0][price_data][unit_amount]", "700"),
        ("line_items[0][price_data][currency]", "usd"),
        (
            "line_items[0][price_data][product_data][name]",
            "Tip to demo",
        ),
        ("payment_intent_data[metadata][kind]", "tip"),
    ] {
        assert_eq!(t.form.get(k).map(String::as_str), Some(want), "{k}: {t:?}");
    }
    assert_ne!(t.idempotency, c.idempotency);

    // The portal for the membership's customer.
    let (s, v) = post(
        format!("{base}/billing/portal"),
        Some(&token),
        json!({"channel": "demo"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(
        v["url"]
            .as_str()
            .unwrap()
            .starts_with("https://billing.stripe.com/")
    );
    let p = stripe.seen.lock().unwrap()[3].clone();
    assert_eq!(p.path, "/v1/billing_portal/sessions");
    assert_eq!(p.form["customer"], "cus_9");

    // Stripe refusing: a clear 502, nothing recorded, no tier left unsold.
    *stripe.failing.lock().unwrap() = true;
    let (s, v) = post(
        format!("{base}/streams/{}/tip", stream.id),
        Some(&token),
        json!({"amount_minor": 700}),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (502, Some("provider_error")),
        "{v}"
    );
    let res = reqwest::Client::new()
        .post(format!(
            "http://{}{}",
            b.admin,
            stage_core::api::BILLING_TIERS.path(&[])
        ))
        .bearer_auth(&b.admin_token)
        .json(&json!({"channel": "demo", "name": "Gold", "price_minor": 999}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 502);
    assert_eq!(b.db.tiers(Some(ch.id), true).await.unwrap().len(), 1);
}
