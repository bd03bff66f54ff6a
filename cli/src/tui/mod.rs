//! `stagectl dash`: the operator's live dashboard.
//!
//! `model` turns the daemons' /status into rows, `app` holds the state and
//! maps keys to commands, `ui` draws; this module runs them: it polls the
//! daemons every second, reads keys on a thread, carries out commands
//! through the same client and database code as the CLI, and redraws only
//! when something changed or a second passed.

pub mod app;
pub mod model;
pub mod ui;

use crate::client::AdminClient;
use app::{Action, App, ChannelRow, ChatLine, Command, VodRow};
use model::{Fleet, Statuses};
use stage_core::{Config, Db};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(clap::Args)]
pub struct DashArgs {
    /// How often to ask the daemons for their status.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    interval: Duration,
}

/// How long one daemon may take to answer /status before it counts as down.
const STATUS_TIMEOUT: Duration = Duration::from_millis(800);

/// Every daemon's /status, asked at once.
pub async fn poll(cfg: &Config, client: &AdminClient) -> Statuses {
    let (ingestd, packagerd, chatd, billingd) = tokio::join!(
        ask(client, cfg.ingestd.admin_listen),
        ask(client, cfg.packagerd.admin_listen),
        ask(client, cfg.chatd.admin_listen),
        ask(client, cfg.billingd.admin_listen),
    );
    Statuses {
        ingestd,
        packagerd,
        chatd,
        billingd,
    }
}

/// One daemon's /status, read as its contract type.
async fn ask<T: serde::de::DeserializeOwned>(
    client: &AdminClient,
    addr: std::net::SocketAddr,
) -> Result<T, String> {
    let v = tokio::time::timeout(STATUS_TIMEOUT, client.get(addr, "/status"))
        .await
        .map_err(|_| format!("no answer in {} ms", STATUS_TIMEOUT.as_millis()))?
        .map_err(|e| short_error(&e))?;
    serde_json::from_value(v).map_err(|e| format!("unreadable /status: {e}"))
}

/// The root cause of a failed request, without the URL.
fn short_error(e: &anyhow::Error) -> String {
    let root = e.root_cause().to_string();
    if root.contains("Connection refused") || root.contains("connection refused") {
        "not running (connection refused)".into()
    } else {
        root
    }
}

pub async fn run(cfg: &Config, args: DashArgs) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        anyhow::bail!("stagectl dash needs a terminal; use `stagectl status --json` in scripts");
    }
    let client = Arc::new(AdminClient::new(cfg)?);
    let db = Db::open(cfg).await?;
    let (tx, mut rx) = mpsc::channel::<Action>(64);

    // Keys: crossterm's blocking reader on its own thread.
    let keys = tx.clone();
    std::thread::spawn(move || {
        use ratatui::crossterm::event::{self, Event, KeyEventKind};
        while let Ok(ev) = event::read() {
            let a = match ev {
                Event::Key(k) if k.kind != KeyEventKind::Release => Action::Key(k),
                Event::Resize(..) => Action::Tick,
                _ => continue,
            };
            if keys.blocking_send(a).is_err() {
                return;
            }
        }
    });
    // Status: every `interval`, all daemons at once.
    let (c2, cfg2, poller) = (client.clone(), cfg.clone(), tx.clone());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(args.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let f = Fleet::from_status(&poll(&cfg2, &c2).await);
            if poller.send(Action::Fleet(f)).await.is_err() {
                return;
            }
        }
    });

    // ratatui::init restores the terminal on panic too.
    let mut term = ratatui::init();
    let mut app = App::new();
    let mut dirty = true;
    let res: anyhow::Result<()> = async {
        loop {
            if dirty {
                term.draw(|f| ui::draw(f, &app))?;
                dirty = false;
            }
            let Some(action) = rx.recv().await else {
                break;
            };
            let before = app.status.clone();
            let is_key = matches!(action, Action::Key(_));
            let cmds = app.update(action, stage_core::time::now_ms());
            // A key clears the last outcome from the status line.
            if is_key && app.status == before {
                app.status = None;
            }
            dirty = true;
            for c in cmds {
                if c == Command::Quit {
                    return Ok(());
                }
                if let Command::Copy(text) = &c {
                    copy(text);
                    app.status = Some(Ok("copied (OSC 52)".into()));
                    continue;
                }
                let (cfg, client, db, tx) = (cfg.clone(), client.clone(), db.clone(), tx.clone());
                tokio::spawn(async move {
                    let a = execute(&cfg, &client, &db, c).await;
                    let _ = tx.send(a).await;
                });
            }
            if app.quit {
                break;
            }
        }
        Ok(())
    }
    .await;
    ratatui::restore();
    res?;
    Ok(ExitCode::SUCCESS)
}

/// Puts `text` on the clipboard of the terminal the operator sits at.
fn copy(text: &str) {
    use base64::Engine;
    use std::io::Write;
    let b64 = base64::engine::general_purpose::STANDARD.encode(text);
    let mut out = std::io::stdout();
    let _ = write!(out, "\x1b]52;c;{b64}\x07");
    let _ = out.flush();
}

/// Carries out a command; the answer is the action it produces.
async fn execute(cfg: &Config, client: &AdminClient, db: &Db, c: Command) -> Action {
    match run_command(cfg, client, db, c).await {
        Ok(a) => a,
        Err(e) => Action::Done(Err(format!("{e:#}"))),
    }
}

