//! Memberships and tips: checkout (prices decided here, never by the
//! client), the webhook that applies the provider's events exactly once,
//! playback tokens for members-only streams, and tips posted into chat.

use crate::{Ctx, error, internal, invalid};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use stage_core::billing::event::Event;
use stage_core::billing::process::{Outcome, Policy, TipPaid};
use stage_core::billing::signature;
use stage_core::billing::{Checkout, format_amount};
use stage_core::db::Channel;
use stage_core::time::now_ms;
use stage_core::tokens::{Claims, now_s};
use std::sync::Arc;

type Shared = State<Arc<Ctx>>;

/// The viewer a login token names, or the response refusing it.
async fn viewer(ctx: &Ctx, headers: &HeaderMap) -> Result<stage_core::accounts::User, Response> {
    let token = stage_core::http::bearer(headers).unwrap_or("");
    let claims = ctx
        .signer
        .verify(token, "login", now_s())
        .map_err(|e| error(StatusCode::UNAUTHORIZED, "bad_token", &e.to_string()))?;
    match ctx.db.user(claims.sub).await {
        Ok(Some(u)) if !u.banned => Ok(u),
        Ok(Some(_)) => Err(error(
            StatusCode::FORBIDDEN,
            "banned",
            "this account is banned",
        )),
        Ok(None) => Err(error(
            StatusCode::UNAUTHORIZED,
            "bad_token",
            "no such account",
        )),
        Err(e) => Err(internal(e)),
    }
}

async fn channel(ctx: &Ctx, name: &str) -> Result<Channel, Response> {
    match ctx.db.channel(name).await {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(error(
            StatusCode::NOT_FOUND,
            "no_channel",
            "no such channel",
        )),
        Err(e) => Err(internal(e)),
    }
}

/// Where the viewer returns after paying: a URL on this install's public
/// host (any port), else the channel's watch page. Never another host, so
/// checkout cannot be used as an open redirect.
fn return_url(ctx: &Ctx, asked: Option<&str>, channel: &str) -> String {
    let fallback = format!("{}/watch/{channel}", ctx.cfg.public_http_base());
    let Some(u) = asked.and_then(|u| reqwest::Url::parse(u).ok()) else {
        return fallback;
    };
    let host_ok = u.host_str() == Some(ctx.cfg.public_host.as_str())
        || u.host_str()
            == reqwest::Url::parse(&ctx.cfg.billing_public_url())
                .ok()
                .as_ref()
                .and_then(|b| b.host_str());
    if matches!(u.scheme(), "http" | "https") && host_ok {
        u.to_string()
    } else {
        fallback
    }
}

/// Opens the checkout with the provider, records it, and returns where the
/// viewer pays.
async fn start_checkout(
    ctx: &Ctx,
    mut c: Checkout,
    price: Option<&str>,
    channel: &str,
) -> Response {
    let url = match &ctx.stripe {
        None => format!(
            "{}/billing/dev/checkout/{}",
            ctx.cfg.billing_public_url(),
            c.id
        ),
        Some(stripe) => {
            let email = match ctx.db.user(c.user_id).await {
                Ok(u) => u.and_then(|u| u.email),
                Err(e) => return internal(e),
            };
            let local = c.id.clone();
            match stripe
                .create_checkout(&c, price, channel, email.as_deref(), &local)
                .await
            {
                Ok((id, url)) => {
                    c.id = id;
                    url
                }
                Err(e) => {
                    tracing::error!(cause = %e, checkout = %local, "stripe checkout failed");
                    return error(
                        StatusCode::BAD_GATEWAY,
                        "provider_error",
                        "the payment provider is unavailable; try again",
                    );
                }
            }
        }
    };
    if let Err(e) = ctx.db.create_checkout(&c).await {
        return internal(e);
    }
    tracing::info!(checkout = %c.id, kind = %c.kind, user = c.user_id, channel = c.channel_id,
        amount = c.amount_minor, "checkout started");
    Json(serde_json::json!({"checkout_id": c.id, "url": url})).into_response()
}

