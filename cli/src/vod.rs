//! `stagectl vod …`: the recorded broadcasts.

use crate::output::{Output, fields, table};
use clap::Subcommand;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use stage_core::db::Vod;
use stage_core::time::rfc3339_ms;
use stage_core::{Config, Db};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum VodCmd {
    /// List recordings, newest first (published or not).
    List {
        /// Only this channel's.
        #[arg(long)]
        channel: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Show one recording.
    Show { id: i64 },
    /// List it in /vods again.
    Publish { id: i64 },
    /// Hide it from /vods (the recording is kept).
    Unpublish { id: i64 },
    /// Delete the recording's objects and its row.
    Delete { id: i64 },
    /// Write one rendition into a single MP4 file (remuxed, not re-encoded).
    Export {
        id: i64,
        /// The file to write (default: vod-ID.mp4 here).
        #[arg(short, long)]
        output: Option<std::path::PathBuf>,
        /// Which rendition (see `vod show`).
        #[arg(long, default_value = "source")]
        rendition: String,
    },
}

/// The public view plus what operators see: publication, objects, player.
fn vod_json(cfg: &Config, v: &Vod) -> serde_json::Value {
    let mut j = v.public_json();
    j["published"] = v.published.into();
    j["prefix"] = v.prefix.clone().into();
    j["thumbnail"] = (!v.thumbnail.is_empty())
        .then(|| format!("{}/{}", v.prefix, v.thumbnail))
        .into();
    j["player_url"] = format!("{}/vod/{}", cfg.public_http_base(), v.id).into();
    j
}

fn duration(ms: i64) -> String {
    let s = ms / 1000;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Copies the objects under `prefix` into the directory `to`.
async fn fetch(store: &dyn ObjectStore, prefix: &str, to: &std::path::Path) -> anyhow::Result<()> {
    let listed: Vec<object_store::ObjectMeta> = store
        .list(Some(&ObjectPath::from(prefix)))
        .try_collect()
        .await?;
    for m in listed {
        let Some(name) = m.location.filename() else {
            continue;
        };
        let data = store.get(&m.location).await?.bytes().await?;
        tokio::fs::write(to.join(name), data).await?;
    }
    Ok(())
}

async fn vod(db: &Db, id: i64) -> anyhow::Result<Vod> {
    db.vod(id)
        .await?
        .ok_or_else(|| stage_core::db::DbError::NotFound(format!("VOD {id}")).into())
}

/// Deletes a recording's objects and its row; returns how many objects.
pub async fn delete(cfg: &Config, db: &Db, id: i64) -> anyhow::Result<u64> {
    let v = vod(db, id).await?;
    let store = stage_store::open(cfg)?.store;
    let removed = stage_store::delete_prefix(&*store, &v.prefix).await?;
    db.delete_vod(id).await?;
    Ok(removed)
}

pub async fn run(cfg: &Config, out: &Output, cmd: VodCmd) -> anyhow::Result<ExitCode> {
    let db = Db::open(cfg).await?;
    match cmd {
        VodCmd::List { channel, limit } => {
            let channel_id = match channel {
                Some(name) => Some(db.channel_required(&name).await?.id),
                None => None,
            };
            let list = db.all_vods(channel_id, limit).await?;
            let json: Vec<serde_json::Value> = list.iter().map(|v| vod_json(cfg, v)).collect();
            out.emit(&json, || {
                if list.is_empty() {
                    return "No recordings yet.\n".into();
                }
                table(
                    &[
                        "ID",
                        "CHANNEL",
                        "TITLE",
                        "STARTED",
                        "DURATION",
                        "MB",
                        "PUBLISHED",
                    ],
                    list.iter()
                        .map(|v| {
                            vec![
                                v.id.to_string(),
                                v.channel.clone(),
                                v.title.clone(),
                                rfc3339_ms(v.started_at),
                                duration(v.duration_ms),
                                format!("{:.1}", v.bytes as f64 / 1e6),
                                if v.published { "yes" } else { "no" }.into(),
                            ]
                        })
                        .collect(),
                )
            });
        }
        VodCmd::Show { id } => {
            let v = vod(&db, id).await?;
            let j = vod_json(cfg, &v);
            out.emit(&j, || {
                fields(&[
                    ("VOD", v.id.to_string()),
                    ("Channel", v.channel.clone()),
                    ("Title", v.title.clone()),
                    ("Started", rfc3339_ms(v.started_at)),
                    ("Duration", duration(v.duration_ms)),
                    ("Size", format!("{:.1} MB", v.bytes as f64 / 1e6)),
                    ("Renditions", v.renditions.clone()),
                    ("Published", v.published.to_string()),
                    ("Player", j["player_url"].as_str().unwrap_or("").to_string()),
                ])
            });
        }
        VodCmd::Publish { id } | VodCmd::Unpublish { id } => {
            let publish = matches!(cmd, VodCmd::Publish { .. });
            db.set_vod_published(id, publish).await?;
            let v = vod(&db, id).await?;
            out.emit(&vod_json(cfg, &v), || {
                format!(
                    "VOD {id} is {}.\n",
                    if publish {
                        "published"
                    } else {
                        "hidden from /vods"
                    }
                )
            });
        }
        VodCmd::Export {
            id,
            output,
            rendition,
        } => export(cfg, out, &db, id, output, rendition).await?,
        VodCmd::Delete { id } => {
            let removed = delete(cfg, &db, id).await?;
            out.emit(
                &serde_json::json!({"deleted": id, "objects": removed}),
                || format!("VOD {id} deleted ({removed} objects).\n"),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Remuxes one rendition of a VOD into one MP4 file, with a progress bar.
async fn export(
    cfg: &Config,
    out: &Output,
    db: &Db,
    id: i64,
    output: Option<std::path::PathBuf>,
    rendition: String,
) -> anyhow::Result<()> {
    let v = vod(db, id).await?;
    let renditions: Vec<&str> = v.renditions.split(',').collect();
    if !renditions.contains(&rendition.as_str()) {
        anyhow::bail!(
            "VOD {id} has no rendition `{rendition}` (it has: {})",
            renditions.join(", ")
        );
    }
    // ffmpeg reads the rendition from a directory: the local store's
    // own, or a copy of the objects fetched from a remote one.
    let st = stage_store::open(cfg)?;
    let fetched;
    let dir = match &st.local_dir {
        Some(d) => d.join(&v.prefix).join(&rendition),
        None => {
            fetched = tempfile::tempdir()?;
            fetch(
                &*st.store,
                &format!("{}/{rendition}", v.prefix),
                fetched.path(),
            )
            .await?;
            fetched.path().to_path_buf()
        }
    };
    let playlist = dir.join("vod.m3u8");
    if !playlist.exists() {
        anyhow::bail!(
            "VOD {id}: {} is missing from the recording ({})",
            playlist.display(),
            st.describe
        );
    }
    let target = output.unwrap_or_else(|| format!("vod-{id}.mp4").into());
    // Written under a temporary name, renamed when complete: an
    // interrupted export leaves no file that looks finished.
    let mut partial = target.as_os_str().to_owned();
    partial.push(".partial");
    let partial = std::path::PathBuf::from(partial);
    let total_ms = v.duration_ms.max(1) as u64;
    let (p2, pl) = (partial.clone(), playlist.clone());
    let json = out.json;
    let done = tokio::task::spawn_blocking(move || {
        // Drawn on stderr when it is a terminal (and not for --json).
        let bar = if json {
            indicatif::ProgressBar::hidden()
        } else {
            indicatif::ProgressBar::new(total_ms)
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {percent:>3}% {msg} ({elapsed}, {eta} left)",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let r = crate::export::remux(&pl, &p2, &|secs| {
            bar.set_position(((secs * 1000.0) as u64).min(total_ms));
            bar.set_message(duration((secs * 1000.0) as i64));
        });
        bar.finish_and_clear();
        r
    })
    .await?;
    let done = match done {
        Ok(d) => d,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, &target)?;
    out.emit(
        &serde_json::json!({
            "vod": id,
            "rendition": rendition,
            "file": target.display().to_string(),
            "bytes": done.bytes,
            "duration_s": done.duration_s,
            "packets": done.packets,
        }),
        || {
            format!(
                "VOD {id} ({rendition}) written to {}: {:.1} MB, {}.\n",
                target.display(),
                done.bytes as f64 / 1e6,
                duration((done.duration_s * 1000.0) as i64)
            )
        },
    );
    Ok(())
}
