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
