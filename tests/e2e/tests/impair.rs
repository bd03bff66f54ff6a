//! The impairment proxy does what its profiles say: delay, a rate cap
//! shared by connections, freezes, and bytes arriving whole and in order.

use stage_e2e::impair::{Impairment, Periodic, Profile};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A server that answers each connection's first byte with `len` bytes
/// counting 0, 1, 2, … (mod 251) and closes.
async fn source(len: usize) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut one = [0u8; 1];
                if s.read_exact(&mut one).await.is_err() {
                    return;
                }
                let body: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
                let _ = s.write_all(&body).await;
                let _ = s.shutdown().await;
            });
        }
    });
    addr
}

/// Asks through `addr` and returns (time to the first byte, time to the
/// end, the bytes).
async fn fetch(addr: SocketAddr) -> (Duration, Duration, Vec<u8>) {
    let t0 = Instant::now();
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"?").await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let mut first = None;
    loop {
        let n = s.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        first.get_or_insert_with(|| t0.elapsed());
        out.extend_from_slice(&buf[..n]);
    }
    (first.unwrap_or_default(), t0.elapsed(), out)
}

fn counting(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[tokio::test]
async fn delay_and_jitter_hold_bytes_back_but_deliver_them_whole_and_in_order() {
    let up = source(400_000).await;
    let p = Profile {
        delay: Duration::from_millis(100),
        jitter: Duration::from_millis(50),
        ..Profile::clean()
    };
    let imp = Impairment::start(up, p).await.unwrap();
    let (first, _, body) = fetch(imp.addr()).await;
    assert_eq!(body, counting(400_000), "bytes changed or reordered");
    // Up 100 ms, down at least 50 ms.
    assert!(
        first >= Duration::from_millis(150),
        "first byte after {first:?}"
    );
    assert!(
        first < Duration::from_millis(1500),
        "first byte after {first:?}"
    );
}

#[tokio::test]
async fn a_rate_cap_paces_the_download_and_is_shared_by_connections() {
    let up = source(250_000).await;
    let imp = Impairment::start(up, Profile::capped(2_000_000))
        .await
        .unwrap();
    // 250 kB at 2 Mbit/s: 1.0 s alone.
    let (_, alone, body) = fetch(imp.addr()).await;
    assert_eq!(body.len(), 250_000);
    assert!(alone >= Duration::from_millis(900), "{alone:?}");
    assert!(alone < Duration::from_millis(2500), "{alone:?}");
    // Two at once share the link: 2.0 s for both.
    let t0 = Instant::now();
    let (a, b) = tokio::join!(fetch(imp.addr()), fetch(imp.addr()));
    assert_eq!((a.2.len(), b.2.len()), (250_000, 250_000));
    let both = t0.elapsed();
    assert!(both >= Duration::from_millis(1800), "{both:?}");
    assert!(both < Duration::from_millis(4000), "{both:?}");
    // Lifted: as fast as loopback.
    imp.set(Profile::clean());
    let (_, fast, _) = fetch(imp.addr()).await;
    assert!(fast < Duration::from_millis(300), "{fast:?}");
}

#[tokio::test]
async fn nothing_moves_during_a_freeze() {
    let up = source(10_000).await;
    let p = Profile {
        freeze: Some(Periodic {
            every: Duration::from_millis(1000),
            length: Duration::from_millis(600),
        }),
        ..Profile::clean()
    };
    let imp = Impairment::start(up, p).await.unwrap();
    // 1.1 s in, the freeze that began at 1.0 s lasts until 1.6 s.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (first, _, body) = fetch(imp.addr()).await;
    assert_eq!(body, counting(10_000));
    assert!(
        first >= Duration::from_millis(400),
        "first byte after {first:?}"
    );
    assert!(
        first < Duration::from_millis(2000),
        "first byte after {first:?}"
    );
}
