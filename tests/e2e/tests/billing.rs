//! Billing across the daemons under `stagectl up` (dev provider): the
//! operator sells a tier with `stagectl billing tier create`, a viewer
//! subscribes and tips through billingd's checkout pages, the tip shows in
//! the stream's chat (billingd → chatd), and `stagectl billing report` and
//! `payout` add up the ledger.

use serde_json::{Value, json};
use stage_e2e::Stack;
use stage_testing::FetchJson;
use std::time::Duration;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn post(stack: &Stack, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    stack
        .post_json(stack.ports.billing, path, token, body)
        .await
}

/// Confirms a dev checkout the way a viewer's browser does.
async fn pay(url: &str) {
    let res = client()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("action=pay")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303, "{}", res.text().await.unwrap());
}

#[tokio::test]
async fn tiers_checkout_tip_into_chat_and_reports() {
    for backend in stage_e2e::backends() {
        let Some(stack) = Stack::start(backend).await else {
            continue;
        };
        let l = format!("{backend:?}");

        // The operator's tiers.
        let (code, out, err) =
            stack.stagectl(&["billing", "tier", "create", "demo", "Supporter", "4.99"]);
        assert_eq!(code, 0, "{l}: {err}");
        assert!(out.contains("4.99 USD every month"), "{l}: {out}");
        let (code, _, err) = stack.stagectl(&["billing", "tier", "create", "demo", "Bad", "4.999"]);
        assert_eq!(code, 2, "{l}: {err}");
        let (code, _, err) = stack.stagectl(&["billing", "tier", "create", "nope", "X", "1"]);
        assert_eq!(code, 3, "{l}: {err}");
        let tiers = stack.stagectl_json(&["billing", "tier", "list", "demo"]);
        let tier_id = tiers[0]["id"].as_i64().unwrap();
        assert_eq!(tiers[0]["price_minor"], 499, "{l}");

        // A viewer subscribes and tips during a stream.
        let (s, v) = post(
            &stack,
            "/auth/register",
            None,
            json!({"username": "vic", "email": "vic@example.com", "password": "vic's password"}),
        )
        .await;
        assert_eq!(s, 201, "{l}: {v}");
        let token = v["token"].as_str().unwrap().to_string();
        let (s, v) = post(
            &stack,
            "/channels/demo/subscribe",
            Some(&token),
            json!({"tier_id": tier_id}),
        )
        .await;
        assert_eq!(s, 200, "{l}: {v}");
        pay(v["url"].as_str().unwrap()).await;
        let db = stack.db().await;
        let ch = db.channel("demo").await.unwrap().unwrap();
        let stream = db.start_stream(&ch).await.unwrap();
        let (s, v) = post(
            &stack,
            &format!("/streams/{}/tip", stream.id),
            Some(&token),
            json!({"amount_minor": 1500, "message": "for the <b>stream</b>"}),
        )
        .await;
        assert_eq!(s, 200, "{l}: {v}");
        pay(v["url"].as_str().unwrap()).await;

        // The tip reaches chatd and is kept with the stream's chat.
        let chat_url = format!(
            "http://127.0.0.1:{}/streams/{}/chat",
            stack.ports.chat, stream.id
        );
        let tip_of = |v: &Value| {
            v["messages"]
                .as_array()
                .and_then(|ms| ms.iter().find(|m| m["tip"]["amount_minor"] == 1500))
                .cloned()
        };
        stack
            .wait_until(
                "the tip in the stream's chat",
                Duration::from_secs(10),
                || {
                    let url = chat_url.clone();
                    async move {
                        match client().get(url).send().await {
                            Ok(r) => r
                                .json::<Value>()
                                .await
                                .ok()
                                .and_then(|v| tip_of(&v))
                                .is_some(),
                            Err(_) => false,
                        }
                    }
                },
            )
            .await;
        let v: Value = client().get(&chat_url).fetch_json().await;
        let found = tip_of(&v).unwrap();
        assert_eq!(found["user"], "vic", "{l}: {v}");
        assert_eq!(found["body"], "for the <b>stream</b>", "{l}");
        assert_eq!(found["tip"]["display"], "15.00 USD", "{l}");

        // Reports: 4.99 + 15.00 gross, 5% (floor) to the platform.
        let month = stage_core::time::month_of_ms(stage_core::time::now_ms());
        let report =
            stack.stagectl_json(&["billing", "report", "--channel", "demo", "--month", &month]);
        let total = report
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kind"] == "total")
            .cloned()
            .unwrap_or_else(|| panic!("{l}: {report}"));
        assert_eq!(
            (
                total["gross"].as_i64(),
                total["platform_fee"].as_i64(),
                total["creator"].as_i64()
            ),
            (Some(1999), Some(24 + 75), Some(1999 - 99)),
            "{l}: {report}"
        );
        let (code, csv, _) = stack.stagectl(&["billing", "report", "--csv"]);
        assert_eq!(code, 0);
        assert!(csv.starts_with("channel,currency,kind,entries,"), "{csv}");
        assert!(csv.contains("demo,usd,tip,1,1500,75,0,1425"), "{l}: {csv}");
        let payout = stack.stagectl_json(&["billing", "payout"]);
        assert_eq!(payout[0]["creator_minor"], 1900, "{l}: {payout}");
        let (code, table, _) = stack.stagectl(&["billing", "payout", "--month", &month]);
        assert_eq!(code, 0);
        assert!(table.contains("19.00 USD"), "{l}: {table}");
        let (code, _, err) = stack.stagectl(&["billing", "report", "--month", "2026-13"]);
        assert_ne!(code, 0, "{l}");
        assert!(err.contains("YYYY-MM"), "{l}: {err}");
    }
}
