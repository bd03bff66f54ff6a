//! `stagectl status`: which daemons answer, and what is live.

use crate::client::{AdminClient, connectable, daemons};
use crate::output::{Output, table};
use stage_core::Config;
use std::process::ExitCode;

pub async fn run(cfg: &Config, out: &Output) -> anyhow::Result<ExitCode> {
    let client = AdminClient::new(cfg)?;
    let mut rows = Vec::new();
    let mut json = serde_json::Map::new();
    let mut all_up = true;
    // All daemons at once, each with the dashboard's short timeout: a hung
    // daemon is reported down in under a second.
    let answers = crate::tui::poll(cfg, &client).await;
    for ((name, addr), (_, status)) in daemons(cfg).into_iter().zip(answers) {
        let up = status.is_ok();
        all_up &= up;
        rows.push(vec![
            name.to_string(),
            if up { "up".into() } else { "down".into() },
            connectable(addr).to_string(),
            status.as_ref().err().cloned().unwrap_or_default(),
        ]);
        json.insert(
            name.into(),
            serde_json::json!({"up": up, "admin": addr.to_string(),
                "error": status.as_ref().err(), "status": status.ok()}),
        );
    }
    let ingest = json
        .get("ingestd")
        .and_then(|d| d["status"]["streams"].as_array().cloned())
        .unwrap_or_default();
    out.emit(&json, || {
        let mut s = table(&["DAEMON", "STATE", "ADMIN", "PROBLEM"], rows);
        if ingest.is_empty() {
            s.push_str("\nNo live streams.\n");
        } else {
            let live: Vec<Vec<String>> = ingest
                .iter()
                .map(|l| {
                    vec![
                        l["channel"].as_str().unwrap_or("").to_string(),
                        l["stream_id"].to_string(),
                        l["state"].as_str().unwrap_or("").to_string(),
                        crate::tui::ui::uptime(l["uptime_s"].as_u64().unwrap_or(0)),
                        l["bitrate_bps"]
                            .as_u64()
                            .map_or("-".into(), |b| (b / 1000).to_string()),
                        l["fps"].as_f64().map_or("-".into(), |f| format!("{f:.0}")),
                        l["publisher"].as_str().unwrap_or("-").to_string(),
                        if l["packager_connected"].as_bool() == Some(true) {
                            "yes".into()
                        } else {
                            "no".into()
                        },
                    ]
                })
                .collect();
            s.push('\n');
            s.push_str(&table(
                &[
                    "CHANNEL",
                    "STREAM",
                    "STATE",
                    "UPTIME",
                    "KB/S",
                    "FPS",
                    "PUBLISHER",
                    "PACKAGER",
                ],
                live,
            ));
        }
        s
    });
    Ok(if all_up {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
