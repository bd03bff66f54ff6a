//! `stagectl chat …`, `stagectl poll …` and `stagectl user …`: moderation
//! acts on live rooms through chatd's admin API (never behind its back in
//! the database); accounts are rows.

use crate::client::{AdminClient, connectable};
use crate::output::{Output, table};
use clap::Subcommand;
use futures::StreamExt;
use serde_json::{Value, json};
use stage_core::time::rfc3339_ms;
use stage_core::{Config, Db};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ChatCmd {
    /// Print a channel's recent messages; with --follow, keep printing.
    Tail {
        channel: String,
        #[arg(short, long)]
        follow: bool,
    },
    /// Delete a message (it disappears from every viewer's chat).
    Delete { channel: String, id: String },
    /// Keep a user from writing for a while (e.g. 10m).
    Timeout {
        channel: String,
        user: String,
        duration: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Ban a user from a channel's chat.
    Ban {
        channel: String,
        user: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Lift a ban or timeout.
    Unban { channel: String, user: String },
    /// Slow mode: least time between one user's messages (`off` or e.g. 30s).
    Slow { channel: String, interval: String },
    /// Blocked words: add or remove some, then list them.
    Words {
        channel: String,
        #[arg(long)]
        add: Vec<String>,
        #[arg(long)]
        remove: Vec<String>,
    },
    /// Members-only chat and guest (no account) writing.
    Set {
        channel: String,
        #[arg(long)]
        members_only: Option<bool>,
        #[arg(long)]
        guests: Option<bool>,
    },
    /// The moderation audit log, newest first.
    Audit {
        channel: String,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

#[derive(Subcommand)]
pub enum PollCmd {
    /// Open a poll (closes the channel's open one).
    Create {
        channel: String,
        question: String,
        /// 2-10 options.
        #[arg(required = true, num_args = 2..=10)]
        options: Vec<String>,
    },
    /// Close a poll; prints its result.
    Close { channel: String, id: i64 },
    /// A channel's polls with their tallies.
    List { channel: String },
}

#[derive(Subcommand)]
pub enum UserCmd {
    /// List accounts.
    List {
        #[arg(long, default_value_t = 200)]
        limit: i64,
    },
    /// Set a role: `owner`/`viewer` platform-wide, or with --channel,
    /// `moderator`/`viewer` in that channel.
    Role {
        user: String,
        role: String,
        #[arg(long)]
        channel: Option<String>,
    },
    /// Ban an account platform-wide (its logins are refused and its open
    /// chats closed), or lift the ban.
    Ban {
        user: String,
        #[arg(long)]
        unban: bool,
    },
}

/// Exit code for an admin API refusal.
async fn admin(
    cfg: &Config,
    out: &Output,
    path: &str,
    body: Value,
    done: impl FnOnce(&Value) -> String,
) -> anyhow::Result<ExitCode> {
    crate::client::act(out, "chatd", cfg.chatd.admin_listen, cfg, path, body, done).await
}

fn seconds(s: &str) -> anyhow::Result<u64> {
    if matches!(s, "off" | "0") {
        return Ok(0);
    }
    humantime::parse_duration(s)
        .map(|d| d.as_secs())
        .map_err(|e| anyhow::anyhow!("`{s}` is not a duration ({e}); write e.g. 30s, 10m, 1h"))
}

pub async fn run_chat(cfg: &Config, out: &Output, cmd: ChatCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ChatCmd::Tail { channel, follow } => tail(cfg, out, &channel, follow).await,
        ChatCmd::Delete { channel, id } => {
            admin(
                cfg,
                out,
                &stage_core::api::CHAT_ACTION.path(&[&channel, "delete"]),
                json!({"id": id}),
                |_| format!("deleted {id}\n"),
            )
            .await
        }
        ChatCmd::Timeout {
            channel,
            user,
            duration,
            reason,
        } => {
            let secs = seconds(&duration)?;
            admin(
                cfg,
                out,
                &stage_core::api::CHAT_ACTION.path(&[&channel, "timeout"]),
                json!({"user": user, "seconds": secs, "reason": reason}),
                |v| {
                    format!(
                        "{} timed out until {}\n",
                        v["user"].as_str().unwrap_or(""),
                        v["until"].as_i64().map(rfc3339_ms).unwrap_or_default()
                    )
                },
            )
            .await
        }
        ChatCmd::Ban {
            channel,
            user,
            reason,
        } => {
            admin(
                cfg,
                out,
                &stage_core::api::CHAT_ACTION.path(&[&channel, "ban"]),
                json!({"user": user, "reason": reason}),
                |v| {
                    format!(
                        "{} banned from #{channel}\n",
                        v["user"].as_str().unwrap_or("")
                    )
                },
            )
            .await
        }
        ChatCmd::Unban { channel, user } => {
            admin(
                cfg,
                out,
                &stage_core::api::CHAT_ACTION.path(&[&channel, "unban"]),
                json!({"user": user}),
                |_| format!("{user} may write in #{channel} again\n"),
            )
            .await
        }
        ChatCmd::Slow { channel, interval } => {
            let secs = seconds(&interval)?;
            admin(
                cfg,
                out,
                &stage_core::api::CHAT_SETTINGS.path(&[&channel]),
                json!({"slow_seconds": secs}),
                |_| {
                    if secs == 0 {
                        "slow mode off\n".to_string()
                    } else {
                        format!("slow mode: one message per {secs} s per user\n")
                    }
                },
            )
            .await
        }
        ChatCmd::Words {
            channel,
            add,
            remove,
        } => words(cfg, out, &channel, add, remove).await,
        ChatCmd::Set {
            channel,
            members_only,
            guests,
        } => {
            admin(
                cfg,
                out,
                &stage_core::api::CHAT_SETTINGS.path(&[&channel]),
                json!({"members_only": members_only, "guests": guests}),
                |v| {
                    format!(
                        "members_only: {}\nguests: {}\nslow: {} s\n",
                        v["members_only"],
                        v["guests"],
                        v["slow_ms"].as_i64().unwrap_or(0) / 1000
                    )
                },
            )
            .await
        }
        ChatCmd::Audit { channel, limit } => audit(cfg, out, &channel, limit).await,
    }
}

/// Adds and removes blocked words; prints the list.
async fn words(
    cfg: &Config,
    out: &Output,
    channel: &str,
    add: Vec<String>,
    remove: Vec<String>,
) -> anyhow::Result<ExitCode> {
    admin(
        cfg,
        out,
        &stage_core::api::CHAT_SETTINGS.path(&[channel]),
        json!({"add_words": add, "remove_words": remove}),
        |v| {
            let words: Vec<&str> = v["blocked_words"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|w| w.as_str())
                .collect();
            if words.is_empty() {
                "no blocked words\n".into()
            } else {
                format!("{}\n", words.join("\n"))
            }
        },
    )
    .await
}

/// The room's moderation log, newest first.
async fn audit(cfg: &Config, out: &Output, channel: &str, limit: i64) -> anyhow::Result<ExitCode> {
    let client = AdminClient::new(cfg)?;
    let v = client
        .get(
            cfg.chatd.admin_listen,
            &format!(
                "{}?limit={limit}",
                stage_core::api::CHAT_AUDIT.path(&[channel])
            ),
        )
        .await?;
    out.emit(&v, || {
        let rows = v["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                vec![
                    a["at"].as_i64().map(rfc3339_ms).unwrap_or_default(),
                    a["actor"].as_str().unwrap_or("").into(),
                    a["action"].as_str().unwrap_or("").into(),
                    a["target"].as_str().unwrap_or("").into(),
                    a["data"].to_string(),
                ]
            })
            .collect();
        table(&["AT", "BY", "ACTION", "TARGET", "DETAILS"], rows)
    });
    Ok(ExitCode::SUCCESS)
}

fn poll_text(v: &Value) -> String {
    let mut s = format!(
        "poll {} ({}): {}\n",
        v["id"],
        v["status"].as_str().unwrap_or(""),
        v["question"].as_str().unwrap_or("")
    );
    let opts = v["options"].as_array().cloned().unwrap_or_default();
    for (i, o) in opts.iter().enumerate() {
        s += &format!("  {i}. {}  {}\n", o.as_str().unwrap_or(""), v["votes"][i]);
    }
    s
}

pub async fn run_poll(cfg: &Config, out: &Output, cmd: PollCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        PollCmd::Create {
            channel,
            question,
            options,
        } => {
            admin(
                cfg,
                out,
                &stage_core::api::CHAT_POLLS.path(&[&channel]),
                json!({"question": question, "options": options}),
                poll_text,
            )
            .await
        }
        PollCmd::Close { channel, id } => {
            admin(
                cfg,
                out,
                &stage_core::api::CHAT_POLL_CLOSE.path(&[&channel, &id.to_string()]),
                json!({}),
                poll_text,
            )
            .await
        }
        PollCmd::List { channel } => {
            let client = AdminClient::new(cfg)?;
            let v = client
                .get(
                    cfg.chatd.admin_listen,
                    &stage_core::api::CHAT_POLLS.path(&[&channel]),
                )
                .await?;
            out.emit(&v, || {
                v["polls"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(poll_text)
                    .collect()
            });
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub async fn run_user(cfg: &Config, out: &Output, cmd: UserCmd) -> anyhow::Result<ExitCode> {
    let db = Db::open(cfg).await?;
    let found = |name: &str, u: Option<stage_core::accounts::User>| {
        u.ok_or_else(|| stage_core::db::DbError::NotFound(format!("user `{name}`")))
    };
    match cmd {
        UserCmd::List { limit } => {
            let users = db.users(limit).await?;
            out.emit(&users, || {
                table(
                    &["ID", "USERNAME", "EMAIL", "ROLE", "BANNED", "CREATED"],
                    users
                        .iter()
                        .map(|u| {
                            vec![
                                u.id.to_string(),
                                u.username.clone(),
                                u.email.clone().unwrap_or_default(),
                                u.role.clone(),
                                if u.banned {
                                    "yes".into()
                                } else {
                                    String::new()
                                },
                                rfc3339_ms(u.created_at),
                            ]
                        })
                        .collect(),
                )
            });
        }
        UserCmd::Role {
            user,
            role,
            channel,
        } => {
            let u = found(&user, db.user_by_name(&user).await?)?;
            match channel {
                Some(c) => {
                    let ch = db.channel_required(&c).await?;
                    let on = match role.as_str() {
                        "moderator" => true,
                        "viewer" => false,
                        _ => anyhow::bail!(stage_core::db::DbError::Invalid {
                            field: "role",
                            message: "in a channel: moderator or viewer".into()
                        }),
                    };
                    db.set_moderator(ch.id, u.id, on).await?;
                    out.emit(
                        &json!({"user": u.username, "channel": c, "role": role}),
                        || {
                            format!(
                                "{} is now {role} in #{c} (from their next connection)\n",
                                u.username
                            )
                        },
                    );
                }
                None => {
                    db.set_user_role(u.id, &role).await?;
                    out.emit(&json!({"user": u.username, "role": role}), || {
                        format!("{} is now {role} (from their next login)\n", u.username)
                    });
                }
            }
        }
        UserCmd::Ban { user, unban } => {
            let u = found(&user, db.user_by_name(&user).await?)?;
            db.set_user_banned(u.id, !unban).await?;
            if !unban {
                // Close their open chats now; a chatd that is down has none.
                let client = AdminClient::new(cfg)?;
                if let Err(e) = client
                    .post_json(
                        "chatd",
                        cfg.chatd.admin_listen,
                        &stage_core::api::CHAT_USER_KICK.path(&[&u.id.to_string()]),
                        &json!({}),
                    )
                    .await
                {
                    tracing::debug!(cause = %e, "kick not delivered");
                }
            }
            out.emit(&json!({"user": u.username, "banned": !unban}), || {
                if unban {
                    format!("{} is no longer banned\n", u.username)
                } else {
                    format!(
                        "{} is banned: logins refused, open chats closed\n",
                        u.username
                    )
                }
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the room's history (and, following, everything after) as a guest.
async fn tail(cfg: &Config, out: &Output, channel: &str, follow: bool) -> anyhow::Result<ExitCode> {
    let url = format!("ws://{}/ws/{channel}", connectable(cfg.chatd.listen));
    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open {url}: {e}"))?;
    let print = |m: &Value| {
        if out.json {
            println!("{m}");
            return;
        }
        let at = m["at"].as_i64().map(rfc3339_ms).unwrap_or_default();
        let time = at.get(11..19).unwrap_or("");
        println!(
            "{time} {} {}({}): {}",
            m["id"].as_str().unwrap_or(""),
            m["user"].as_str().unwrap_or(""),
            m["role"].as_str().unwrap_or(""),
            m["body"]
                .as_str()
                .unwrap_or("")
                .replace(|c: char| c.is_control(), " ")
        );
    };
    while let Some(frame) = ws.next().await {
        let frame = frame?;
        let Ok(text) = frame.to_text() else { continue };
        for line in text.split('\n').filter(|l| !l.is_empty()) {
            let v: Value = serde_json::from_str(line)?;
            match v["type"].as_str() {
                Some("history") => {
                    for m in v["messages"].as_array().into_iter().flatten() {
                        print(m);
                    }
                    if !follow {
                        return Ok(ExitCode::SUCCESS);
                    }
                }
                Some("chat") => print(&v),
                Some("deleted") if !out.json => {
                    println!("-- deleted {}", v["id"].as_str().unwrap_or(""))
                }
                Some("deleted" | "moderation" | "poll") if out.json => println!("{v}"),
                _ => {}
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
