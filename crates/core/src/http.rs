//! HTTP pieces every daemon shares: /healthz, the token-guarded admin router,
//! and serving a router on a pre-bound listener until shutdown.

use axum::Router;
use axum::routing::get;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// A refusal in the one shape every API answers with
/// ([`crate::api::ErrorBody`]), never cached.
pub fn error(
    status: axum::http::StatusCode,
    code: &str,
    message: impl Into<String>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        status,
        [(axum::http::header::CACHE_CONTROL, "no-cache")],
        axum::Json(crate::api::ErrorBody {
            code: code.into(),
            message: message.into(),
        }),
    )
        .into_response()
}

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

/// What a daemon with a public and an admin API (chatd, billingd) serves
/// on: its `run_on` takes these, its `run` binds them from the config.
pub struct Listeners {
    pub public: TcpListener,
    pub admin: TcpListener,
}

impl Listeners {
    /// Binds `[name]`'s `listen` and `admin_listen`.
    pub async fn bind(l: &crate::config::ListenConfig, name: &str) -> anyhow::Result<Listeners> {
        Ok(Listeners {
            public: bind(l.listen, &format!("{name}.listen")).await?,
            admin: bind(l.admin_listen, &format!("{name}.admin_listen")).await?,
        })
    }

    /// Both on free loopback ports (tests).
    pub async fn loopback() -> std::io::Result<Listeners> {
        Ok(Listeners {
            public: TcpListener::bind("127.0.0.1:0").await?,
            admin: TcpListener::bind("127.0.0.1:0").await?,
        })
    }
}

/// Binds a TCP listener, naming the config key in the error.
pub async fn bind(addr: std::net::SocketAddr, key: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} (config key `{key}`): {e}"))
}

/// The token in an `Authorization: Bearer …` header, if any.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// CORS for APIs called from the player page (served by packagerd, another
/// origin under `stagectl up`): any origin, GET and POST, bearer tokens.
/// Safe because tokens travel in headers and bodies, never cookies.
pub fn token_cors() -> tower_http::cors::CorsLayer {
    tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([
            axum::http::header::AUTHORIZATION,
            axum::http::header::CONTENT_TYPE,
        ])
}

/// The client's address: the TCP peer, or, when `header` is set (config
/// `client_ip_header`) and the peer is a reverse proxy on loopback, the last
/// address the proxy put in that header.
pub fn client_ip(
    header: &str,
    peer: std::net::SocketAddr,
    headers: &axum::http::HeaderMap,
) -> std::net::IpAddr {
    if header.is_empty() || !peer.ip().is_loopback() {
        return peer.ip();
    }
    headers
        .get_all(header)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next_back()
        .and_then(|last| last.trim().parse().ok())
        .unwrap_or(peer.ip())
}

/// Appends one Prometheus metric family (`# TYPE` line and samples) to `out`;
/// each sample carries a `channel` label when it has one.
pub fn metric_family<V: std::fmt::Display>(
    out: &mut String,
    name: &str,
    kind: &str,
    samples: &[(Option<&str>, V)],
) {
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

/// `s` safe inside HTML text and quoted attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn html_escaping_leaves_no_markup() {
        assert_eq!(
            super::escape_html(r#"<img src=x onerror="a('b')">&"#),
            "&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt;&amp;"
        );
    }

    #[test]
    fn client_ip_trusts_the_header_only_from_a_loopback_proxy() {
        use axum::http::HeaderMap;
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", "6.6.6.6, 203.0.113.7".parse().unwrap());
        let proxy: std::net::SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let remote: std::net::SocketAddr = "198.51.100.1:5000".parse().unwrap();
        // The proxy appended the real client last; what the client claimed
        // (first) is ignored.
        assert_eq!(
            super::client_ip("x-forwarded-for", proxy, &h).to_string(),
            "203.0.113.7"
        );
        assert_eq!(super::client_ip("", proxy, &h), proxy.ip());
        assert_eq!(super::client_ip("x-forwarded-for", remote, &h), remote.ip());
        assert_eq!(
            super::client_ip("x-forwarded-for", proxy, &HeaderMap::new()),
            proxy.ip()
        );
    }

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
