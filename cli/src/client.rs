//! Talking to the daemons' loopback admin listeners (shared by the CLI
//! commands and the TUI).

use anyhow::Context;
use stage_core::Config;
use std::net::SocketAddr;
use std::time::Duration;

/// The daemons and their admin listeners.
pub fn daemons(cfg: &Config) -> Vec<(&'static str, SocketAddr)> {
    vec![
        ("ingestd", cfg.ingestd.admin_listen),
        ("packagerd", cfg.packagerd.admin_listen),
        ("chatd", cfg.chatd.admin_listen),
        ("billingd", cfg.billingd.admin_listen),
    ]
}

/// An admin API client carrying the token from the data dir.
pub struct AdminClient {
    http: reqwest::Client,
    token: String,
}

/// Turns a wildcard listen address into one we can connect to.
pub fn connectable(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    }
}

impl AdminClient {
    /// Reads the admin token from the data dir.
    pub fn new(cfg: &Config) -> anyhow::Result<AdminClient> {
        let token = stage_core::admin::load_or_create_token(&cfg.data_dir)
            .with_context(|| format!("reading the admin token in {}", cfg.data_dir.display()))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .no_proxy()
            .build()?;
        Ok(AdminClient { http, token })
    }

    /// A client without the token (for /healthz), which creates nothing in
    /// the data dir.
    pub fn anonymous() -> anyhow::Result<AdminClient> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .no_proxy()
            .build()?;
        Ok(AdminClient {
            http,
            token: String::new(),
        })
    }

    /// GET a JSON document from a public URL.
    pub async fn get_url(&self, url: &str) -> anyhow::Result<serde_json::Value> {
        let res = self.http.get(url).send().await?;
        let status = res.status();
        if !status.is_success() {
            anyhow::bail!("{url}: HTTP {status}");
        }
        Ok(res.json().await?)
    }

    /// GET a JSON document from an admin listener.
    pub async fn get(&self, addr: SocketAddr, path: &str) -> anyhow::Result<serde_json::Value> {
        let url = format!("http://{}{path}", connectable(addr));
        let res = self.http.get(&url).bearer_auth(&self.token).send().await?;
        let status = res.status();
        let body: serde_json::Value = res.json().await.unwrap_or(serde_json::Value::Null);
        if !status.is_success() {
            let why = serde_json::from_value::<stage_core::api::ErrorBody>(body)
                .map(|e| format!(": {}", e.message))
                .unwrap_or_default();
            anyhow::bail!("{url}: HTTP {status}{why}");
        }
        Ok(body)
    }

    /// POST to an admin listener; returns status and JSON body.
    pub async fn post(
        &self,
        addr: SocketAddr,
        path: &str,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        let url = format!("http://{}{path}", connectable(addr));
        let res = self.http.post(&url).bearer_auth(&self.token).send().await?;
        let status = res.status().as_u16();
        Ok((status, res.json().await.unwrap_or(serde_json::Value::Null)))
    }

    /// POST JSON to an admin listener; returns status and JSON body. A daemon
    /// that is not running is an error saying so.
    pub async fn post_json(
        &self,
        daemon: &str,
        addr: SocketAddr,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        let url = format!("http://{}{path}", connectable(addr));
        let res = self
            .http
            .post(&url)
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "{daemon} is not answering at {} ({e}); is it running?",
                    connectable(addr)
                )
            })?;
        let status = res.status().as_u16();
        Ok((status, res.json().await.unwrap_or(serde_json::Value::Null)))
    }

    /// Whether a daemon answers /healthz.
    pub async fn healthy(&self, addr: SocketAddr) -> bool {
        let url = format!("http://{}/healthz", connectable(addr));
        matches!(self.http.get(&url).timeout(Duration::from_secs(1)).send().await, Ok(r) if r.status().is_success())
    }
}

/// Exit code for a daemon's refusal: 3 not found, 4 conflict, 2 bad input.
pub fn exit_for(status: u16) -> std::process::ExitCode {
    use std::process::ExitCode;
    match status {
        404 => ExitCode::from(3),
        409 => ExitCode::from(4),
        400..=499 => ExitCode::from(2),
        _ => ExitCode::FAILURE,
    }
}

/// POSTs an admin action to `daemon` and prints its answer (`done` renders
/// it for people); a refusal prints the daemon's message.
pub async fn act(
    out: &crate::output::Output,
    daemon: &str,
    addr: SocketAddr,
    cfg: &Config,
    path: &str,
    body: serde_json::Value,
    done: impl FnOnce(&serde_json::Value) -> String,
) -> anyhow::Result<std::process::ExitCode> {
    let client = AdminClient::new(cfg)?;
    let (status, v) = client.post_json(daemon, addr, path, &body).await?;
    if !(200..300).contains(&status) {
        eprintln!(
            "stagectl: {} ({})",
            v["message"].as_str().unwrap_or("refused"),
            v["code"].as_str().unwrap_or("error")
        );
        return Ok(exit_for(status));
    }
    out.emit(&v, || done(&v));
    Ok(std::process::ExitCode::SUCCESS)
}
