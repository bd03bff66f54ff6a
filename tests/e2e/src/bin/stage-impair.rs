//! `stage-impair --upstream ADDR [--listen ADDR] [--profile NAME]`: the
//! e2e impairment proxy as a process, for the benchmarks and the soak.
//! Prints `listening ADDR` once bound; then each line on stdin of the form
//! `profile NAME` switches the profile (its periodic events count from
//! then), and the proxy answers `profile NAME at UNIX_MS`.
use stage_e2e::impair::{Impairment, Profile};
use std::net::SocketAddr;
use tokio::io::{AsyncBufReadExt, BufReader};

fn usage() -> ! {
    eprintln!("usage: stage-impair --upstream ADDR [--listen ADDR] [--profile clean|wifi|4g|bad]");
    std::process::exit(2);
}

fn unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let mut upstream: Option<SocketAddr> = None;
    let mut listen: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let mut profile = Profile::clean();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--upstream" => upstream = Some(v.parse().unwrap_or_else(|_| usage())),
            "--listen" => listen = v.parse().unwrap_or_else(|_| usage()),
            "--profile" => profile = Profile::named(&v).unwrap_or_else(|| usage()),
            _ => usage(),
        }
    }
    let Some(upstream) = upstream else { usage() };
    let imp = match Impairment::start_on(listen, upstream, profile).await {
        Ok(i) => i,
        Err(e) => {
            eprintln!("stage-impair: cannot listen on {listen}: {e}");
            std::process::exit(1);
        }
    };
    println!("listening {}", imp.addr());
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        match line
            .trim()
            .strip_prefix("profile ")
            .and_then(Profile::named)
        {
            Some(p) => {
                let name = p.name.clone();
                imp.set(p);
                println!("profile {name} at {}", unix_ms());
            }
            None => eprintln!("stage-impair: unknown command {line:?}"),
        }
    }
    // stdin closed: keep serving until killed.
    std::future::pending::<()>().await;
}
