//! `stagectl channel …` and `stagectl key …`.

use crate::client::AdminClient;
use crate::output::{Output, fields, table};
use clap::Subcommand;
use stage_core::db::{Channel, ChannelUpdate};
use stage_core::time::rfc3339_ms;
use stage_core::{Config, Db, keys};
use std::process::ExitCode;

/// The operator account channels belong to.
pub const OWNER: &str = "operator";

#[derive(Subcommand)]
pub enum ChannelCmd {
    /// Create a channel; prints its stream key (shown only now).
    Create {
        name: String,
        /// Only members may watch.
        #[arg(long)]
        members_only: bool,
    },
    /// List channels.
    List,
    /// Show one channel.
    Show { name: String },
    /// Change a channel.
    Set {
        name: String,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        members_only: Option<bool>,
        #[arg(long)]
        enabled: Option<bool>,
        /// ABR ladder (a name from the config's [ladders]; `source` for
        /// passthrough only).
        #[arg(long)]
        ladder: Option<String>,
        /// Record its live streams (VODs, the DVR window).
        #[arg(long)]
        record: Option<bool>,
    },
    /// Delete a channel and its stream history.
    Delete { name: String },
}

#[derive(Subcommand)]
pub enum KeyCmd {
    /// Replace a channel's stream key; the old key stops working at once.
    Rotate {
        name: String,
        /// Also drop a publisher that is live with the old key.
        #[arg(long)]
        kick: bool,
    },
}

/// JSON view of a channel.
pub fn channel_json(cfg: &Config, c: &Channel, live: Option<i64>) -> serde_json::Value {
    serde_json::json!({
        "name": c.name,
        "title": c.title,
        "description": c.description,
        "members_only": c.members_only,
        "enabled": c.enabled,
        "ladder": c.ladder,
        "record": c.record,
        "created_at": rfc3339_ms(c.created_at),
        "key_rotated_at": rfc3339_ms(c.key_rotated_at),
        "live_stream_id": live,
        "rtmp_url": cfg.rtmp_url(),
        "player_url": player_url(cfg, &c.name),
    })
}

/// The watch page URL for a channel.
pub fn player_url(cfg: &Config, name: &str) -> String {
    format!("{}/watch/{name}", cfg.public_http_base())
}

/// Creates a channel with a fresh key, returning (channel, key).
pub async fn create(db: &Db, name: &str, members_only: bool) -> anyhow::Result<(Channel, String)> {
    let owner = db.ensure_owner(OWNER).await?;
    let key = keys::generate();
    let ch = db
        .create_channel(owner, name, members_only, &keys::hash(&key))
        .await?;
    Ok((ch, key))
}

/// Gives a channel a fresh key, returning (channel, key); the old key stops
/// working at once.
pub async fn rotate(db: &Db, name: &str) -> anyhow::Result<(Channel, String)> {
    let key = keys::generate();
    let c = db.set_key_hash(name, &keys::hash(&key)).await?;
    Ok((c, key))
}

