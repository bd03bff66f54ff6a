//! The offline `dev` payment provider: a local confirmation page stands in
//! for Stripe Checkout and the customer portal. Confirming sends the events
//! Stripe would send (same shapes, signed with the webhook secret) through
//! the webhook handler; nothing here marks anything paid directly.

use crate::payments::receive;
use crate::{Ctx, error, internal};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use stage_core::billing::{Checkout, format_amount, signature};
use stage_core::http::escape_html as esc;
use stage_core::tokens::{Claims, now_s};
use std::sync::Arc;

type Shared = State<Arc<Ctx>>;

fn rand_hex() -> String {
    let mut raw = [0u8; 12];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut raw);
    hex::encode(raw)
}

fn page(title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content='width=device-width,initial-scale=1'>\
         <title>{t}</title><style>body{{font:16px system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}\
         .note{{background:#fff3cd;padding:.5rem .75rem;border-radius:4px}}button{{font-size:1rem;padding:.5rem 1.25rem}}</style>\
         </head><body><h1>{t}</h1><p class=note>Test payment (dev provider): no money moves.</p>{body}</body></html>",
        t = esc(title),
    );
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        Html(html),
    )
        .into_response()
}

/// Signs `events` like Stripe and runs them through the webhook handler.
async fn deliver(ctx: &Ctx, events: Vec<(&str, Value)>) -> Result<(), Response> {
    let Some(secret) = ctx.webhook_secrets.first() else {
        return Err(internal("no webhook secret"));
    };
    for (kind, object) in events {
        let now = now_s();
        let payload = json!({
            "id": format!("evt_dev_{}", rand_hex()), "object": "event",
            "api_version": "2025-03-31.basil", "created": now, "livemode": false,
            "type": kind, "data": {"object": object},
        })
        .to_string();
        let sig = signature::sign(payload.as_bytes(), &[secret], now);
        let r = receive(ctx, payload.as_bytes(), Some(&sig)).await;
        if !r.status().is_success() {
            return Err(r);
        }
    }
    Ok(())
}

async fn open_checkout(ctx: &Ctx, id: &str) -> Result<Checkout, Response> {
    match ctx.db.checkout(id).await {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(error(
            StatusCode::NOT_FOUND,
            "no_checkout",
            "no such checkout",
        )),
        Err(e) => Err(internal(e)),
    }
}

/// `GET /billing/dev/checkout/{id}`: what is being bought, and a Pay button.
pub async fn checkout_page(State(ctx): Shared, Path(id): Path<String>) -> Response {
    let c = match open_checkout(&ctx, &id).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let ch = match ctx.db.channel_by_id(c.channel_id).await {
        Ok(Some(ch)) => ch,
        Ok(None) => return error(StatusCode::NOT_FOUND, "no_channel", "no such channel"),
        Err(e) => return internal(e),
    };
    let price = format_amount(c.amount_minor, &c.currency);
    let what = if c.kind == "membership" {
        let tier = match c.tier_id {
            Some(t) => ctx.db.tier(t).await.ok().flatten(),
            None => None,
        };
        let (name, every) = tier
            .map(|t| (t.name, t.interval))
            .unwrap_or_else(|| ("Member".into(), "month".into()));
        format!(
            "<p id=item>Membership <b>{}</b> of <b>{}</b>: <span id=price>{}</span> every {}</p>",
            esc(&name),
            esc(&ch.name),
            esc(&price),
            esc(&every)
        )
    } else {
        format!(
            "<p id=item>Tip to <b>{}</b>: <span id=price>{}</span></p><blockquote id=message>{}</blockquote>",
            esc(&ch.name),
            esc(&price),
            esc(&c.message)
        )
    };
    if c.status != "open" {
        return page(
            "Already paid",
            &format!(
                "{what}<p>This checkout is complete.</p><p><a id=back href=\"{}\">Back to the stream</a></p>",
                esc(&c.return_url)
            ),
        );
    }
    page(
        "Confirm payment",
        &format!(
            "{what}<form method=post><input type=hidden name=action value=pay>\
             <button id=pay type=submit>Pay {}</button></form>\
             <p><a id=cancel href=\"{}\">Cancel</a></p>",
            esc(&price),
            esc(&c.return_url)
        ),
    )
}

#[derive(Deserialize)]
pub struct Action {
    action: String,
}

/// `POST /billing/dev/checkout/{id}`: pays, as Stripe would report it.
pub async fn checkout_pay(
    State(ctx): Shared,
    Path(id): Path<String>,
    Form(a): Form<Action>,
) -> Response {
    if a.action != "pay" {
        return error(StatusCode::BAD_REQUEST, "bad_request", "unknown action");
    }
    let c = match open_checkout(&ctx, &id).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if c.status != "open" {
        return Redirect::to(&c.return_url).into_response();
    }
    let meta = json!({
        "kind": c.kind, "checkout": c.id, "user_id": c.user_id.to_string(),
        "channel_id": c.channel_id.to_string(),
        "tier_id": c.tier_id.map(|t| t.to_string()).unwrap_or_default(),
    });
    let customer = format!("cus_dev_{}", c.user_id);
    let pi = format!("pi_dev_{}", rand_hex());
    let events = if c.kind == "membership" {
        let now = now_s();
        let days = match c.tier_id {
            Some(t) => match ctx.db.tier(t).await {
                Ok(Some(t)) if t.interval == "year" => 365,
                _ => 30,
            },
            None => 30,
        };
        let end = now + days * 86_400;
        let sub = format!("sub_dev_{}", rand_hex());
        vec![
            (
                "checkout.session.completed",
                json!({"id": c.id, "object": "checkout.session", "mode": "subscription",
                    "status": "complete", "payment_status": "paid", "customer": customer,
                    "subscription": sub, "amount_total": c.amount_minor, "currency": c.currency,
                    "metadata": meta}),
            ),
            (
                "customer.subscription.created",
                json!({"id": sub, "object": "subscription", "status": "active",
                    "customer": customer, "metadata": meta, "cancel_at_period_end": false,
                    "items": {"object": "list", "data": [{"id": format!("si_dev_{}", rand_hex()),
                        "current_period_start": now, "current_period_end": end}]}}),
            ),
            (
                "invoice.paid",
                json!({"id": format!("in_dev_{}", rand_hex()), "object": "invoice",
                    "status": "paid", "customer": customer, "amount_paid": c.amount_minor,
                    "currency": c.currency, "billing_reason": "subscription_create",
                    "parent": {"type": "subscription_details",
                        "subscription_details": {"subscription": sub, "metadata": meta}},
                    "payments": {"object": "list", "data": [{"payment": {"type": "payment_intent",
                        "payment_intent": pi}}]},
                    "lines": {"object": "list", "data": [{"period": {"start": now, "end": end}}]}}),
            ),
        ]
    } else {
        vec![(
            "checkout.session.completed",
            json!({"id": c.id, "object": "checkout.session", "mode": "payment",
                "status": "complete", "payment_status": "paid", "customer": customer,
                "payment_intent": pi, "amount_total": c.amount_minor, "currency": c.currency,
                "metadata": meta}),
        )]
    };
    if let Err(r) = deliver(&ctx, events).await {
        return r;
    }
    Redirect::to(&c.return_url).into_response()
}

async fn portal_membership(
    ctx: &Ctx,
    link: &str,
) -> Result<
    (
        stage_core::db::Channel,
        Option<stage_core::billing::Membership>,
    ),
    Response,
> {
    let claims = ctx
        .signer
        .verify(link, "portal", now_s())
        .map_err(|e| error(StatusCode::UNAUTHORIZED, "bad_token", &e.to_string()))?;
    let ch = match ctx.db.channel(&claims.channel).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Err(error(
                StatusCode::NOT_FOUND,
                "no_channel",
                "no such channel",
            ));
        }
        Err(e) => return Err(internal(e)),
    };
    let m = ctx
        .db
        .membership(claims.sub, ch.id)
        .await
        .map_err(internal)?;
    Ok((ch, m))
}

