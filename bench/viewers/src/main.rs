//! N simulated LL-HLS viewers of one stream, each following the live edge the
//! way hls.js does in low-latency mode: a blocking playlist reload for the
//! next part (`_HLS_msn`/`_HLS_part`, with `_HLS_skip=YES` delta updates)
//! while fetching the hinted part. Reports how long after the server
//! completed each part (its `stage-completed-at` stamp) the viewers had it.
//!
//! The client is hyper's bare HTTP/1.1 connection, two per viewer (playlist
//! and parts, as a browser would keep them), with no pool or redirect
//! machinery: on a box where it shares the cores with the server, every
//! cycle the generator spends is taken from the server it measures.
//!
//! usage: llhls-viewers --playlist http://127.0.0.1:8080/hls/demo/source/index.m3u8 \
//!            --viewers 2000 --seconds 30

use clap::Parser;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Mutex;

#[derive(Parser)]
struct Args {
    /// The media playlist URL.
    #[arg(long)]
    playlist: String,
    #[arg(long, default_value_t = 100)]
    viewers: usize,
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Seconds over which viewers join.
    #[arg(long, default_value_t = 5)]
    ramp: u64,
    /// Print one JSON line instead of text.
    #[arg(long)]
    json: bool,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// What a viewer needs from a playlist: the next part's position and URI.
struct Edge {
    msn: u64,
    part: u64,
    hint: Option<String>,
}

/// Minimal reading of an LL-HLS media playlist (the bench trusts the server;
/// the e2e tests check it).
fn edge(text: &str) -> Option<Edge> {
    if !text.starts_with("#EXTM3U") {
        return None;
    }
    let mut media_sequence = 0;
    let mut skipped = 0;
    let mut segments = 0;
    let mut parts = 0;
    let mut hint = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            media_sequence = v.trim().parse().ok()?;
        } else if let Some(v) = line.strip_prefix("#EXT-X-SKIP:SKIPPED-SEGMENTS=") {
            skipped = v.trim().parse().ok()?;
        } else if line.starts_with("#EXT-X-PART:") {
            parts += 1;
        } else if line.starts_with("#EXTINF") {
            segments += 1;
            parts = 0;
        } else if let Some(v) = line.strip_prefix("#EXT-X-PRELOAD-HINT:") {
            hint = v
                .split("URI=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .map(String::from);
        }
    }
    Some(Edge {
        msn: media_sequence + skipped + segments,
        part: parts,
        hint,
    })
}

#[derive(Default)]
struct Stats {
    /// Part delivery: ms from completion to the last byte here.
    parts: Vec<i64>,
    /// Blocking reloads: ms from the newest part's completion to response.
    reloads: Vec<i64>,
}

/// One keep-alive HTTP/1.1 connection, reopened after a failure.
struct Conn {
    addr: SocketAddr,
    host: String,
    session: String,
    tx: Option<SendRequest<Empty<Bytes>>>,
}

struct Reply {
    ok: bool,
    /// The server's `stage-completed-at` stamp.
    completed_at: Option<i64>,
    body: Bytes,
}

impl Conn {
    fn new(sh: &Shared, session: String) -> Self {
        Conn {
            addr: sh.addr,
            host: sh.host.clone(),
            session,
            tx: None,
        }
    }

    async fn get(&mut self, path: &str) -> anyhow::Result<Reply> {
        let r = self.try_get(path).await;
        if r.is_err() {
            self.tx = None;
        }
        r
    }

    async fn try_get(&mut self, path: &str) -> anyhow::Result<Reply> {
        let tx = match &mut self.tx {
            Some(tx) if !tx.is_closed() => tx,
            _ => {
                let tcp = tokio::net::TcpStream::connect(self.addr).await?;
                tcp.set_nodelay(true)?;
                let (tx, conn) = http1::handshake(TokioIo::new(tcp)).await?;
                tokio::spawn(conn);
                self.tx.insert(tx)
            }
        };
        tx.ready().await?;
        let req = hyper::Request::get(path)
            .header(hyper::header::HOST, &self.host)
            .header("x-playback-session-id", &self.session)
            .body(Empty::new())?;
        let res = tx.send_request(req).await?;
        let ok = res.status().is_success();
        let completed_at = res
            .headers()
            .get("stage-completed-at")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let body = res.into_body().collect().await?.to_bytes();
        Ok(Reply {
            ok,
            completed_at,
            body,
        })
    }
}

