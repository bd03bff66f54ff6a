//! An in-process chatd on 127.0.0.1:0 with its own SQLite (or a given
//! database URL) and WebSocket clients that read `\n`-batched frames.
#![allow(dead_code)]

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use stage_core::tokens::{Claims, Signer};
use stage_core::{Config, Db};
use stage_testing::FetchJson;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

#[allow(unused_imports)]
pub use stage_testing::{TOKEN_KEY as KEY, config};

pub struct Chatd {
    pub public: SocketAddr,
    pub admin: SocketAddr,
    pub admin_token: String,
    pub db: Db,
    pub cfg: Config,
    running: stage_core::daemon::Running,
    _dir: Option<tempfile::TempDir>,
}

impl Chatd {
    /// Starts chatd with `cfg` (a fresh temp dir unless the config names one
    /// that exists).
    pub async fn start(edit: impl FnOnce(&mut Config)) -> Chatd {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path());
        edit(&mut cfg);
        let mut c = Chatd::start_with(cfg).await;
        c._dir = Some(dir);
        c
    }

    pub async fn start_with(cfg: Config) -> Chatd {
        let db = Db::open(&cfg).await.unwrap();
        let l = stage_core::http::Listeners::loopback().await.unwrap();
        let (pa, aa) = (
            l.public.local_addr().unwrap(),
            l.admin.local_addr().unwrap(),
        );
        let c = cfg.clone();
        let running = stage_core::daemon::Running::spawn(|stop| chatd::run_on(c, l, stop));
        let admin_token = stage_core::admin::load_or_create_token(&cfg.data_dir).unwrap();
        Chatd {
            public: pa,
            admin: aa,
            admin_token,
            db,
            cfg,
            running,
            _dir: None,
        }
    }

    /// Stops chatd and waits for it (its queued writes are stored).
    pub async fn stop(&mut self) {
        self.running.stop().await.unwrap();
    }

    /// A login token for `user`.
    pub fn token(&self, user: &stage_core::accounts::User) -> String {
        Signer::new(KEY.as_bytes()).sign(&Claims {
            kind: "login".into(),
            sub: user.id,
            name: user.username.clone(),
            role: user.role.clone(),
            exp: stage_core::tokens::now_s() + 3600,
            channel: String::new(),
        })
    }

    /// POSTs JSON to the admin API.
    pub async fn admin_post(&self, path: &str, body: Value) -> (u16, Value) {
        let res = reqwest::Client::new()
            .post(format!("http://{}{path}", self.admin))
            .bearer_auth(&self.admin_token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn admin_get(&self, path: &str) -> Value {
        reqwest::Client::new()
            .get(format!("http://{}{path}", self.admin))
            .bearer_auth(&self.admin_token)
            .fetch_json()
            .await
    }

    pub async fn metric(&self, name: &str) -> u64 {
        let text = reqwest::get(format!("http://{}/metrics", self.admin))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    pub async fn connect(&self, channel: &str, token: Option<&str>) -> Ws {
        Ws::connect(self.public, channel, token).await
    }
}

/// Makes the test world: the operator, channel `demo`, accounts.
pub async fn user(db: &Db, name: &str) -> stage_core::accounts::User {
    // A cheap stand-in hash: these accounts never log in with a password.
    db.create_user(name, &format!("{name}@example.com"), "x")
        .await
        .unwrap()
}

pub async fn channel(db: &Db, name: &str) -> stage_core::db::Channel {
    let owner = db.ensure_owner("operator").await.unwrap();
    db.create_channel(
        owner,
        name,
        false,
        &stage_core::keys::hash(&stage_core::keys::generate()),
    )
    .await
    .unwrap()
}

pub struct Ws {
    stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    pending: VecDeque<Value>,
    pub closed: Option<u16>,
}

impl Ws {
    pub async fn connect(addr: SocketAddr, channel: &str, token: Option<&str>) -> Ws {
        let url = match token {
            Some(t) => format!("ws://{addr}/ws/{channel}?token={t}"),
            None => format!("ws://{addr}/ws/{channel}"),
        };
        Ws::from_request(url).await
    }

    /// Connects with a prepared request (custom headers).
    pub async fn from_request(
        req: impl tokio_tungstenite::tungstenite::client::IntoClientRequest + Unpin,
    ) -> Ws {
        let (stream, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        let mut ws = Ws {
            stream,
            pending: VecDeque::new(),
            closed: None,
        };
        ws.expect("welcome").await;
        ws
    }

    pub async fn send(&mut self, v: Value) {
        self.stream
            .send(Message::Text(v.to_string().into()))
            .await
            .unwrap();
    }

    pub async fn chat(&mut self, body: &str) {
        self.send(serde_json::json!({"type": "chat", "body": body}))
            .await;
    }

    /// The next message (any type), or None at close / after `within`.
    pub async fn next_within(&mut self, within: Duration) -> Option<Value> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(v) = self.pending.pop_front() {
                return Some(v);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            match tokio::time::timeout(left, self.stream.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    for line in t.as_str().split('\n') {
                        self.pending.push_back(serde_json::from_str(line).unwrap());
                    }
                }
                Ok(Some(Ok(Message::Close(f)))) => {
                    self.closed = Some(f.map(|f| u16::from(f.code)).unwrap_or(1005));
                    return None;
                }
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(_))) | Ok(None) => {
                    self.closed.get_or_insert(1006);
                    return None;
                }
                Err(_) => return None,
            }
        }
    }

    /// The next message of type `ty` (others skipped), within 5 s.
    pub async fn expect(&mut self, ty: &str) -> Value {
        self.expect_where(ty, |_| true).await
    }

    /// The next message of type `ty` that satisfies `f`, within 5 s.
    pub async fn expect_where(&mut self, ty: &str, f: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = deadline
                .checked_duration_since(Instant::now())
                .unwrap_or_else(|| panic!("no `{ty}` message within 5 s"));
            match self.next_within(left).await {
                Some(v) if v["type"] == ty && f(&v) => return v,
                Some(_) => {}
                None => panic!("no `{ty}` message within 5 s (closed: {:?})", self.closed),
            }
        }
    }

    /// The next `error` frame's code.
    pub async fn error_code(&mut self) -> String {
        self.expect("error").await["code"]
            .as_str()
            .unwrap()
            .to_string()
    }
}
