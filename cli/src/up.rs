//! `stagectl up`: run the four daemons as supervised child processes on the
//! embedded defaults (SQLite + local directory in the data dir).

use crate::channel::{create, player_url};
use crate::client::{AdminClient, daemons};
use anyhow::Context;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use stage_core::{Config, Db};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// The channel a first run creates.
const DEMO: &str = "demo";
const DAEMONS: [&str; 4] = ["ingestd", "packagerd", "chatd", "billingd"];

#[derive(clap::Args)]
pub struct UpArgs {
    /// Accept publishers and viewers from other machines (public listeners on 0.0.0.0).
    #[arg(long)]
    public: bool,
}

fn any_addr(a: SocketAddr) -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], a.port()))
}

/// Where the daemon binaries are: beside this stagectl.
fn bin_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating stagectl")?;
    Ok(exe.parent().map(Path::to_path_buf).unwrap_or_default())
}

pub async fn run(
    mut cfg: Config,
    _config_path: Option<PathBuf>,
    args: UpArgs,
) -> anyhow::Result<ExitCode> {
    let bins = bin_dir()?;
    for d in DAEMONS {
        if !bins.join(d).exists() {
            anyhow::bail!(
                "{} not found beside stagectl; build the workspace (`cargo build --release`)",
                bins.join(d).display()
            );
        }
    }
    if args.public {
        cfg.ingestd.listen = any_addr(cfg.ingestd.listen);
        cfg.packagerd.listen = any_addr(cfg.packagerd.listen);
        cfg.chatd.listen = any_addr(cfg.chatd.listen);
        cfg.billingd.listen = any_addr(cfg.billingd.listen);
    }
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data dir {}", cfg.data_dir.display()))?;
    cfg.data_dir = std::fs::canonicalize(&cfg.data_dir)?;
    let run_dir = cfg.data_dir.join("run");
    let log_dir = cfg.data_dir.join("logs");
    std::fs::create_dir_all(&run_dir)?;
    std::fs::create_dir_all(&log_dir)?;

    let db = Db::open(&cfg).await.context("opening the database")?;
    let demo_key = match db.channel(DEMO).await? {
        Some(_) => None,
        None => Some(create(&db, DEMO, false).await?.1),
    };
    db.close().await;
    // Children get exactly this config (with --public and the data dir applied).
    let effective = run_dir.join("stage.toml");
    std::fs::write(&effective, cfg.to_string()).context("writing the effective config")?;
    stage_core::admin::load_or_create_token(&cfg.data_dir)?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    for name in DAEMONS {
        let sup = Supervisor {
            name,
            bin: bins.join(name),
            config: effective.clone(),
            log: log_dir.join(format!("{name}.log")),
        };
        tasks.push(tokio::spawn(sup.run(stop_rx.clone())));
    }

    let client = AdminClient::new(&cfg)?;
    let ready = wait_healthy(&client, &cfg, Duration::from_secs(30)).await;
    print_banner(&cfg, demo_key.as_deref(), &log_dir, ready.as_ref().err());

    stage_core::telemetry::shutdown_signal().await;
    eprintln!("stagectl: stopping daemons…");
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    eprintln!("stagectl: stopped.");
    Ok(ExitCode::SUCCESS)
}

async fn wait_healthy(client: &AdminClient, cfg: &Config, limit: Duration) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let mut down = Vec::new();
        for (name, addr) in daemons(cfg) {
            if !client.healthy(addr).await {
                down.push(name);
            }
        }
        if down.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(down.join(", "));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn print_banner(cfg: &Config, demo_key: Option<&str>, logs: &Path, problem: Option<&String>) {
    let key_line = match demo_key {
        Some(k) => format!(
            "{k}\n                   (shown only this once; `stagectl key rotate {DEMO}` makes a new one)"
        ),
        None => format!("(set on first run; run `stagectl key rotate {DEMO}` for a new one)"),
    };
    println!(
        "StreamStage is running.\n\n\
         OBS → Settings → Stream\n\
         \x20 Service          Custom…\n\
         \x20 Server           {rtmp}\n\
         \x20 Stream Key       {key_line}\n\
         OBS → Settings → Output (Output Mode: Advanced)\n\
         \x20 Encoder          x264 · Rate Control CBR · Keyframe Interval 2 s · Tune zerolatency\n\
         \x20 Audio            AAC · Settings → Audio → Sample Rate 48 kHz\n\n\
         Watch              {player}\n\
         Chat               beside the video (viewers register there); moderate with `stagectl chat --help`,\n\
         \x20                   make a moderator with `stagectl user role NAME moderator --channel {DEMO}`\n\
         Test without OBS   ffmpeg -re -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine=sample_rate=48000 \\\n\
         \x20                   -c:v libx264 -preset veryfast -pix_fmt yuv420p -g 60 -c:a aac -f flv {rtmp}/STREAM_KEY\n\
         Logs               {logs}/\n\
         Dashboard          stagectl dash     (or `stagectl status`; Ctrl-C here stops everything)",
        rtmp = cfg.rtmp_url(),
        player = player_url(cfg, DEMO),
        logs = logs.display(),
    );
    if cfg.ingestd.listen.ip().is_unspecified()
        && (cfg.public_host == "127.0.0.1" || cfg.public_host == "localhost")
    {
        println!(
            "\nNote: listening on all interfaces (--public), but `public_host` is {}; set it in the config \
             to this machine's name or address so the URLs above work from other machines.",
            cfg.public_host
        );
    }
    if let Some(down) = problem {
        eprintln!("\nstagectl: warning: not answering yet: {down}; see the logs above.");
    }
}

struct Supervisor {
    name: &'static str,
    bin: PathBuf,
    config: PathBuf,
    log: PathBuf,
}

impl Supervisor {
    fn spawn(&self) -> anyhow::Result<Child> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let err = log.try_clone()?;
        Ok(Command::new(&self.bin)
            .arg("--config")
            .arg(&self.config)
            .env_remove("STAGE_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .kill_on_drop(true)
            .spawn()?)
    }

    /// Keeps the daemon running until `stop`, restarting it when it exits.
    async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(200);
        loop {
            let mut child = match self.spawn() {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("stagectl: cannot start {}: {e}", self.name);
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(2)) => continue,
                        _ = stage_core::telemetry::stopped(&mut stop) => return,
                    }
                }
            };
            let started = tokio::time::Instant::now();
            tokio::select! {
                status = child.wait() => {
                    let how = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                    // A daemon that ran a while is restarted at once; one
                    // that dies on start is backed off.
                    if started.elapsed() > Duration::from_secs(3) {
                        backoff = Duration::from_millis(200);
                    }
                    eprintln!("stagectl: {} exited ({how}); restarting in {:?} (log: {})", self.name, backoff, self.log.display());
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stage_core::telemetry::stopped(&mut stop) => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                _ = stage_core::telemetry::stopped(&mut stop) => {
                    if let Some(pid) = child.id() {
                        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
                    }
                    if tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_err() {
                        eprintln!("stagectl: {} did not stop in 10 s; killing it", self.name);
                        let _ = child.kill().await;
                    }
                    return;
                }
            }
        }
    }
}
