//! HTTP pieces every daemon shares: /healthz, the token-guarded admin router,
//! and serving a router on a pre-bound listener until shutdown.

use axum::Router;
use axum::routing::get;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// `GET /healthz` → `ok`.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// The admin listener's router: `api` (e.g. `/status`, `/admin/...`) behind the
/// admin token, plus `/healthz` and `/metrics` (`metrics` renders Prometheus text)
/// open, as Prometheus scrapers carry no token.
pub fn admin_router<F, Fut>(token: String, api: Router, metrics: F) -> Router
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = String> + Send + 'static,
{
    let guarded = api.layer(axum::middleware::from_fn_with_state(
        Arc::new(token),
        crate::admin::require_token,
    ));
    Router::new()
        .route("/healthz", get(healthz))
        .route(
            "/metrics",
            get(move || {
                let m = metrics.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4",
                        )],
                        m().await,
                    )
                }
            }),
        )
        .merge(guarded)
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Binds a TCP listener, naming the config key in the error.
pub async fn bind(addr: std::net::SocketAddr, key: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} (config key `{key}`): {e}"))
}

/// Runs a daemon that so far only answers /healthz publicly and /status on its
/// admin listener (chatd and billingd, until their features land).
pub async fn run_health_only(
    name: &'static str,
    cfg: &crate::Config,
    listen: &crate::config::ListenConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let token = crate::admin::load_or_create_token(&cfg.data_dir)?;
    let public = bind(listen.listen, &format!("{name}.listen")).await?;
    let admin = bind(listen.admin_listen, &format!("{name}.admin_listen")).await?;
    tracing::info!(public = %public.local_addr()?, admin = %admin.local_addr()?, "{name} listening");
    let started = std::time::Instant::now();
    let api = Router::new().route(
        "/status",
        get(move || async move {
            axum::Json(serde_json::json!({
                "daemon": name,
                "version": env!("CARGO_PKG_VERSION"),
                "uptime_s": started.elapsed().as_secs(),
            }))
        }),
    );
    let router = admin_router(token, api, move || async move {
        format!("# TYPE stage_up gauge\nstage_up{{daemon=\"{name}\"}} 1\n")
    });
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut r1 = rx.clone();
    let mut r2 = rx;
    let p = tokio::spawn(serve(
        public,
        Router::new().route("/healthz", get(healthz)),
        async move { crate::telemetry::stopped(&mut r1).await },
    ));
    let a = tokio::spawn(serve(admin, router, async move {
        crate::telemetry::stopped(&mut r2).await
    }));
    shutdown.await;
    tracing::info!("{name} shutting down");
    let _ = tx.send(true);
    let _ = p.await;
    let _ = a.await;
    Ok(())
}

/// Appends one Prometheus metric family (`# TYPE` line and samples) to `out`;
/// each sample carries a `channel` label when it has one.
pub fn metric_family(out: &mut String, name: &str, kind: &str, samples: &[(Option<&str>, u64)]) {
    use std::fmt::Write;
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (channel, value) in samples {
        match channel {
            // Channel names are URL slugs: nothing to escape.
            Some(c) => {
                let _ = writeln!(out, "{name}{{channel=\"{c}\"}} {value}");
            }
            None => {
                let _ = writeln!(out, "{name} {value}");
            }
        }
    }
}

/// Loads or creates the admin token and opens (and migrates) the database:
/// what every daemon does first.
pub async fn open_state(cfg: &crate::Config) -> anyhow::Result<(crate::Db, String)> {
    let db = crate::Db::open(cfg).await?;
    let token = crate::admin::load_or_create_token(&cfg.data_dir)?;
    Ok((db, token))
}

#[cfg(test)]
mod tests {
    #[test]
    fn metric_family_writes_type_line_and_labelled_samples() {
        let mut out = String::new();
        super::metric_family(
            &mut out,
            "x_total",
            "counter",
            &[(Some("demo"), 7), (None, 1)],
        );
        assert_eq!(
            out,
            "# TYPE x_total counter\nx_total{channel=\"demo\"} 7\nx_total 1\n"
        );
    }
}
