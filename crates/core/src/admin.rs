//! The admin token that guards every daemon's loopback admin API.
//!
//! Generated into the data dir on first use (mode 0600) and read by stagectl.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use rand::RngCore;
use std::path::Path;
use std::sync::Arc;
use subtle::ConstantTimeEq;

const TOKEN_FILE: &str = "admin.token";

/// Reads the admin token from the data dir, creating it if missing.
pub fn load_or_create_token(data_dir: &Path) -> std::io::Result<String> {
    load_or_create_secret(data_dir, TOKEN_FILE, || {
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        hex::encode(raw)
    })
}

/// Reads secret file `name` from the data dir, creating it (mode 0600) with
/// `make()` if missing. Two processes starting at once agree on one value.
pub fn load_or_create_secret(
    data_dir: &Path,
    name: &str,
    make: impl FnOnce() -> String,
) -> std::io::Result<String> {
    let path = data_dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => return Ok(t.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::create_dir_all(data_dir)?;
    let token = make();
    // Unique per call, not only per process: two tasks of one process (a
    // test running a daemon in-process) may create the same secret at once.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = data_dir.join(format!("{name}.{}.{call}", std::process::id()));
    {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp)?;
        f.write_all(token.as_bytes())?;
        f.sync_all()?;
    }
    // The first link wins; a loser reads the winner's value.
    match std::fs::hard_link(&tmp, &path) {
        Ok(()) => {
            let _ = std::fs::remove_file(&tmp);
            Ok(token)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let _ = std::fs::remove_file(&tmp);
            Ok(std::fs::read_to_string(&path)?.trim().to_string())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// axum middleware: requires `Authorization: Bearer <admin token>`.
pub async fn require_token(State(token): State<Arc<String>>, req: Request, next: Next) -> Response {
    let given = crate::http::bearer(req.headers()).unwrap_or("");
    if given.as_bytes().ct_eq(token.as_bytes()).into() {
        next.run(req).await
    } else {
        crate::http::error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "admin token required",
        )
    }
}

/// Tells another daemon's admin API about a live change (a stream went live,
/// a tip to show in chat), in the background: the caller never waits, and a
/// daemon that is down only costs a log line.
pub fn notify(addr: std::net::SocketAddr, token: &str, path: &str, body: serde_json::Value) {
    let addr = if addr.ip().is_unspecified() {
        std::net::SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    };
    let url = format!("http://{addr}{path}");
    let token = token.to_string();
    tokio::spawn(async move {
        static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
        let client = CLIENT.get_or_init(|| {
            reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(2))
                .no_proxy()
                .build()
                .unwrap_or_default()
        });
        match client
            .post(&url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => tracing::warn!(%url, status = %r.status(), "admin notice refused"),
            Err(e) => tracing::debug!(%url, cause = %e, "admin notice not delivered"),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_created_once_and_reused() {
        let d = tempfile::tempdir().unwrap();
        let a = load_or_create_token(d.path()).unwrap();
        let b = load_or_create_token(d.path()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(d.path().join(TOKEN_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "token readable by others: {mode:o}");
        }
    }
}
