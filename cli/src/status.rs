//! `stagectl status`: which daemons answer, and what is live.

use crate::client::{AdminClient, connectable, daemons};
use crate::output::{Output, table};
use stage_core::Config;
use std::process::ExitCode;

fn to_json<T: serde::Serialize>(t: &T) -> serde_json::Value {
    serde_json::to_value(t).unwrap_or_default()
}

pub async fn run(cfg: &Config, out: &Output) -> anyhow::Result<ExitCode> {
    let client = AdminClient::new(cfg)?;
    let mut rows = Vec::new();
    let mut json = serde_json::Map::new();
    let mut all_up = true;
    // All daemons at once, each with the dashboard's short timeout: a hung
    // daemon is reported down in under a second.
    let answers = crate::tui::poll(cfg, &client).await;
    let bodies = [
        answers.ingestd.as_ref().map(to_json),
        answers.packagerd.as_ref().map(to_json),
        answers.chatd.as_ref().map(to_json),
        answers.billingd.as_ref().map(to_json),
    ];
    for ((name, addr), status) in daemons(cfg).into_iter().zip(bodies) {
        let up = status.is_ok();
        all_up &= up;
        rows.push(vec![
            name.to_string(),
            if up { "up".into() } else { "down".into() },
            connectable(addr).to_string(),
            status
                .as_ref()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default(),
        ]);
        json.insert(
            name.into(),
            serde_json::json!({"up": up, "admin": addr.to_string(),
                "error": status.as_ref().err(), "status": status.ok()}),
        );
    }
    let ingest = answers.ingestd.map(|i| i.streams).unwrap_or_default();
    out.emit(&json, || {
        let mut s = table(&["DAEMON", "STATE", "ADMIN", "PROBLEM"], rows);
        if ingest.is_empty() {
            s.push_str("\nNo live streams.\n");
        } else {
            let live: Vec<Vec<String>> = ingest
                .iter()
                .map(|l| {
                    vec![
                        l.channel.clone(),
                        l.stream_id.to_string(),
                        l.state.clone(),
                        crate::tui::ui::uptime(l.uptime_s),
                        (l.reading.bitrate_bps / 1000).to_string(),
                        format!("{:.0}", l.reading.fps),
                        l.publisher.clone().unwrap_or_else(|| "-".into()),
                        if l.packager_connected { "yes" } else { "no" }.into(),
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