/// What every simulated viewer shares.
struct Shared {
    addr: SocketAddr,
    host: String,
    /// The playlist's path, and its directory (ending in `/`).
    playlist: String,
    base: String,
    until: Instant,
    stats: Mutex<Stats>,
    errors: AtomicU64,
    requests: AtomicU64,
}

async fn viewer(id: usize, sh: Arc<Shared>) {
    let session = format!("bench-viewer-{id:06}");
    let mut playlists = Conn::new(&sh, session.clone());
    let mut parts = Conn::new(&sh, session);
    let count = || sh.requests.fetch_add(1, Ordering::Relaxed);
    let fail = || sh.errors.fetch_add(1, Ordering::Relaxed);
    let mut text = Bytes::new();
    let mut local = Stats::default();
    while Instant::now() < sh.until {
        let Some(e) = edge(std::str::from_utf8(&text).unwrap_or("")) else {
            // First load, or after an error: a plain playlist request.
            count();
            match playlists.get(&sh.playlist).await {
                Ok(r) if r.ok => text = r.body,
                _ => {
                    fail();
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            continue;
        };
        let reload_path = format!(
            "{}?_HLS_msn={}&_HLS_part={}&_HLS_skip=YES",
            sh.playlist, e.msn, e.part
        );
        count();
        let reload = playlists.get(&reload_path);
        let part = async {
            let h = e.hint.as_ref()?;
            count();
            let r = parts.get(&format!("{}{h}", sh.base)).await.ok()?;
            let done = r.completed_at?;
            r.ok.then(|| now_ms() - done)
        };
        let (r, p) = tokio::join!(reload, part);
        if let Some(ms) = p {
            local.parts.push(ms);
        }
        match r {
            Ok(r) if r.ok => {
                if let Some(d) = r.completed_at {
                    local.reloads.push(now_ms() - d);
                }
                text = r.body;
            }
            _ => {
                fail();
                text = Bytes::new();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let mut s = sh.stats.lock().await;
    s.parts.extend(local.parts);
    s.reloads.extend(local.reloads);
}

fn pct(v: &mut [i64], p: f64) -> i64 {
    if v.is_empty() {
        return -1;
    }
    v.sort_unstable();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let rest = a
        .playlist
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("--playlist must be an http:// URL"))?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let addr = tokio::net::lookup_host(host)
        .await?
        .next()
        .ok_or_else(|| anyhow::anyhow!("{host}: no address"))?;
    let base = path
        .rsplit_once('/')
        .map(|(b, _)| format!("{b}/"))
        .ok_or_else(|| anyhow::anyhow!("--playlist has no path"))?;
    let start = Instant::now();
    let sh = Arc::new(Shared {
        addr,
        host: host.to_string(),
        playlist: path.to_string(),
        base,
        until: start + Duration::from_secs(a.ramp + a.seconds),
        stats: Mutex::new(Stats::default()),
        errors: AtomicU64::new(0),
        requests: AtomicU64::new(0),
    });
    let mut tasks = Vec::with_capacity(a.viewers);
    for id in 0..a.viewers {
        let at = start + Duration::from_secs_f64(a.ramp as f64 * id as f64 / a.viewers as f64);
        tokio::time::sleep_until(at.into()).await;
        tasks.push(tokio::spawn(viewer(id, sh.clone())));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut s = sh.stats.lock().await;
    let n_parts = s.parts.len();
    let (p50, p90, p99, max) = (
        pct(&mut s.parts, 0.5),
        pct(&mut s.parts, 0.9),
        pct(&mut s.parts, 0.99),
        pct(&mut s.parts, 1.0),
    );
    let (r50, r99) = (pct(&mut s.reloads, 0.5), pct(&mut s.reloads, 0.99));
    let req = sh.requests.load(Ordering::Relaxed);
    let err = sh.errors.load(Ordering::Relaxed);
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "viewers": a.viewers, "parts": n_parts, "part_p50_ms": p50, "part_p90_ms": p90,
                "part_p99_ms": p99, "part_max_ms": max, "reload_p50_ms": r50, "reload_p99_ms": r99,
                "requests_per_s": req as f64 / elapsed, "errors": err,
            })
        );
    } else {
        println!(
            "viewers {}: {n_parts} part fetches; part delivery after completion p50 {p50} ms, p90 {p90} ms, p99 {p99} ms, max {max} ms; \
             blocking reload p50 {r50} ms, p99 {r99} ms; {:.0} req/s; {err} errors",
            a.viewers,
            req as f64 / elapsed
        );
    }
    Ok(())
}