pub async fn run_channel(cfg: &Config, out: &Output, cmd: ChannelCmd) -> anyhow::Result<ExitCode> {
    let db = Db::open(cfg).await?;
    match cmd {
        ChannelCmd::Create { name, members_only } => {
            let (ch, key) = create(&db, &name, members_only).await?;
            let v = serde_json::json!({
                "name": ch.name,
                "rtmp_url": cfg.rtmp_url(),
                "stream_key": key,
                "player_url": player_url(cfg, &ch.name),
                "members_only": ch.members_only,
            });
            out.emit(&v, || {
                format!(
                    "Channel `{}` created.\n\n{}\nThe stream key is shown only now; `stagectl key rotate {}` makes a new one.\n",
                    ch.name,
                    fields(&[
                        ("RTMP server", cfg.rtmp_url()),
                        ("Stream key", key.clone()),
                        ("Player", player_url(cfg, &ch.name)),
                    ]),
                    ch.name
                )
            });
        }
        ChannelCmd::List => {
            let list = db.list_channels().await?;
            let mut rows = Vec::new();
            let mut json = Vec::new();
            for c in &list {
                let live = db.live_stream(c.id).await?.map(|s| s.id);
                rows.push(vec![
                    c.name.clone(),
                    c.title.clone(),
                    if live.is_some() {
                        "live".into()
                    } else {
                        "offline".into()
                    },
                    yes_no(c.members_only),
                    yes_no(c.enabled),
                    rfc3339_ms(c.created_at),
                ]);
                json.push(channel_json(cfg, c, live));
            }
            out.emit(&json, || {
                if list.is_empty() {
                    "No channels. Create one with `stagectl channel create NAME`.\n".into()
                } else {
                    table(
                        &[
                            "NAME",
                            "TITLE",
                            "STATUS",
                            "MEMBERS ONLY",
                            "ENABLED",
                            "CREATED",
                        ],
                        rows,
                    )
                }
            });
        }
        ChannelCmd::Show { name } => show(cfg, out, &db, &name).await?,
        ChannelCmd::Set {
            name,
            title,
            description,
            members_only,
            enabled,
            ladder,
            record,
        } => {
            if let Some(l) = &ladder
                && !cfg.ladders.contains_key(l)
            {
                let known: Vec<&str> = cfg.ladders.keys().map(String::as_str).collect();
                anyhow::bail!(
                    "no ladder `{l}` in the config (known: {})",
                    known.join(", ")
                );
            }
            let c = db
                .update_channel(
                    &name,
                    &ChannelUpdate {
                        title,
                        description,
                        members_only,
                        enabled,
                        ladder,
                        record,
                    },
                )
                .await?;
            let v = channel_json(cfg, &c, None);
            out.emit(&v, || format!("Channel `{}` updated.\n", c.name));
        }
        ChannelCmd::Delete { name } => {
            db.delete_channel(&name).await?;
            out.emit(&serde_json::json!({"deleted": name}), || {
                format!("Channel `{name}` deleted.\n")
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One channel: its settings, whether it is live, its last streams.
async fn show(cfg: &Config, out: &Output, db: &Db, name: &str) -> anyhow::Result<()> {
    let c = db.channel_required(name).await?;
    let live = db.live_stream(c.id).await?;
    let recent = db.streams(c.id, 5).await?;
    let mut v = channel_json(cfg, &c, live.as_ref().map(|s| s.id));
    v["recent_streams"] = serde_json::to_value(&recent)?;
    out.emit(&v, || {
        let mut s = fields(&[
            ("Name", c.name.clone()),
            ("Title", c.title.clone()),
            ("Description", c.description.clone()),
            (
                "Status",
                live.as_ref()
                    .map_or("offline".into(), |s| format!("live (stream {})", s.id)),
            ),
            ("Members only", yes_no(c.members_only)),
            ("Enabled", yes_no(c.enabled)),
            ("Ladder", c.ladder.clone()),
            ("Recorded", if c.record { "yes" } else { "no" }.into()),
            ("Created", rfc3339_ms(c.created_at)),
            ("Key rotated", rfc3339_ms(c.key_rotated_at)),
            ("RTMP server", cfg.rtmp_url()),
            ("Player", player_url(cfg, &c.name)),
        ]);
        if !recent.is_empty() {
            s.push('\n');
            s.push_str(&table(
                &["STREAM", "STATUS", "STARTED", "ENDED"],
                recent
                    .iter()
                    .map(|r| {
                        vec![
                            r.id.to_string(),
                            r.status.clone(),
                            r.started_at.map(rfc3339_ms).unwrap_or_default(),
                            r.ended_at.map(rfc3339_ms).unwrap_or_default(),
                        ]
                    })
                    .collect(),
            ));
        }
        s
    });
    Ok(())
}

pub async fn run_key(cfg: &Config, out: &Output, cmd: KeyCmd) -> anyhow::Result<ExitCode> {
    let db = Db::open(cfg).await?;
    match cmd {
        KeyCmd::Rotate { name, kick } => {
            let (c, key) = rotate(&db, &name).await?;
            let mut kicked = None;
            if kick {
                let client = AdminClient::new(cfg)?;
                let (status, _) = client
                    .post(
                        cfg.ingestd.admin_listen,
                        &stage_core::api::INGEST_KICK.path(&[&c.name]),
                    )
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "key rotated, but cannot reach ingestd to kick the publisher: {e}"
                        )
                    })?;
                kicked = Some(status == 200);
            }
            let v = serde_json::json!({
                "name": c.name,
                "stream_key": key,
                "rtmp_url": cfg.rtmp_url(),
                "kicked": kicked,
            });
            out.emit(&v, || {
                let mut s = format!(
                    "New stream key for `{}` (the old one no longer works):\n\n{}",
                    c.name,
                    fields(&[("RTMP server", cfg.rtmp_url()), ("Stream key", key.clone())])
                );
                match kicked {
                    Some(true) => {
                        s.push_str("\nThe live publisher using the old key was disconnected.\n")
                    }
                    Some(false) => {
                        s.push_str("\nThe channel was not live; nobody to disconnect.\n")
                    }
                    None => {}
                }
                s
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn yes_no(b: bool) -> String {
    if b { "yes".into() } else { "no".into() }
}