/// The dev portal's URL for the holder of a login token.
pub fn portal_link(ctx: &Ctx, user: &stage_core::accounts::User, channel: String) -> String {
    let link = ctx.signer.sign(&Claims {
        kind: "portal".into(),
        sub: user.id,
        name: user.username.clone(),
        role: user.role.clone(),
        exp: now_s() + 900,
        channel,
    });
    format!("{}/billing/dev/portal/{link}", ctx.cfg.billing_public_url())
}

/// `GET /billing/dev/portal/{link}`: the membership, and a Cancel button.
pub async fn portal_page(State(ctx): Shared, Path(link): Path<String>) -> Response {
    let (ch, m) = match portal_membership(&ctx, &link).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let back = format!("{}/watch/{}", ctx.cfg.public_http_base(), ch.name);
    let body = match m {
        Some(m) if m.status != "canceled" => format!(
            "<p>Membership of <b>{}</b> ({}): <span id=status>{}</span></p>\
             <form method=post><input type=hidden name=action value=cancel>\
             <button id=cancel type=submit>Cancel membership</button></form>\
             <p><a id=back href=\"{}\">Back</a></p>",
            esc(&ch.name),
            esc(&m.tier),
            esc(&m.status),
            esc(&back)
        ),
        _ => format!(
            "<p>No membership of <b>{}</b>.</p><p><a id=back href=\"{}\">Back</a></p>",
            esc(&ch.name),
            esc(&back)
        ),
    };
    page("Your membership", &body)
}

/// `POST /billing/dev/portal/{link}`: cancels now, as Stripe reports it.
pub async fn portal_cancel(
    State(ctx): Shared,
    Path(link): Path<String>,
    Form(a): Form<Action>,
) -> Response {
    if a.action != "cancel" {
        return error(StatusCode::BAD_REQUEST, "bad_request", "unknown action");
    }
    let (ch, m) = match portal_membership(&ctx, &link).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let back = format!("{}/watch/{}", ctx.cfg.public_http_base(), ch.name);
    let Some(m) = m.filter(|m| !m.provider_subscription.is_empty()) else {
        return Redirect::to(&back).into_response();
    };
    let meta = json!({"user_id": m.user_id.to_string(), "channel_id": m.channel_id.to_string(),
        "tier_id": m.tier_id.map(|t| t.to_string()).unwrap_or_default()});
    let ev = (
        "customer.subscription.deleted",
        json!({"id": m.provider_subscription, "object": "subscription", "status": "canceled",
            "customer": m.provider_customer, "metadata": meta,
            "canceled_at": now_s(), "ended_at": now_s()}),
    );
    if let Err(r) = deliver(&ctx, vec![ev]).await {
        return r;
    }
    Redirect::to(&back).into_response()
}
