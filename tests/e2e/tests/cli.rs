//! stagectl's channel/key/status commands, config errors, and the systemd units.

use stage_e2e::{Stack, backends, bin_dir};
use std::process::Command;

#[tokio::test]
async fn channel_commands_tables_json_and_exit_codes() {
    for backend in backends() {
        let Some(stack) = Stack::start(backend).await else {
            continue;
        };
        let created = stack.stagectl_json(&["channel", "create", "cooking", "--members-only"]);
        assert_eq!(created["name"], "cooking");
        assert_eq!(
            created["rtmp_url"],
            format!("rtmp://127.0.0.1:{}/live", stack.ports.rtmp)
        );
        assert_eq!(
            created["player_url"],
            format!("http://127.0.0.1:{}/watch/cooking", stack.ports.http)
        );
        assert_eq!(created["members_only"], true);
        let key = created["stream_key"].as_str().unwrap();
        assert!(key.starts_with("live_") && key.len() >= 5 + 22, "{key}");

        let (code, _, err) = stack.stagectl(&["channel", "create", "cooking"]);
        assert_eq!(code, 4, "duplicate: {err}");
        assert!(err.contains("already exists"), "{err}");
        let (code, _, err) = stack.stagectl(&["channel", "create", "Bad Name!"]);
        assert_eq!(code, 2, "bad name: {err}");
        let (code, _, err) = stack.stagectl(&["channel", "show", "nosuch"]);
        assert_eq!(code, 3, "unknown: {err}");

        let (code, out, _) = stack.stagectl(&["channel", "list"]);
        assert_eq!(code, 0);
        assert!(
            out.contains("NAME") && out.contains("cooking") && out.contains("demo"),
            "{out}"
        );
        assert!(!out.contains(key), "a key was shown after creation");
        let list = stack.stagectl_json(&["channel", "list"]);
        assert_eq!(list.as_array().unwrap().len(), 2, "{list}");

        let (code, _, err) = stack.stagectl(&[
            "channel",
            "set",
            "cooking",
            "--title",
            "Pasta night",
            "--members-only",
            "false",
        ]);
        assert_eq!(code, 0, "{err}");
        let show = stack.stagectl_json(&["channel", "show", "cooking"]);
        assert_eq!(show["title"], "Pasta night");
        assert_eq!(show["members_only"], false);
        assert!(show.get("stream_key").is_none());
        let (_, human, _) = stack.stagectl(&["channel", "show", "cooking"]);
        assert!(
            human.contains("Pasta night") && human.contains("offline"),
            "{human}"
        );

        // Public channel info reflects it.
        let info = stack.get_json("/channels/cooking").await.unwrap();
        assert_eq!(info["title"], "Pasta night");
        assert_eq!(info["live"], false);
        let live = stack.live("cooking").await;
        assert_eq!(live["live"], false);
        assert!(live["playlist_url"].is_null());

        let (code, _, _) = stack.stagectl(&["channel", "delete", "cooking"]);
        assert_eq!(code, 0);
        let (code, _, _) = stack.stagectl(&["channel", "show", "cooking"]);
        assert_eq!(code, 3);
        assert!(stack.get_json("/channels/cooking").await.is_none());

        // status: every daemon up.
        let status = stack.stagectl_json(&["status"]);
        for d in ["ingestd", "packagerd", "chatd", "billingd"] {
            assert_eq!(status[d]["up"], true, "{d}: {status}");
        }
        let (code, human, _) = stack.stagectl(&["status"]);
        assert_eq!(code, 0);
        assert!(
            human.contains("packagerd") && human.contains("up"),
            "{human}"
        );
        // The demo channel's key was printed once by `stagectl up`.
        assert!(stack.up_stdout().contains("live_"), "{}", stack.up_stdout());
    }
}

#[tokio::test]
async fn up_stops_every_daemon_on_sigterm_and_shows_the_key_only_on_first_run() {
    for backend in backends() {
        let Some(mut stack) = Stack::start(backend).await else {
            continue;
        };
        let first = stack.up_stdout();
        assert!(first.contains("Stream Key       live_"), "{first}");
        assert!(
            first.contains("/watch/demo") && first.contains("/live"),
            "{first}"
        );
        let daemons = ["ingestd", "packagerd", "chatd", "billingd"];
        for d in daemons {
            assert_eq!(stack.daemon_pids(d).len(), 1, "{d} not running");
        }
        let status = stack.shutdown().expect("stagectl up exit status");
        assert!(status.success(), "stagectl up exited with {status}");
        for d in daemons {
            assert!(
                stack.daemon_pids(d).is_empty(),
                "{d} still running after stagectl up stopped"
            );
        }
        // Second run on the same data dir: no key, a hint instead.
        stack.spawn_up().await;
        let second = stack.up_stdout();
        assert!(!second.contains("live_"), "{second}");
        assert!(second.contains("stagectl key rotate demo"), "{second}");
    }
}

#[test]
fn bad_config_names_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("typo.toml");
    std::fs::write(&cfg, "[ingestd]\nreconect_grace = \"10s\"\n").unwrap();
    for bin in ["stagectl", "ingestd", "packagerd", "chatd", "billingd"] {
        let mut cmd = Command::new(bin_dir().join(bin));
        cmd.arg("--config").arg(&cfg);
        if bin == "stagectl" {
            cmd.args(["channel", "list"]);
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bin}: {err}");
        assert!(
            err.contains(&*cfg.to_string_lossy()),
            "{bin} does not name the file: {err}"
        );
        assert!(
            err.contains("reconect_grace") && err.contains("ingestd"),
            "{bin} does not name the key: {err}"
        );
    }
    std::fs::write(&cfg, "[packagerd]\nsegment_duration = \"soon\"\n").unwrap();
    let out = Command::new(bin_dir().join("packagerd"))
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("packagerd.segment_duration"), "{err}");
}

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    let Ok(which) = Command::new("systemd-analyze").arg("--version").output() else {
        assert!(
            std::env::var("CI").is_err(),
            "systemd-analyze is required under CI (scripts/setup.sh installs it)"
        );
        eprintln!("SKIPPED: systemd-analyze not installed");
        return;
    };
    assert!(which.status.success());
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../systemd");
    let dir = tempfile::tempdir().unwrap();
    let bins = bin_dir();
    let mut units = Vec::new();
    for e in std::fs::read_dir(&src).unwrap().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap();
        // Point ExecStart at the binaries just built (verify checks they exist).
        let text = text.replace("/usr/local/bin/", &format!("{}/", bins.display()));
        let dst = dir.path().join(e.file_name());
        std::fs::write(&dst, text).unwrap();
        units.push(dst);
    }
    assert_eq!(units.len(), 5, "expected 4 services and a target");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&units)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for u in units
        .iter()
        .filter(|u| u.extension().is_some_and(|e| e == "service"))
    {
        let out = Command::new("systemd-analyze")
            .args(["security", "--offline=true"])
            .arg(u)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let level: f64 = text
            .lines()
            .find_map(|l| l.split("Overall exposure level for ").nth(1))
            .and_then(|l| l.split(": ").nth(1))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no exposure level for {}: {text}", u.display()));
        assert!(level <= 4.0, "{}: exposure {level} over 4.0", u.display());
    }
}
