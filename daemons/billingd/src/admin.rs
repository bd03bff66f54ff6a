//! billingd's admin API (loopback, admin token): membership tiers. Tiers are
//! created here rather than by stagectl in the database because with the
//! stripe provider each needs a price at Stripe, and only billingd holds
//! the API key.

use crate::{Ctx, error, internal};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use stage_core::db::DbError;
use std::sync::Arc;

pub fn router(ctx: Arc<Ctx>) -> Router {
    Router::new()
        .route(stage_core::api::BILLING_TIERS.pattern(), post(create_tier))
        .route(
            stage_core::api::BILLING_TIER_ARCHIVE.pattern(),
            post(archive_tier),
        )
        .with_state(ctx)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTier {
    channel: String,
    name: String,
    price_minor: i64,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default = "month")]
    interval: String,
}

fn month() -> String {
    "month".into()
}

async fn create_tier(State(ctx): State<Arc<Ctx>>, Json(t): Json<NewTier>) -> Response {
    let ch = match ctx.db.channel(&t.channel).await {
        Ok(Some(c)) => c,
        Ok(None) => return error(StatusCode::NOT_FOUND, "no_channel", "no such channel"),
        Err(e) => return internal(e),
    };
    let currency = t
        .currency
        .unwrap_or_else(|| ctx.cfg.billing.currency.clone())
        .to_lowercase();
    let tier = match ctx
        .db
        .create_tier(ch.id, &t.name, t.price_minor, &currency, &t.interval)
        .await
    {
        Ok(tier) => tier,
        Err(DbError::Invalid { field, message }) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                &format!("{field} {message}"),
            );
        }
        Err(DbError::Conflict(m)) => return error(StatusCode::CONFLICT, "taken", &m),
        Err(e) => return internal(e),
    };
    let price = match &ctx.stripe {
        None => format!("price_dev_{}", tier.id),
        Some(stripe) => match stripe.create_price(&tier, &ch.name).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(cause = %e, tier = tier.id, "stripe price failed");
                // Not sold without a price: the tier goes again.
                if let Err(e) = ctx.db.delete_tier(tier.id).await {
                    return internal(e);
                }
                return error(
                    StatusCode::BAD_GATEWAY,
                    "provider_error",
                    "Stripe refused or did not answer; nothing was created",
                );
            }
        },
    };
    if let Err(e) = ctx.db.set_tier_price(tier.id, &price).await {
        return internal(e);
    }
    tracing::info!(channel = %ch.name, tier = %tier.name, price = tier.price_minor, "tier created");
    match ctx.db.tier(tier.id).await {
        Ok(Some(t)) => (StatusCode::CREATED, Json(t)).into_response(),
        Ok(None) => internal("tier vanished"),
        Err(e) => internal(e),
    }
}

async fn archive_tier(State(ctx): State<Arc<Ctx>>, Path(id): Path<i64>) -> Response {
    match ctx.db.tier(id).await {
        Ok(Some(_)) => {}
        Ok(None) => return error(StatusCode::NOT_FOUND, "no_tier", "no such tier"),
        Err(e) => return internal(e),
    }
    match ctx.db.archive_tier(id).await {
        Ok(t) => Json(t).into_response(),
        Err(e) => internal(e),
    }
}
