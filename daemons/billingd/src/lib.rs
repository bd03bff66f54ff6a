//! billingd: viewer accounts (`/auth/*`: signed login tokens that chatd and
//! packagerd verify without a database), membership and tip checkouts, the
//! provider's webhook, playback tokens for members-only streams, and the
//! ledger behind `stagectl billing`.

mod admin;
mod dev;
pub mod limiter;
mod metrics;
mod payments;
mod stripe;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use limiter::Limiter;
use serde::Deserialize;
use stage_core::accounts::{self, User};
use stage_core::db::DbError;
use stage_core::time::now_ms;
use stage_core::tokens::{Claims, Signer};
use stage_core::{Config, Db};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

pub struct Ctx {
    cfg: Config,
    db: Db,
    signer: Signer,
    /// Webhook signing secrets (the dev provider signs with the first).
    webhook_secrets: Vec<String>,
    /// For chatd's admin API (tips into chat).
    admin_token: String,
    metrics: metrics::Metrics,
    /// The Stripe client (provider `stripe`).
    stripe: Option<stripe::Stripe>,
    by_user: Mutex<Limiter<String>>,
    by_ip: Mutex<Limiter<IpAddr>>,
    registrations: Mutex<Limiter<IpAddr>>,
    started: std::time::Instant,
}

type Shared = State<Arc<Ctx>>;

pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    stage_core::http::error(status, code, message)
}

/// 422 naming the field that is wrong.
pub(crate) fn invalid(field: &str, message: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::Json(serde_json::json!({
            "code": "invalid", "field": field, "message": format!("{field} {message}"),
        })),
    )
        .into_response()
}

pub(crate) fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(cause = %e, "billingd: request failed");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error",
    )
}

