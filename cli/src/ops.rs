//! Operations: `config check`, `doctor`, `logs`, `completions`, `man`.

use crate::client::{AdminClient, daemons};
use crate::output::{Output, table};
use clap::Subcommand;
use stage_core::{Config, Db};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ConfigCmd {
    /// Validate a config file: every key, type and value, with the file,
    /// line and key of the first problem. Exit 0 valid, 2 not.
    Check {
        /// The file (default: --config / STAGE_CONFIG).
        file: Option<PathBuf>,
    },
}

pub fn config(common: Option<&Path>, out: &Output, cmd: ConfigCmd) -> ExitCode {
    let ConfigCmd::Check { file } = cmd;
    let Some(path) = file.as_deref().or(common) else {
        eprintln!("stagectl: name a file (`stagectl config check FILE`) or pass --config");
        return ExitCode::from(2);
    };
    match Config::load(Some(path)) {
        Ok(cfg) => {
            out.emit(
                &serde_json::json!({"file": path.display().to_string(), "valid": true}),
                || {
                    format!(
                        "{}: valid (data dir {}, database {})\n",
                        path.display(),
                        cfg.data_dir.display(),
                        if cfg.database.url.is_empty() {
                            "SQLite"
                        } else {
                            "PostgreSQL"
                        }
                    )
                },
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            if out.json {
                let (line, key) = match &e {
                    stage_core::config::ConfigError::At { line, key, .. } => {
                        (Some(*line), Some(key.clone()))
                    }
                    stage_core::config::ConfigError::Invalid { key, .. } => {
                        (None, Some(key.clone()))
                    }
                    _ => (None, None),
                };
                println!(
                    "{}",
                    serde_json::json!({"file": path.display().to_string(), "valid": false,
                        "line": line, "key": key, "error": e.to_string()})
                );
            } else {
                eprintln!("{e}");
            }
            ExitCode::from(2)
        }
    }
}

/// One doctor finding.
struct Check {
    name: String,
    level: Level,
    detail: String,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Ok,
    Warn,
    Fail,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        }
    }
}

fn check(name: impl Into<String>, level: Level, detail: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        level,
        detail: detail.into(),
    }
}

/// Free space under which the data dir is a warning, and a failure.
const DISK_WARN: u64 = 5 << 30;
const DISK_FAIL: u64 = 1 << 30;

