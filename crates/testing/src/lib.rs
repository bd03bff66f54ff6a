//! Test support: a fresh database on every backend the suite runs against.
//! A crate of its own so that no production build links it (or tempfile).
//!
//! SQLite always; PostgreSQL at `STAGE_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`) in a schema of its own per test.
//! Under `CI=true` an unreachable PostgreSQL fails the test; elsewhere the
//! PostgreSQL half is skipped with a message saying why.

use stage_core::Db;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Default URL of the PostgreSQL the suite uses.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A database made for one test; keep it alive for the test's duration.
pub struct TestDb {
    /// `sqlite` or `postgres`.
    pub label: &'static str,
    /// URL daemons under test can be pointed at.
    pub url: String,
    /// Keeps the SQLite file's directory alive.
    pub dir: Option<tempfile::TempDir>,
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A fresh, empty PostgreSQL schema's URL, or `None` (with a printed reason) when
/// PostgreSQL is unreachable outside CI.
pub async fn postgres_url() -> Option<String> {
    static N: AtomicU32 = AtomicU32::new(0);
    let base = std::env::var("STAGE_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.into());
    let admin = match tokio::time::timeout(
        Duration::from_secs(5),
        Db::connect(&base, 1, Duration::from_secs(5)),
    )
    .await
    {
        Ok(Ok(db)) => db,
        Ok(Err(e)) => return pg_missing(&base, &e.to_string()),
        Err(_) => return pg_missing(&base, "connection timed out"),
    };
    let schema = format!(
        "stage_test_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        stage_core::time::now_ms()
    );
    // The schema name is made here from digits only.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(admin.pool())
        .await
        .expect("create test schema");
    admin.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
}

fn pg_missing(url: &str, why: &str) -> Option<String> {
    if in_ci() {
        panic!("PostgreSQL at {url} is required under CI=true but unreachable: {why}");
    }
    eprintln!(
        "SKIPPED (PostgreSQL half): {url} unreachable: {why}. Start PostgreSQL or set STAGE_TEST_PG_URL to run it."
    );
    None
}

/// One fresh database per available backend.
pub async fn databases() -> Vec<TestDb> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut out = vec![TestDb {
        label: "sqlite",
        url: format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("stage.db").display()
        ),
        dir: Some(dir),
    }];
    if let Some(url) = postgres_url().await {
        out.push(TestDb {
            label: "postgres",
            url,
            dir: None,
        });
    }
    out
}

impl TestDb {
    /// Connects and migrates.
    pub async fn open(&self) -> Db {
        let db = Db::connect(&self.url, 4, Duration::from_secs(5))
            .await
            .unwrap_or_else(|e| panic!("{}: connect: {e}", self.label));
        db.migrate()
            .await
            .unwrap_or_else(|e| panic!("{}: migrate: {e}", self.label));
        db
    }
}

/// The token key every daemon under test signs and checks with.
pub const TOKEN_KEY: &str = "test-token-key-0123456789abcdef0123456789";

/// A daemon config for tests: data (SQLite included) in `dir`, the fixed
/// token key, warnings only.
pub fn config(dir: &std::path::Path) -> stage_core::Config {
    let mut cfg = stage_core::Config {
        data_dir: dir.to_path_buf(),
        ..Default::default()
    };
    cfg.auth.token_key = TOKEN_KEY.into();
    cfg.log.level = "warn".into();
    cfg
}

/// Sends a request and reads its JSON body, failing the test where either
/// fails.
pub trait FetchJson {
    fn fetch_json<T: serde::de::DeserializeOwned>(self) -> impl Future<Output = T> + Send;
}

impl FetchJson for reqwest::RequestBuilder {
    async fn fetch_json<T: serde::de::DeserializeOwned>(self) -> T {
        let res = self.send().await.expect("the request is answered");
        res.json().await.expect("the answer is JSON of that shape")
    }
}