fn too_many(retry_ms: i64) -> Response {
    let secs = (retry_ms + 999) / 1000;
    let mut r = error(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        &format!("too many attempts; try again in {secs} s"),
    );
    if let Ok(v) = secs.to_string().parse() {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

impl Ctx {
    fn token_for(&self, u: &User) -> (String, i64) {
        let exp = stage_core::tokens::now_s() + self.cfg.auth.login_ttl.0.as_secs() as i64;
        let t = self.signer.sign(&Claims {
            kind: "login".into(),
            sub: u.id,
            name: u.username.clone(),
            role: u.role.clone(),
            exp,
            channel: String::new(),
        });
        (t, exp)
    }

    fn session(&self, u: &User) -> serde_json::Value {
        let (token, exp) = self.token_for(u);
        serde_json::json!({
            "token": token,
            "expires_at": exp,
            "user": {"id": u.id, "username": u.username, "role": u.role},
        })
    }
}

/// The public router.
pub fn public_router(ctx: Arc<Ctx>) -> Router {
    let r = Router::new()
        .route("/healthz", get(stage_core::http::healthz))
        .route("/auth/register", post(register))
        .route("/auth/login", post(login))
        .route("/auth/me", get(me))
        .route("/channels/{channel}/tiers", get(payments::tiers))
        .route("/channels/{channel}/subscribe", post(payments::subscribe))
        .route("/channels/{channel}/membership", get(payments::membership))
        .route(
            "/channels/{channel}/playback-token",
            post(payments::playback_token),
        )
        .route("/streams/{id}/tip", post(payments::tip))
        .route("/stripe/webhook", post(payments::webhook))
        .route("/billing/portal", post(payments::portal));
    // The dev provider's pages exist only with the dev provider: anyone who
    // can reach them can "pay".
    let r = if ctx.cfg.billing.provider == stage_core::config::Provider::Dev {
        r.route(
            "/billing/dev/checkout/{id}",
            get(dev::checkout_page).post(dev::checkout_pay),
        )
        .route(
            "/billing/dev/portal/{link}",
            get(dev::portal_page).post(dev::portal_cancel),
        )
    } else {
        r
    };
    r.layer(stage_core::http::token_cors()).with_state(ctx)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterReq {
    username: String,
    email: String,
    password: String,
}

async fn register(
    State(ctx): Shared,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ip = stage_core::http::client_ip(&ctx.cfg.client_ip_header, addr, &headers);
    let Ok(req) = serde_json::from_slice::<RegisterReq>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "send JSON {\"username\", \"email\", \"password\"}",
        );
    };
    let checks = accounts::validate_username(&req.username)
        .and_then(|_| accounts::validate_email(&req.email))
        .and_then(|_| accounts::validate_password(&req.password));
    if let Err(DbError::Invalid { field, message }) = &checks {
        return invalid(field, message);
    }
    {
        let Ok(mut l) = ctx.registrations.lock() else {
            return internal("limiter poisoned");
        };
        if let Err(ms) = l.check(&ip, now_ms()) {
            return too_many(ms);
        }
        // Every registration counts against the address's allowance.
        l.fail(&ip, now_ms());
    }
    let pw = req.password.clone();
    let Ok(hash) = tokio::task::spawn_blocking(move || accounts::hash_password(&pw)).await else {
        return internal("hashing failed");
    };
    match ctx.db.create_user(&req.username, &req.email, &hash).await {
        Ok(u) => {
            tracing::info!(user = %u.username, id = u.id, "account registered");
            (StatusCode::CREATED, axum::Json(ctx.session(&u))).into_response()
        }
        Err(DbError::Conflict(m)) => error(StatusCode::CONFLICT, "taken", &m),
        Err(DbError::Invalid { field, message }) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            &format!("{field} {message}"),
        ),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginReq {
    /// Username or email.
    username: String,
    password: String,
}

async fn login(
    State(ctx): Shared,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(req) = serde_json::from_slice::<LoginReq>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "send JSON {\"username\", \"password\"}",
        );
    };
    let key = req.username.trim().to_lowercase();
    let ip = stage_core::http::client_ip(&ctx.cfg.client_ip_header, addr, &headers);
    let now = now_ms();
    {
        let (Ok(mut u), Ok(mut i)) = (ctx.by_user.lock(), ctx.by_ip.lock()) else {
            return internal("limiter poisoned");
        };
        if let Err(ms) = u.check(&key, now).and(i.check(&ip, now)) {
            tracing::warn!(%ip, "login refused: too many failures");
            return too_many(ms);
        }
    }
    let user = if key.contains('@') {
        ctx.db.user_by_email(&key).await
    } else {
        ctx.db.user_by_name(&key).await
    };
    let user = match user {
        Ok(u) => u,
        Err(e) => return internal(e),
    };
    // A missing account costs the same argon2 work as a wrong password.
    let hash = user
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .unwrap_or_else(|| accounts::dummy_hash().to_string());
    let pw = req.password;
    let ok = tokio::task::spawn_blocking(move || accounts::verify_password(&pw, &hash))
        .await
        .unwrap_or(false);
    let Some(user) = user.filter(|u| ok && u.password_hash.is_some()) else {
        if let (Ok(mut u), Ok(mut i)) = (ctx.by_user.lock(), ctx.by_ip.lock()) {
            u.fail(&key, now);
            i.fail(&ip, now);
        }
        tracing::info!(%ip, "login failed");
        return error(
            StatusCode::UNAUTHORIZED,
            "bad_credentials",
            "wrong username or password",
        );
    };
    if user.banned {
        return error(StatusCode::FORBIDDEN, "banned", "this account is banned");
    }
    if let Ok(mut u) = ctx.by_user.lock() {
        u.clear(&key);
    }
    axum::Json(ctx.session(&user)).into_response()
}

async fn me(State(ctx): Shared, headers: HeaderMap) -> Response {
    let token = stage_core::http::bearer(&headers).unwrap_or("");
    let claims = match ctx
        .signer
        .verify(token, "login", stage_core::tokens::now_s())
    {
        Ok(c) => c,
        Err(e) => return error(StatusCode::UNAUTHORIZED, "bad_token", &e.to_string()),
    };
    match ctx.db.user(claims.sub).await {
        Ok(Some(u)) if !u.banned => {
            let moderates = ctx.db.moderated_channels(u.id).await.unwrap_or_default();
            axum::Json(serde_json::json!({
                "id": u.id, "username": u.username, "role": u.role,
                "moderates": moderates, "expires_at": claims.exp,
            }))
            .into_response()
        }
        Ok(Some(_)) => error(StatusCode::FORBIDDEN, "banned", "this account is banned"),
        Ok(None) => error(StatusCode::UNAUTHORIZED, "bad_token", "no such account"),
        Err(e) => internal(e),
    }
}

