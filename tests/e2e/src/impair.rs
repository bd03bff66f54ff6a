//! A network that misbehaves on demand: a TCP proxy between a player and
//! packagerd that adds latency, jitter, freezes (every connection stops
//! moving, as Wi-Fi does while it retransmits) and a bandwidth cap with
//! dips, on a schedule. Kernel netem is not available on these machines,
//! so the impairment lives in user space; the page under test talks to
//! `Impairment::url` instead of packagerd.
//!
//! The model, per TCP connection and direction:
//! - **downlink** (server → browser): every chunk read from the server
//!   queues on one shared link whose rate is the profile's cap at that
//!   moment (a bottleneck all connections share, first come first served),
//!   then waits the one-way delay plus a jitter drawn uniformly from
//!   ±`jitter` (never below zero). Chunks of one connection never overtake
//!   each other, as TCP would deliver them.
//! - **uplink** (browser → server): the one-way delay, no jitter, no cap.
//! - **freezes**: nothing moves in either direction while one lasts; what
//!   queued meanwhile is delivered when it ends.
//!
//! A profile's periodic events (freezes, dips) count from the moment the
//! profile was set, so a test knows when they fall.

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Largest chunk moved at once: small enough that a capped link
/// interleaves connections and paces a part over many chunks.
const CHUNK: usize = 16 * 1024;
/// Chunks queued per connection and direction between reader and writer:
/// the bottleneck's queue is bounded, so a slow link pushes back on the
/// server's socket as a real one does.
const QUEUE: usize = 4;

/// Something that happens every `every` for `length`, first `every` after
/// the profile is set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Periodic {
    pub every: Duration,
    pub length: Duration,
}

impl Periodic {
    /// When `at` (time since the profile was set) falls in an occurrence,
    /// how long that occurrence still lasts.
    fn remaining(&self, at: Duration) -> Option<Duration> {
        if self.every.is_zero() || at < self.every {
            return None;
        }
        let into = Duration::from_nanos((at.as_nanos() % self.every.as_nanos()) as u64);
        (into < self.length).then(|| self.length - into)
    }
}

/// A named network condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    /// Added one-way delay, both directions.
    pub delay: Duration,
    /// The downlink's delay varies uniformly by this much either way.
    pub jitter: Duration,
    /// Downlink cap in bits per second; `None`: as fast as loopback.
    pub rate_bps: Option<u64>,
    /// The cap drops to `.0` bits per second during each `.1`.
    pub dip: Option<(u64, Periodic)>,
    /// Nothing moves during each occurrence.
    pub freeze: Option<Periodic>,
}

impl Profile {
    /// No impairment.
    pub fn clean() -> Profile {
        Profile {
            name: "clean".into(),
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            rate_bps: None,
            dip: None,
            freeze: None,
        }
    }

    /// Home Wi-Fi: +30 ms, ±40 ms jitter, a 300 ms freeze every 20 s.
    pub fn wifi() -> Profile {
        Profile {
            name: "wifi".into(),
            delay: Duration::from_millis(30),
            jitter: Duration::from_millis(40),
            freeze: Some(Periodic {
                every: Duration::from_secs(20),
                length: Duration::from_millis(300),
            }),
            ..Profile::clean()
        }
    }

    /// A 4G phone: +60 ms, ±80 ms, 6 Mbit/s with a dip to 1.5 Mbit/s for
    /// 5 s every 30 s.
    pub fn lte() -> Profile {
        Profile {
            name: "4g".into(),
            delay: Duration::from_millis(60),
            jitter: Duration::from_millis(80),
            rate_bps: Some(6_000_000),
            dip: Some((
                1_500_000,
                Periodic {
                    every: Duration::from_secs(30),
                    length: Duration::from_secs(5),
                },
            )),
            ..Profile::clean()
        }
    }

    /// A bad link: +150 ms, ±150 ms, 2 Mbit/s, a 1 s freeze every 30 s.
    pub fn bad() -> Profile {
        Profile {
            name: "bad".into(),
            delay: Duration::from_millis(150),
            jitter: Duration::from_millis(150),
            rate_bps: Some(2_000_000),
            freeze: Some(Periodic {
                every: Duration::from_secs(30),
                length: Duration::from_secs(1),
            }),
            ..Profile::clean()
        }
    }

    /// A profile by name: `clean`, `wifi`, `4g`, `bad`.
    pub fn named(name: &str) -> Option<Profile> {
        match name {
            "clean" => Some(Profile::clean()),
            "wifi" => Some(Profile::wifi()),
            "4g" => Some(Profile::lte()),
            "bad" => Some(Profile::bad()),
            _ => None,
        }
    }

    /// A cap of `bps` (and nothing else), as the ABR test uses.
    pub fn capped(bps: u64) -> Profile {
        Profile {
            name: format!("cap {bps} bit/s"),
            rate_bps: Some(bps),
            ..Profile::clean()
        }
    }