pub async fn doctor(cfg: &Config, config: Option<&Path>, out: &Output) -> anyhow::Result<ExitCode> {
    let mut checks = vec![check(
        "config",
        Level::Ok,
        config.map_or("built-in defaults".into(), |p| {
            format!("{} is valid", p.display())
        }),
    )];
    ports(cfg, &mut checks).await;
    checks.extend(ffmpeg());
    checks.push(database(cfg).await);
    checks.push(disk(&cfg.data_dir));
    checks.push(clock(cfg).await);
    let worst = checks.iter().map(|c| c.level).max().unwrap_or(Level::Ok);
    let json: Vec<_> = checks
        .iter()
        .map(|c| serde_json::json!({"check": c.name, "status": c.level.as_str(), "detail": c.detail}))
        .collect();
    out.emit(&json, || {
        let rows = checks
            .iter()
            .map(|c| vec![c.name.clone(), c.level.as_str().into(), c.detail.clone()])
            .collect();
        let mut s = table(&["CHECK", "STATUS", "DETAIL"], rows);
        s.push_str(match worst {
            Level::Ok => "\nAll checks passed.\n",
            Level::Warn => "\nUsable, with warnings.\n",
            Level::Fail => "\nSome checks failed.\n",
        });
        s
    });
    Ok(if worst == Level::Fail {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Each listener: ours and running, free, or taken by something else.
async fn ports(cfg: &Config, checks: &mut Vec<Check>) {
    let client = AdminClient::anonymous().ok();
    let public = [
        cfg.ingestd.listen,
        cfg.packagerd.listen,
        cfg.chatd.listen,
        cfg.billingd.listen,
    ];
    for ((name, admin), public) in daemons(cfg).into_iter().zip(public) {
        let running = match &client {
            Some(c) => c.healthy(admin).await,
            None => false,
        };
        for (what, addr) in [("listen", public), ("admin_listen", admin)] {
            let key = format!("{name}.{what}");
            let c = if running {
                check(
                    format!("port {key}"),
                    Level::Ok,
                    format!("{addr}: {name} is running"),
                )
            } else {
                match bindable(addr).await {
                    Ok(()) => check(format!("port {key}"), Level::Ok, format!("{addr}: free")),
                    Err(e) => check(
                        format!("port {key}"),
                        Level::Fail,
                        format!("{addr}: {e}; {name} cannot start (change `{key}`)"),
                    ),
                }
            };
            checks.push(c);
        }
    }
}

async fn bindable(addr: SocketAddr) -> std::io::Result<()> {
    // A running daemon holds its port, so a bind that fails with "in use"
    // while its admin listener does not answer means someone else has it.
    if addr.port() == 0 {
        return Ok(());
    }
    let l = tokio::net::TcpListener::bind(addr).await?;
    drop(l);
    Ok(())
}

fn ffmpeg() -> Vec<Check> {
    let mut out = Vec::new();
    if let Err(e) = ffmpeg_next::init() {
        out.push(check(
            "ffmpeg libraries",
            Level::Fail,
            format!("cannot initialise FFmpeg: {e}"),
        ));
        return out;
    }
    let v = ffmpeg_next::codec::version();
    out.push(check(
        "ffmpeg libraries",
        Level::Ok,
        format!("libavcodec {}.{}.{}", v >> 16, (v >> 8) & 0xff, v & 0xff),
    ));
    for (name, found, why) in [
        (
            "libx264",
            ffmpeg_next::encoder::find_by_name("libx264").is_some(),
            "the ABR ladder's encoder",
        ),
        (
            "aac",
            ffmpeg_next::encoder::find_by_name("aac").is_some(),
            "audio for the ABR ladder",
        ),
        (
            "h264 decoder",
            ffmpeg_next::decoder::find(ffmpeg_next::codec::Id::H264).is_some(),
            "decodes the source for the ladder and thumbnails",
        ),
    ] {
        out.push(if found {
            check(format!("codec {name}"), Level::Ok, why)
        } else {
            check(
                format!("codec {name}"),
                Level::Warn,
                format!("missing ({why}); channels serve the source only"),
            )
        });
    }
    out
}

async fn database(cfg: &Config) -> Check {
    let url = cfg.database_url();
    let (what, url) = if cfg.database.url.is_empty() {
        let file = cfg.data_dir.join("stage.db");
        if !file.exists() {
            return check(
                "database",
                Level::Ok,
                format!(
                    "SQLite {} does not exist yet (created and migrated on first start)",
                    file.display()
                ),
            );
        }
        (
            format!("SQLite {}", file.display()),
            format!("sqlite://{}?mode=rw", file.display()),
        )
    } else {
        ("PostgreSQL".to_string(), url)
    };
    let db = match tokio::time::timeout(
        std::time::Duration::from_secs(5),
        Db::connect(&url, 1, std::time::Duration::from_secs(2)),
    )
    .await
    {
        Ok(Ok(db)) => db,
        Ok(Err(e)) => return check("database", Level::Fail, format!("{what}: {e}")),
        Err(_) => return check("database", Level::Fail, format!("{what}: no answer in 5 s")),
    };
    let res = db.migration_status().await;
    db.close().await;
    match res {
        Ok((applied, known)) if applied == known => check(
            "database",
            Level::Ok,
            format!("{what}: reachable, {applied}/{known} migrations applied"),
        ),
        Ok((applied, known)) if applied < known => check(
            "database",
            Level::Warn,
            format!(
                "{what}: {applied}/{known} migrations applied; the daemons apply the rest when they start"
            ),
        ),
        Ok((applied, known)) => check(
            "database",
            Level::Fail,
            format!(
                "{what}: {applied} migrations applied but this stagectl knows {known}: upgrade the binaries"
            ),
        ),
        Err(e) => check("database", Level::Fail, format!("{what}: {e}")),
    }
}

fn disk(dir: &Path) -> Check {
    // The data dir may not exist yet: measure the nearest existing parent.
    let mut at = dir.to_path_buf();
    while !at.exists() {
        match at.parent() {
            Some(p) => at = p.to_path_buf(),
            None => break,
        }
    }
    match nix::sys::statvfs::statvfs(&at) {
        Ok(s) => {
            let free = s.blocks_available() * s.fragment_size();
            let gib = free as f64 / (1u64 << 30) as f64;
            let level = if free < DISK_FAIL {
                Level::Fail
            } else if free < DISK_WARN {
                Level::Warn
            } else {
                Level::Ok
            };
            check(
                "disk space",
                level,
                format!("{gib:.1} GiB free at {}", at.display()),
            )
        }
        Err(e) => check("disk space", Level::Warn, format!("{}: {e}", at.display())),
    }
}

/// The clock: synchronised (when systemd can tell), and agreeing with
/// PostgreSQL's when that is the database (tokens and memberships expire
/// by it).
async fn clock(cfg: &Config) -> Check {
    let now = stage_core::time::now_ms();
    let synced = std::process::Command::new("timedatectl")
        .args(["show", "-p", "NTPSynchronized", "--value"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "yes");
    if !cfg.database.url.is_empty()
        && let Ok(db) = Db::connect(&cfg.database.url, 1, std::time::Duration::from_secs(2)).await
    {
        let theirs = db.server_clock_ms().await;
        db.close().await;
        if let Ok(Some(theirs)) = theirs {
            let skew = (stage_core::time::now_ms() + now) / 2 - theirs;
            let level = if skew.abs() > 5_000 {
                Level::Warn
            } else {
                Level::Ok
            };
            return check(
                "clock",
                level,
                format!(
                    "{skew:+} ms from PostgreSQL's clock; NTP {}",
                    sync_text(synced)
                ),
            );
        }
    }
    match synced {
        Some(false) => check(
            "clock",
            Level::Warn,
            "not synchronised (enable systemd-timesyncd or chrony)",
        ),
        s => check(
            "clock",
            Level::Ok,
            format!(
                "{} UTC; NTP {}",
                stage_core::time::rfc3339_ms(now).get(..19).unwrap_or(""),
                sync_text(s)
            ),
        ),
    }
}

fn sync_text(s: Option<bool>) -> &'static str {
    match s {
        Some(true) => "synchronised",
        Some(false) => "not synchronised",
        None => "status unknown (no timedatectl)",
    }
}

#[derive(clap::Args)]
pub struct LogsArgs {
    /// ingestd, packagerd, chatd or billingd (default: all).
    daemon: Option<String>,
    /// Keep printing new lines.
    #[arg(short, long)]
    follow: bool,
    /// Lines to show from the end.
    #[arg(short = 'n', long, default_value_t = 100)]
    lines: usize,
}

const NAMES: [&str; 4] = ["ingestd", "packagerd", "chatd", "billingd"];

/// systemd's unit for a daemon.
fn unit(d: &str) -> String {
    format!("streamstage-{d}.service")
}

/// Whether the daemons run under systemd here (any unit known and loaded).
fn under_systemd(names: &[&str]) -> bool {
    names.iter().any(|d| {
        std::process::Command::new("systemctl")
            .args(["show", "-p", "LoadState", "--value"])
            .arg(unit(d))
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "loaded")
    })
}

pub fn logs(cfg: &Config, args: LogsArgs) -> anyhow::Result<ExitCode> {
    let names: Vec<&str> = match &args.daemon {
        Some(d) => match NAMES.iter().find(|n| **n == d.as_str()) {
            Some(n) => vec![*n],
            None => {
                eprintln!("stagectl: no daemon `{d}` (one of: {})", NAMES.join(", "));
                return Ok(ExitCode::from(2));
            }
        },
        None => NAMES.to_vec(),
    };
    let mut cmd = if under_systemd(&names) {
        let mut c = std::process::Command::new("journalctl");
        c.arg("--no-pager").arg("-n").arg(args.lines.to_string());
        for d in &names {
            c.arg("-u").arg(unit(d));
        }
        if args.follow {
            c.arg("-f");
        }
        c
    } else {
        // `stagectl up` writes each daemon's output to the data dir.
        let dir = cfg.data_dir.join("logs");
        let files: Vec<PathBuf> = names
            .iter()
            .map(|d| dir.join(format!("{d}.log")))
            .filter(|f| f.exists())
            .collect();
        if files.is_empty() {
            eprintln!(
                "stagectl: no logs in {} and no StreamStage units under systemd; is StreamStage running here?",
                dir.display()
            );
            return Ok(ExitCode::from(3));
        }
        let mut c = std::process::Command::new("tail");
        c.arg("-n").arg(args.lines.to_string());
        if args.follow {
            c.arg("-F");
        }
        c.args(&files);
        c
    };
    let status = cmd
        .status()
        .map_err(|e| anyhow::anyhow!("cannot run {:?}: {e}", cmd.get_program()))?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Writes `stagectl.1` and one page per subcommand (`stagectl-channel.1`, …).
pub fn man(cmd: clap::Command, dir: &Path) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(dir)?;
    let mut written = 0;
    fn write(cmd: &clap::Command, name: String, dir: &Path, n: &mut usize) -> anyhow::Result<()> {
        let cmd = cmd.clone().name(name.clone());
        let mut buf = Vec::new();
        clap_mangen::Man::new(cmd.clone()).render(&mut buf)?;
        std::fs::write(dir.join(format!("{name}.1")), buf)?;
        *n += 1;
        for sub in cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        {
            write(sub, format!("{name}-{}", sub.get_name()), dir, n)?;
        }
        Ok(())
    }
    let mut cmd = cmd;
    cmd.build();
    write(&cmd, "stagectl".into(), dir, &mut written)?;
    println!("wrote {written} man pages to {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

/// Prints the shell completion script for `shell`.
pub fn completions(mut cmd: clap::Command, shell: clap_complete::Shell) -> ExitCode {
    clap_complete::generate(shell, &mut cmd, "stagectl", &mut std::io::stdout());
    ExitCode::SUCCESS
}
