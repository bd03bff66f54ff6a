//! billingd's accounts over real HTTP: registration, validation, login,
//! tokens, and the limit on failed logins.

use serde_json::{Value, json};

mod common;
use common::Billingd;
use stage_testing::FetchJson;

async fn start(attempts: u32) -> Billingd {
    Billingd::start(|c| c.auth.login_attempts = attempts).await
}

async fn post(b: &Billingd, path: &str, body: Value) -> (u16, Value, Option<String>) {
    let res = reqwest::Client::new()
        .post(format!("http://{}{path}", b.public))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, res.json().await.unwrap_or(Value::Null), retry)
}

#[tokio::test]
async fn register_login_and_me() {
    let b = start(10).await;
    let (s, v, _) = post(
        &b,
        "/auth/register",
        json!({"username": "ana_1", "email": "Ana@Example.com", "password": "correct horse"}),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let token = v["token"].as_str().unwrap().to_string();
    assert_eq!(v["user"]["username"], "ana_1");
    assert_eq!(v["user"]["role"], "viewer");

    // Clear validation errors naming the field.
    for (body, field) in [
        (
            json!({"username": "a b", "email": "x@y.co", "password": "12345678"}),
            "username",
        ),
        (
            json!({"username": "bob", "email": "nope", "password": "12345678"}),
            "email",
        ),
        (
            json!({"username": "bob", "email": "x@y.co", "password": "short"}),
            "password",
        ),
    ] {
        let (s, v, _) = post(&b, "/auth/register", body).await;
        assert_eq!((s, v["field"].as_str()), (422, Some(field)), "{v}");
    }
    let (s, v, _) = post(&b, "/auth/register", json!({"username": "x"})).await;
    assert_eq!((s, v["code"].as_str()), (400, Some("bad_request")));
    // Taken, case-insensitively; the email too.
    let (s, _, _) = post(
        &b,
        "/auth/register",
        json!({"username": "ANA_1", "email": "other@example.com", "password": "12345678"}),
    )
    .await;
    assert_eq!(s, 409);
    let (s, _, _) = post(
        &b,
        "/auth/register",
        json!({"username": "ana_2", "email": "ana@example.com", "password": "12345678"}),
    )
    .await;
    assert_eq!(s, 409);

    // Login by name or email.
    let (s, v, _) = post(
        &b,
        "/auth/login",
        json!({"username": "ana_1", "password": "correct horse"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, _, _) = post(
        &b,
        "/auth/login",
        json!({"username": "ANA@example.com", "password": "correct horse"}),
    )
    .await;
    assert_eq!(s, 200);
    let (s, v, _) = post(
        &b,
        "/auth/login",
        json!({"username": "ana_1", "password": "wrong horse"}),
    )
    .await;
    assert_eq!((s, v["code"].as_str()), (401, Some("bad_credentials")));
    let (s, v, _) = post(
        &b,
        "/auth/login",
        json!({"username": "ghost", "password": "whatever1"}),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (401, Some("bad_credentials")),
        "no hint that the account is missing"
    );

    let me: Value = reqwest::Client::new()
        .get(format!("http://{}/auth/me", b.public))
        .bearer_auth(&token)
        .fetch_json()
        .await;
    assert_eq!(me["username"], "ana_1");
    let res = reqwest::Client::new()
        .get(format!("http://{}/auth/me", b.public))
        .bearer_auth(format!("{token}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn repeated_failed_logins_are_refused_even_with_the_right_password() {
    let b = start(3).await;
    post(
        &b,
        "/auth/register",
        json!({"username": "victim", "email": "v@example.com", "password": "the password"}),
    )
    .await;
    for _ in 0..3 {
        let (s, _, _) = post(
            &b,
            "/auth/login",
            json!({"username": "victim", "password": "guess123"}),
        )
        .await;
        assert_eq!(s, 401);
    }
    let (s, v, retry) = post(
        &b,
        "/auth/login",
        json!({"username": "victim", "password": "the password"}),
    )
    .await;
    assert_eq!((s, v["code"].as_str()), (429, Some("rate_limited")));
    let secs: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!(secs > 0 && secs <= 600, "{secs}");
    // Another account from the same address still may (its own limit is 3x).
    let (s, _, _) = post(
        &b,
        "/auth/login",
        json!({"username": "other", "password": "guess123"}),
    )
    .await;
    assert_eq!(s, 401);
}