    fn rate_at(&self, at: Duration) -> Option<u64> {
        match self.dip {
            Some((low, p)) if p.remaining(at).is_some() => Some(low),
            _ => self.rate_bps,
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// The link every connection of one proxy shares.
struct Link {
    profile: Profile,
    since: Instant,
    /// When the bottleneck is free to send the next chunk.
    free_at: Instant,
    rng: StdRng,
    bytes_down: u64,
    connections: u64,
}

impl Link {
    /// When a downlink chunk of `len` bytes read at `now` reaches the
    /// browser (before freezes and the connection's ordering).
    fn down(&mut self, now: Instant, len: usize) -> Instant {
        self.bytes_down += len as u64;
        let start = self.free_at.max(now);
        if let Some(bps) = self.profile.rate_at(start - self.since) {
            let secs = (len as f64 * 8.0) / bps.max(1) as f64;
            self.free_at = start + Duration::from_secs_f64(secs);
        } else {
            self.free_at = start;
        }
        let j = self.profile.jitter.as_secs_f64();
        let wobble = if j > 0.0 {
            self.rng.random_range(-j..=j)
        } else {
            0.0
        };
        let delay = (self.profile.delay.as_secs_f64() + wobble).max(0.0);
        self.free_at + Duration::from_secs_f64(delay)
    }

    /// When an uplink chunk read at `now` reaches the server.
    fn up(&self, now: Instant) -> Instant {
        now + self.profile.delay
    }

    /// If a freeze holds at `t`, when it ends.
    fn frozen_until(&self, t: Instant) -> Option<Instant> {
        let at = t.checked_duration_since(self.since)?;
        let left = self.profile.freeze?.remaining(at)?;
        Some(t + left)
    }
}

type Shared = Arc<Mutex<Link>>;

/// A running impairment proxy in front of one upstream address.
pub struct Impairment {
    addr: SocketAddr,
    link: Shared,
    task: JoinHandle<()>,
}

impl Drop for Impairment {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Impairment {
    /// Listens on `127.0.0.1:0` and forwards every connection to
    /// `upstream` under `profile`.
    pub async fn start(upstream: SocketAddr, profile: Profile) -> std::io::Result<Impairment> {
        Self::start_on("127.0.0.1:0".parse().expect("addr"), upstream, profile).await
    }

    /// As `start`, on a given listening address.
    pub async fn start_on(
        listen: SocketAddr,
        upstream: SocketAddr,
        profile: Profile,
    ) -> std::io::Result<Impairment> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let now = Instant::now();
        let link = Arc::new(Mutex::new(Link {
            profile,
            since: now,
            free_at: now,
            rng: StdRng::seed_from_u64(0x5747_4745),
            bytes_down: 0,
            connections: 0,
        }));
        let shared = link.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let link = shared.clone();
                link.lock().expect("link").connections += 1;
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        proxy(client, server, link).await;
                    }
                });
            }
        });
        Ok(Impairment { addr, link, task })
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Switches to `profile` now; its periodic events count from now.
    pub fn set(&self, profile: Profile) {
        let mut l = self.link.lock().expect("link");
        l.profile = profile;
        l.since = Instant::now();
    }

    /// The profile in force.
    pub fn profile(&self) -> Profile {
        self.link.lock().expect("link").profile.clone()
    }

    /// Bytes sent towards the browser so far, and connections accepted.
    pub fn counters(&self) -> (u64, u64) {
        let l = self.link.lock().expect("link");
        (l.bytes_down, l.connections)
    }
}

#[derive(Clone, Copy)]
enum Dir {
    Up,
    Down,
}

async fn proxy(client: TcpStream, server: TcpStream, link: Shared) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let up = pump(cr, sw, link.clone(), Dir::Up);
    let down = pump(sr, cw, link, Dir::Down);
    // When either direction fails the connection is over; a clean EOF in
    // one direction is passed on as a half close and the other goes on.
    let _ = tokio::try_join!(up, down);
}

/// Moves bytes from `r` to `w` through the link: a reader stamps each chunk
/// with its delivery time, a writer delivers it then.
async fn pump<R, W>(mut r: R, mut w: W, link: Shared, dir: Dir) -> std::io::Result<()>
where
    R: AsyncReadExt + Unpin + Send + 'static,
    W: AsyncWriteExt + Unpin + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(QUEUE);
    let writer_link = link.clone();
    let writer = async move {
        let mut last = Instant::now();
        while let Some((due, chunk)) = rx.recv().await {
            // In order: a chunk never arrives before the one ahead of it.
            let mut due = due.max(last);
            loop {
                tokio::time::sleep_until(due).await;
                let thaw = writer_link
                    .lock()
                    .expect("link")
                    .frozen_until(Instant::now());
                match thaw {
                    Some(t) => due = t,
                    None => break,
                }
            }
            last = due;
            w.write_all(&chunk).await?;
        }
        w.shutdown().await
    };
    let reader = async move {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = r.read(&mut buf).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(());
            }
            let now = Instant::now();
            let due = {
                let mut l = link.lock().expect("link");
                match dir {
                    Dir::Down => l.down(now, n),
                    Dir::Up => l.up(now),
                }
            };
            if tx.send((due, buf[..n].to_vec())).await.is_err() {
                return Ok(());
            }
        }
    };
    let (a, b) = tokio::join!(reader, writer);
    a.and(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periodic_events_fall_where_the_profile_says() {
        let p = Periodic {
            every: Duration::from_secs(20),
            length: Duration::from_millis(300),
        };
        assert_eq!(p.remaining(Duration::from_secs(5)), None);
        assert_eq!(p.remaining(Duration::from_millis(19_999)), None);
        assert_eq!(
            p.remaining(Duration::from_millis(20_100)),
            Some(Duration::from_millis(200))
        );
        assert_eq!(p.remaining(Duration::from_millis(20_300)), None);
        assert_eq!(
            p.remaining(Duration::from_millis(40_000)),
            Some(Duration::from_millis(300))
        );
    }

    #[test]
    fn the_4g_profile_dips_for_five_seconds_every_thirty() {
        let p = Profile::lte();
        assert_eq!(p.rate_at(Duration::from_secs(10)), Some(6_000_000));
        assert_eq!(p.rate_at(Duration::from_secs(31)), Some(1_500_000));
        assert_eq!(p.rate_at(Duration::from_secs(36)), Some(6_000_000));
        for n in ["clean", "wifi", "4g", "bad"] {
            assert_eq!(Profile::named(n).unwrap().name, n);
        }
        assert!(Profile::named("dialup").is_none());
    }
}