async fn run_command(
    cfg: &Config,
    client: &AdminClient,
    db: &Db,
    c: Command,
) -> anyhow::Result<Action> {
    let moderate = |daemon: &'static str, path: String, body: serde_json::Value, ok: String| async move {
        let addr = if daemon == "ingestd" {
            cfg.ingestd.admin_listen
        } else {
            cfg.chatd.admin_listen
        };
        let (status, v) = client.post_json(daemon, addr, &path, &body).await?;
        Ok::<_, anyhow::Error>(if (200..300).contains(&status) {
            Action::Done(Ok(ok))
        } else {
            Action::Done(Err(serde_json::from_value::<stage_core::api::ErrorBody>(v)
                .map_or_else(|_| format!("HTTP {status}"), |e| e.message)))
        })
    };
    Ok(match c {
        Command::Quit | Command::Copy(_) => Action::Tick,
        Command::LoadChannels => load_channels(db).await?,
        Command::LoadVods => load_vods(db).await?,
        Command::LoadChat { stream_id } => load_chat(cfg, client, stream_id).await?,
        Command::CreateChannel(name) => {
            let (ch, key) = crate::channel::create(db, &name, false).await?;
            Action::NewKey(ch.name, key)
        }
        Command::SetEnabled { channel, enabled } => {
            db.update_channel(
                &channel,
                &stage_core::db::ChannelUpdate {
                    enabled: Some(enabled),
                    ..Default::default()
                },
            )
            .await?;
            Action::Done(Ok(format!(
                "#{channel} {}",
                if enabled { "enabled" } else { "disabled" }
            )))
        }
        Command::RotateKey(name) => {
            let (ch, key) = crate::channel::rotate(db, &name).await?;
            Action::NewKey(ch.name, key)
        }
        Command::SetPublished { id, published } => {
            db.set_vod_published(id, published).await?;
            Action::Done(Ok(format!(
                "VOD {id} {}",
                if published { "published" } else { "hidden" }
            )))
        }
        Command::DeleteVod(id) => {
            let removed = crate::vod::delete(cfg, db, id).await?;
            Action::Done(Ok(format!("VOD {id} deleted ({removed} objects)")))
        }
        Command::DeleteMessage { channel, id } => {
            moderate(
                "chatd",
                stage_core::api::CHAT_ACTION.path(&[&channel, "delete"]),
                serde_json::json!({"id": id}),
                format!("message {id} deleted"),
            )
            .await?
        }
        Command::Timeout { channel, user } => {
            moderate(
                "chatd",
                stage_core::api::CHAT_ACTION.path(&[&channel, "timeout"]),
                serde_json::json!({"user": user, "seconds": 600, "reason": "stagectl dash"}),
                format!("{user} timed out for 10 min"),
            )
            .await?
        }
        Command::Ban { channel, user } => {
            moderate(
                "chatd",
                stage_core::api::CHAT_ACTION.path(&[&channel, "ban"]),
                serde_json::json!({"user": user, "reason": "stagectl dash"}),
                format!("{user} banned from #{channel}"),
            )
            .await?
        }
        Command::Kick(channel) => {
            moderate(
                "ingestd",
                stage_core::api::INGEST_KICK.path(&[&channel]),
                serde_json::json!({}),
                format!("#{channel}: publisher disconnected"),
            )
            .await?
        }
    })
}

/// The channels tab: every channel, live or not.
async fn load_channels(db: &Db) -> anyhow::Result<Action> {
    let mut rows = Vec::new();
    for ch in db.list_channels().await? {
        rows.push(ChannelRow {
            live: db.live_stream(ch.id).await?.is_some(),
            key_rotated: stage_core::time::rfc3339_ms(ch.key_rotated_at)
                .get(..16)
                .unwrap_or("")
                .replace('T', " "),
            name: ch.name,
            enabled: ch.enabled,
            members_only: ch.members_only,
        });
    }
    Ok(Action::Channels(rows))
}

/// The VODs tab: the newest 200 recordings.
async fn load_vods(db: &Db) -> anyhow::Result<Action> {
    Ok(Action::Vods(
        db.all_vods(None, 200)
            .await?
            .into_iter()
            .map(|v| VodRow {
                id: v.id,
                started: stage_core::time::rfc3339_ms(v.started_at)
                    .get(..16)
                    .unwrap_or("")
                    .replace('T', " "),
                duration: ui::uptime((v.duration_ms / 1000).max(0) as u64),
                channel: v.channel,
                title: v.title,
                published: v.published,
            })
            .collect(),
    ))
}

/// A stream's last 100 chat messages, from chatd's public API.
async fn load_chat(cfg: &Config, client: &AdminClient, stream_id: i64) -> anyhow::Result<Action> {
    let url = format!(
        "http://{}/streams/{stream_id}/chat?limit=100",
        crate::client::connectable(cfg.chatd.listen)
    );
    let v = client.get_url(&url).await?;
    Ok(Action::Chat(
        v["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| ChatLine {
                id: m["id"].as_str().unwrap_or("").into(),
                at_ms: m["at"].as_i64().unwrap_or(0),
                user: m["user"].as_str().unwrap_or("").into(),
                body: m["body"].as_str().unwrap_or("").into(),
                deleted: m["deleted"].as_bool().unwrap_or(false),
                tip: m["tip"]["display"].as_str().map(String::from),
            })
            .collect(),
    ))
}

#[cfg(test)]
mod snapshots;