/// Our id for a new checkout: the dev provider's session id, or the
/// reference (and idempotency key) sent with a Stripe session.
fn new_checkout_id(ctx: &Ctx) -> String {
    let mut raw = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut raw);
    let prefix = if ctx.stripe.is_some() { "co" } else { "cs_dev" };
    format!("{prefix}_{}", hex::encode(raw))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscribeReq {
    tier_id: i64,
    #[serde(default)]
    return_url: Option<String>,
}

/// `POST /channels/{channel}/subscribe`: a checkout for one of the
/// channel's tiers.
pub async fn subscribe(
    State(ctx): Shared,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let user = match viewer(&ctx, &headers).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let Ok(req) = serde_json::from_slice::<SubscribeReq>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "send JSON {\"tier_id\"}",
        );
    };
    let ch = match channel(&ctx, &name).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let tier = match ctx.db.tier(req.tier_id).await {
        Ok(Some(t)) if t.channel_id == ch.id && !t.archived => t,
        Ok(_) => {
            return error(
                StatusCode::NOT_FOUND,
                "no_tier",
                "no such tier on this channel",
            );
        }
        Err(e) => return internal(e),
    };
    match ctx.db.membership(user.id, ch.id).await {
        Ok(Some(m)) if m.active(now_ms(), ctx.cfg.billing.grace_ms()) => {
            return error(
                StatusCode::CONFLICT,
                "already_member",
                "you are already a member of this channel",
            );
        }
        Ok(_) => {}
        Err(e) => return internal(e),
    }
    if ctx.stripe.is_some() && tier.provider_price.is_empty() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_price",
            "this tier has no price at the payment provider yet",
        );
    }
    let c = Checkout {
        id: new_checkout_id(&ctx),
        kind: "membership".into(),
        user_id: user.id,
        channel_id: ch.id,
        tier_id: Some(tier.id),
        stream_id: None,
        amount_minor: tier.price_minor,
        currency: tier.currency.clone(),
        message: String::new(),
        status: "open".into(),
        return_url: return_url(&ctx, req.return_url.as_deref(), &ch.name),
        created_at: now_ms(),
    };
    start_checkout(&ctx, c, Some(&tier.provider_price), &ch.name).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TipReq {
    amount_minor: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    return_url: Option<String>,
}

/// `POST /streams/{id}/tip`: a checkout for a tip during a stream.
pub async fn tip(
    State(ctx): Shared,
    Path(stream_id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let user = match viewer(&ctx, &headers).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let Ok(req) = serde_json::from_slice::<TipReq>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "send JSON {\"amount_minor\", \"message\"}",
        );
    };
    let b = &ctx.cfg.billing;
    if req.amount_minor < b.tip_min || req.amount_minor > b.tip_max {
        return invalid(
            "amount_minor",
            &format!(
                "must be between {} and {}",
                format_amount(b.tip_min, &b.currency),
                format_amount(b.tip_max, &b.currency)
            ),
        );
    }
    let message = req.message.trim().to_string();
    if message.chars().count() > b.tip_message_length {
        return invalid(
            "message",
            &format!("must be at most {} characters", b.tip_message_length),
        );
    }
    let stream = match ctx.db.stream(stream_id).await {
        Ok(Some(s)) => s,
        Ok(None) => return error(StatusCode::NOT_FOUND, "no_stream", "no such stream"),
        Err(e) => return internal(e),
    };
    let ch = match ctx.db.channel_by_id(stream.channel_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return error(StatusCode::NOT_FOUND, "no_stream", "no such stream"),
        Err(e) => return internal(e),
    };
    let c = Checkout {
        id: new_checkout_id(&ctx),
        kind: "tip".into(),
        user_id: user.id,
        channel_id: ch.id,
        tier_id: None,
        stream_id: Some(stream.id),
        amount_minor: req.amount_minor,
        currency: b.currency.clone(),
        message,
        status: "open".into(),
        return_url: return_url(&ctx, req.return_url.as_deref(), &ch.name),
        created_at: now_ms(),
    };
    start_checkout(&ctx, c, None, &ch.name).await
}