/// Runs billingd on pre-bound listeners until `shutdown`.
pub async fn run_on(
    cfg: Config,
    listeners: stage_core::http::Listeners,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let stage_core::http::Listeners { public, admin } = listeners;
    let (db, token) = stage_core::http::open_state(&cfg).await?;
    let signer = Signer::from_config(&cfg)?;
    let webhook_secrets = if cfg.billing.webhook_secrets.is_empty() {
        // The dev provider signs its events with a secret of its own.
        vec![stage_core::admin::load_or_create_secret(
            &cfg.data_dir,
            "billing-webhook.key",
            || {
                let mut raw = [0u8; 24];
                rand::RngCore::fill_bytes(&mut rand::rng(), &mut raw);
                format!("whsec_dev_{}", hex::encode(raw))
            },
        )?]
    } else {
        cfg.billing.webhook_secrets.clone()
    };
    let stripe = if cfg.billing.provider == stage_core::config::Provider::Stripe {
        let key = if cfg.billing.stripe.secret_key.is_empty() {
            std::env::var("STRIPE_SECRET_KEY").unwrap_or_default()
        } else {
            cfg.billing.stripe.secret_key.clone()
        };
        if key.is_empty() {
            anyhow::bail!(
                "billing.provider is \"stripe\" but no API key is set: set billing.stripe.secret_key or STRIPE_SECRET_KEY"
            );
        }
        Some(stripe::Stripe::new(&key, &cfg.billing.stripe.api_base)?)
    } else {
        None
    };
    let window = cfg.auth.login_window.0.as_millis() as i64;
    let n = cfg.auth.login_attempts as usize;
    let ctx = Arc::new(Ctx {
        stripe,
        by_user: Mutex::new(Limiter::new(n, window)),
        by_ip: Mutex::new(Limiter::new(n * 3, window)),
        registrations: Mutex::new(Limiter::new(n * 3, window)),
        cfg,
        db: db.clone(),
        signer,
        webhook_secrets,
        admin_token: token.clone(),
        metrics: metrics::Metrics::default(),
        started: std::time::Instant::now(),
    });
    tracing::info!(public = %public.local_addr()?, admin = %admin.local_addr()?,
        provider = %ctx.cfg.billing.provider, "billingd listening");
    stage_core::daemon::ready();
    let c2 = ctx.clone();
    let api = admin::router(ctx.clone()).route(
        "/status",
        get(move || {
            let c = c2.clone();
            async move {
                // Tips since midnight UTC, per channel.
                let now = stage_core::time::now_ms();
                let tips = c.db.tips_since(now - now.rem_euclid(86_400_000)).await;
                let (tips_today, db_error) = match tips {
                    Ok(t) => (Some(t), None),
                    Err(e) => (None, Some(e.to_string())),
                };
                axum::Json(stage_core::api::status::BillingStatus {
                    daemon: "billingd".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    uptime_s: c.started.elapsed().as_secs(),
                    provider: c.cfg.billing.provider,
                    webhooks: c.metrics.status(),
                    tips_today,
                    db_error,
                })
            }
        }),
    );
    let c3 = ctx.clone();
    let admin_router = stage_core::http::admin_router(token, api, move || {
        let c = c3.clone();
        async move { c.metrics.render() }
    });
    let stop = stage_core::daemon::Stop::new();
    let p = stop.serve(public, public_router(ctx));
    let a = stop.serve(admin, admin_router);
    stop.after(shutdown, "billingd").await;
    let _ = p.await;
    let _ = a.await;
    db.close().await;
    Ok(())
}

/// Runs billingd per its config.
pub async fn run(cfg: Config, shutdown: stage_core::daemon::Shutdown) -> anyhow::Result<()> {
    let listeners = stage_core::http::Listeners::bind(&cfg.billingd, "billingd").await?;
    run_on(cfg, listeners, shutdown).await
}
