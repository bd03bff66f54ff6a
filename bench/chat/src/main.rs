//! chatload: opens N WebSocket clients in one chat room, has S of them send
//! M messages per second in total, and measures what the N receive:
//! deliveries per second and end-to-end latency (each body starts with its
//! send time in Unix microseconds; sender and receivers share this machine's
//! clock). Works against chatd (`ws://…/ws/ROOM`) and the Node.js `ws`
//! baseline (`bench/chat/node-server.mjs`) alike: both fan out
//! `{"type":"chat","body":…}` and this only looks for `"body":"<digits>`.
//! With `--idle` it only connects the clients and holds them (memory per
//! idle connection).

use clap::Parser;
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser)]
struct Args {
    /// Room URL, e.g. ws://127.0.0.1:8081/ws/bench.
    #[arg(long)]
    url: String,
    /// Receiving clients.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Sending clients (they receive too, but are not measured).
    #[arg(long, default_value_t = 1)]
    senders: usize,
    /// Messages per second, all senders together.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Padding in each body (bytes).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Seconds sent before measuring starts.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// Seconds measured.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Only connect the clients and hold them this many seconds (prints
    /// `connected` on stderr when all are in).
    #[arg(long)]
    idle: Option<f64>,
    /// Connections opened at once.
    #[arg(long, default_value_t = 200)]
    connect_concurrency: usize,
}

const BUCKET_US: u64 = 100;
const BUCKETS: usize = 50_000; // 5 s

struct Stats {
    measuring: AtomicBool,
    delivered: AtomicU64,
    hist: Vec<AtomicU64>,
    disconnects: AtomicU64,
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as u64
}

/// The send time at the start of each `"body":"` in `text`.
fn stamps(text: &str, mut f: impl FnMut(u64)) {
    let key = "\"body\":\"";
    let mut rest = text;
    while let Some(i) = rest.find(key) {
        rest = &rest[i + key.len()..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if let Ok(t) = rest[..digits].parse() {
            f(t);
        }
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str, sem: &Semaphore) -> anyhow::Result<Ws> {
    let _permit = sem.acquire().await?;
    // No Nagle: a sender's small frames must not wait for the last one's ACK.
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true).await?;
    Ok(ws)
}

async fn receive(mut ws: Ws, stats: Arc<Stats>) {
    while let Some(msg) = ws.next().await {
        let Ok(Message::Text(t)) = msg else {
            if msg.is_err() {
                break;
            }
            continue;
        };
        if !stats.measuring.load(Ordering::Relaxed) {
            continue;
        }
        let now = now_us();
        stamps(t.as_str(), |sent| {
            let lat = now.saturating_sub(sent) / BUCKET_US;
            stats.hist[(lat as usize).min(BUCKETS - 1)].fetch_add(1, Ordering::Relaxed);
            stats.delivered.fetch_add(1, Ordering::Relaxed);
        });
    }
    stats.disconnects.fetch_add(1, Ordering::Relaxed);
}

fn percentile(hist: &[u64], total: u64, p: f64) -> f64 {
    let want = ((total as f64) * p).ceil() as u64;
    let mut seen = 0;
    for (i, n) in hist.iter().enumerate() {
        seen += n;
        if seen >= want.max(1) {
            return ((i as u64 + 1) * BUCKET_US) as f64 / 1000.0;
        }
    }
    f64::NAN
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let stats = Arc::new(Stats {
        measuring: AtomicBool::new(false),
        delivered: AtomicU64::new(0),
        hist: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        disconnects: AtomicU64::new(0),
    });
    let sem = Arc::new(Semaphore::new(a.connect_concurrency));
    let t0 = Instant::now();
    let mut joins = Vec::with_capacity(a.clients);
    for _ in 0..a.clients {
        let (url, sem) = (a.url.clone(), sem.clone());
        joins.push(tokio::spawn(async move { connect(&url, &sem).await }));
    }
    let mut clients = Vec::with_capacity(a.clients);
    let mut connect_errors = 0;
    for j in joins {
        match j.await? {
            Ok(ws) => clients.push(ws),
            Err(e) => {
                if connect_errors == 0 {
                    eprintln!("connect error: {e}");
                }
                connect_errors += 1;
            }
        }
    }
    let connect_s = t0.elapsed().as_secs_f64();
    eprintln!(
        "connected {} clients in {connect_s:.1} s ({connect_errors} errors)",
        clients.len()
    );
    if let Some(hold) = a.idle {
        eprintln!("connected");
        let mut held = clients;
        // Keep reading (pings, welcome) so the server sees live clients.
        let tasks: Vec<_> = held
            .drain(..)
            .map(|mut ws| tokio::spawn(async move { while let Some(Ok(_)) = ws.next().await {} }))
            .collect();
        tokio::time::sleep(Duration::from_secs_f64(hold)).await;
        for t in tasks {
            t.abort();
        }
        println!(
            "{}",
            serde_json::json!({"clients": a.clients, "connected": a.clients - connect_errors, "connect_s": connect_s})
        );
        return Ok(());
    }
    for ws in clients {
        tokio::spawn(receive(ws, stats.clone()));
    }
    // Senders: each sends rate/senders per second, and drains what it gets.
    let pad = "x".repeat(a.size);
    let end = Instant::now() + Duration::from_secs_f64(a.warmup + a.duration);
    let mut senders = Vec::new();
    for _ in 0..a.senders {
        let ws = connect(&a.url, &sem).await?;
        let (mut sink, mut stream) = ws.split();
        tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
        let pad = pad.clone();
        let every = Duration::from_secs_f64(a.senders as f64 / a.rate);
        senders.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut sent = 0u64;
            while Instant::now() < end {
                tick.tick().await;
                let frame = format!("{{\"type\":\"chat\",\"body\":\"{} {pad}\"}}", now_us());
                if sink.send(Message::Text(frame.into())).await.is_err() {
                    break;
                }
                sent += 1;
            }
            sent
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(a.warmup)).await;
    stats.measuring.store(true, Ordering::Relaxed);
    let m0 = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(a.duration)).await;
    stats.measuring.store(false, Ordering::Relaxed);
    let window = m0.elapsed().as_secs_f64();
    let mut sent = 0;
    for s in senders {
        sent += s.await?;
    }
    let hist: Vec<u64> = stats
        .hist
        .iter()
        .map(|h| h.load(Ordering::Relaxed))
        .collect();
    let total: u64 = hist.iter().sum();
    let delivered = stats.delivered.load(Ordering::Relaxed);
    println!(
        "{}",
        serde_json::json!({
            "clients": a.clients,
            "connected": a.clients - connect_errors,
            "rate": a.rate,
            "sent": sent,
            "window_s": window,
            "delivered": delivered,
            "deliveries_per_s": delivered as f64 / window,
            "expected_per_s": a.rate * (a.clients - connect_errors) as f64,
            "p50_ms": percentile(&hist, total, 0.50),
            "p99_ms": percentile(&hist, total, 0.99),
            "p999_ms": percentile(&hist, total, 0.999),
            "disconnects": stats.disconnects.load(Ordering::Relaxed),
            "connect_errors": connect_errors,
        })
    );
    std::process::exit(0);
}

#[cfg(test)]
mod tests {
    #[test]
    fn stamps_finds_every_body_in_a_batched_frame() {
        let mut got = Vec::new();
        super::stamps(
            "{\"type\":\"chat\",\"body\":\"12 x\"}\n{\"type\":\"viewers\"}\n{\"type\":\"chat\",\"id\":\"a\",\"body\":\"34 y\"}",
            |t| got.push(t),
        );
        assert_eq!(got, [12, 34]);
    }
}