/// `GET /channels/{channel}/tiers`: what the channel sells (public).
pub async fn tiers(State(ctx): Shared, Path(name): Path<String>) -> Response {
    let ch = match channel(&ctx, &name).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match ctx.db.tiers(Some(ch.id), false).await {
        Ok(ts) => {
            let list: Vec<_> = ts
                .iter()
                .map(|t| {
                    serde_json::json!({
                        "id": t.id, "name": t.name, "price_minor": t.price_minor,
                        "currency": t.currency, "interval": t.interval,
                        "price": format_amount(t.price_minor, &t.currency),
                    })
                })
                .collect();
            Json(serde_json::json!({
                "channel": ch.name, "members_only": ch.members_only, "tiers": list,
                "tip": {"min_minor": ctx.cfg.billing.tip_min, "max_minor": ctx.cfg.billing.tip_max,
                    "currency": ctx.cfg.billing.currency,
                    "message_length": ctx.cfg.billing.tip_message_length},
            }))
            .into_response()
        }
        Err(e) => internal(e),
    }
}

/// `POST /channels/{channel}/playback-token`: a short-lived token for a
/// members-only channel's playlists and segments, to its members (and its
/// owner and moderators). Refused once the membership has lapsed.
pub async fn playback_token(
    State(ctx): Shared,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let user = match viewer(&ctx, &headers).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let ch = match channel(&ctx, &name).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let role = match ctx
        .db
        .channel_role(&user, ch.id, ch.owner_id, ctx.cfg.billing.grace_ms())
        .await
    {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    if role < stage_core::accounts::Role::Member {
        return error(
            StatusCode::FORBIDDEN,
            "not_member",
            "members only: subscribe to watch",
        );
    }
    let exp = now_s() + ctx.cfg.billing.playback_ttl.0.as_secs() as i64;
    let token = ctx.signer.sign(&Claims {
        kind: "play".into(),
        sub: user.id,
        name: user.username.clone(),
        role: role.as_str().into(),
        exp,
        channel: ch.name.clone(),
    });
    Json(serde_json::json!({"token": token, "expires_at": exp, "channel": ch.name})).into_response()
}

/// `GET /channels/{channel}/membership`: the caller's membership.
pub async fn membership(
    State(ctx): Shared,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let user = match viewer(&ctx, &headers).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let ch = match channel(&ctx, &name).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match ctx.db.membership(user.id, ch.id).await {
        Ok(m) => {
            let active = m
                .as_ref()
                .is_some_and(|m| m.active(now_ms(), ctx.cfg.billing.grace_ms()));
            Json(serde_json::json!({
                "active": active,
                "status": m.as_ref().map(|m| m.status.clone()),
                "tier": m.as_ref().map(|m| m.tier.clone()),
                "current_period_end": m.as_ref().and_then(|m| m.current_period_end),
            }))
            .into_response()
        }
        Err(e) => internal(e),
    }
}

/// `POST /stripe/webhook`: verify, record once, apply.
pub async fn webhook(State(ctx): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let sig = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    receive(&ctx, &body, sig).await
}

/// The webhook's work, also used by the dev provider (same checks, same
/// processing).
pub async fn receive(ctx: &Ctx, body: &[u8], sig: Option<&str>) -> Response {
    let tolerance = ctx.cfg.billing.webhook_tolerance.0.as_secs() as i64;
    if let Err(e) = signature::verify(body, sig, &ctx.webhook_secrets, tolerance, now_s()) {
        ctx.metrics.refused(e.to_string());
        tracing::warn!(cause = %e, "webhook refused");
        return error(StatusCode::BAD_REQUEST, "bad_signature", &e.to_string());
    }
    let ev = match Event::parse(body) {
        Ok(ev) => ev,
        Err(e) => {
            ctx.metrics.refused("malformed".into());
            tracing::warn!(cause = %e, "webhook refused");
            return error(StatusCode::BAD_REQUEST, "bad_event", &e.to_string());
        }
    };
    let Ok(payload) = std::str::from_utf8(body) else {
        return error(StatusCode::BAD_REQUEST, "bad_event", "payload is not UTF-8");
    };
    let policy = Policy {
        platform_fee_bps: ctx.cfg.billing.platform_fee_bps,
    };
    match ctx.db.process_event(&ev, payload, policy).await {
        Ok(Outcome::Duplicate) => {
            ctx.metrics.duplicate();
            tracing::info!(event = %ev.id, kind = %ev.kind, "webhook: already processed");
            Json(serde_json::json!({"received": true, "duplicate": true})).into_response()
        }
        Ok(Outcome::Recorded { status, tips }) => {
            ctx.metrics.processed(&ev.kind);
            tracing::info!(event = %ev.id, kind = %ev.kind, status, "webhook event recorded");
            for t in tips {
                tell_chat(ctx, t).await;
            }
            Json(serde_json::json!({"received": true, "status": status})).into_response()
        }
        // Stripe retries a 5xx: nothing was committed.
        Err(e) => internal(e),
    }
}

/// Posts a paid tip into its channel's chat (chatd's admin API).
async fn tell_chat(ctx: &Ctx, t: TipPaid) {
    let (Ok(Some(ch)), sender) = (
        ctx.db.channel_by_id(t.channel_id).await,
        match t.sender_id {
            Some(id) => ctx.db.user(id).await.ok().flatten(),
            None => None,
        },
    ) else {
        return;
    };
    tracing::info!(channel = %ch.name, tip = t.tip_id, amount = t.amount_minor, "tip paid");
    stage_core::admin::notify(
        ctx.cfg.chatd.admin_listen,
        &ctx.admin_token,
        &stage_core::api::CHAT_ACTION.path(&[&ch.name, "tip"]),
        serde_json::json!({
            "tip_id": t.tip_id,
            "user_id": t.sender_id,
            "user": sender.map(|u| u.username).unwrap_or_default(),
            "amount_minor": t.amount_minor,
            "currency": t.currency,
            "message": t.message,
            "stream_id": t.stream_id,
        }),
    );
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalReq {
    channel: String,
}

/// `POST /billing/portal`: where the viewer manages a membership: Stripe's
/// customer portal, or the dev provider's page.
pub async fn portal(State(ctx): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let user = match viewer(&ctx, &headers).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let Ok(req) = serde_json::from_slice::<PortalReq>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "send JSON {\"channel\"}",
        );
    };
    let Some(stripe) = &ctx.stripe else {
        let url = crate::dev::portal_link(&ctx, &user, req.channel);
        return Json(serde_json::json!({"url": url})).into_response();
    };
    let ch = match channel(&ctx, &req.channel).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let customer = match ctx.db.membership(user.id, ch.id).await {
        Ok(Some(m)) if !m.provider_customer.is_empty() => m.provider_customer,
        Ok(_) => {
            return error(
                StatusCode::NOT_FOUND,
                "no_membership",
                "no membership to manage",
            );
        }
        Err(e) => return internal(e),
    };
    let back = format!("{}/watch/{}", ctx.cfg.public_http_base(), ch.name);
    let local = format!("{}-{}", user.id, now_ms());
    match stripe.portal(&customer, &back, &local).await {
        Ok(url) => Json(serde_json::json!({"url": url})).into_response(),
        Err(e) => {
            tracing::error!(cause = %e, "stripe portal failed");
            error(
                StatusCode::BAD_GATEWAY,
                "provider_error",
                "the payment provider is unavailable; try again",
            )
        }
    }
}
