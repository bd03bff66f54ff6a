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

        // logs: under `stagectl up`, the data dir's files.
        let (code, logs, err) = stack.stagectl(&["logs", "ingestd", "-n", "200"]);
        assert_eq!(code, 0, "{err}");
        assert!(logs.contains("ingestd listening"), "{logs}");
        let (code, _, err) = stack.stagectl(&["logs", "nosuchd"]);
        assert_eq!(code, 2, "{err}");

        // doctor: the running daemons hold their ports; the database is
        // reachable and migrated.
        let (code, out, err) = stack.stagectl(&["doctor", "--json"]);
        assert_eq!(code, 0, "{out}{err}");
        let checks: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
        let find = |name: &str| {
            checks
                .iter()
                .find(|c| c["check"] == name)
                .unwrap_or_else(|| panic!("no {name} check: {out}"))
        };
        assert!(
            find("port chatd.listen")["detail"]
                .as_str()
                .unwrap()
                .contains("chatd is running"),
            "{out}"
        );
        let db = find("database")["detail"].as_str().unwrap().to_string();
        assert!(db.contains("migrations applied"), "{db}");
        let (applied, known) = db
            .split(", ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|s| s.split_once('/'))
            .unwrap();
        assert_eq!(applied, known, "{db}");
        for name in ["ffmpeg libraries", "codec libx264", "disk space", "clock"] {
            assert_ne!(find(name)["status"], "FAIL", "{out}");
        }
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

/// Copies the units in `src` into `dst` with their ExecStart pointed at the
/// binaries in `bins` (verify checks they exist) and runs `systemd-analyze
/// verify` on them: the copies, or None when systemd-analyze is missing
/// (never under CI).
fn verify_units(
    src: &std::path::Path,
    bins: &std::path::Path,
    dst: &std::path::Path,
) -> Option<Vec<std::path::PathBuf>> {
    let Ok(which) = Command::new("systemd-analyze").arg("--version").output() else {
        assert!(
            std::env::var("CI").is_err(),
            "systemd-analyze is required under CI (scripts/setup.sh installs it)"
        );
        eprintln!("SKIPPED: systemd-analyze not installed");
        return None;
    };
    assert!(which.status.success());
    let mut units = Vec::new();
    for e in std::fs::read_dir(src).unwrap().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap();
        let text = text.replace("/usr/local/bin/", &format!("{}/", bins.display()));
        let to = dst.join(e.file_name());
        std::fs::write(&to, text).unwrap();
        units.push(to);
    }
    assert_eq!(
        units.len(),
        5,
        "expected 4 services and a target in {}",
        src.display()
    );
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
    Some(units)
}

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../systemd");
    let dir = tempfile::tempdir().unwrap();
    let Some(units) = verify_units(&src, &bin_dir(), dir.path()) else {
        return;
    };
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

#[test]
fn config_check_names_the_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("stage.toml");
    std::fs::write(
        &cfg,
        "# StreamStage\ndata_dir = \"/tmp/x\"\n\n[ingestd]\nlisten = \"127.0.0.1:1935\"\nreconect_grace = \"10s\"\n",
    )
    .unwrap();
    let out = Command::new(bin_dir().join("stagectl"))
        .args(["config", "check"])
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with(&format!(
            "{}:6: key `ingestd.reconect_grace`",
            cfg.display()
        )),
        "{err}"
    );
    // A value problem found after parsing is placed too.
    std::fs::write(
        &cfg,
        "[packagerd]\nsegment_duration = \"2s\"\npart_duration = \"1500ms\"\n",
    )
    .unwrap();
    let out = Command::new(bin_dir().join("stagectl"))
        .args(["--json", "config", "check"])
        .arg(&cfg)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(v["valid"], false);
    assert_eq!(v["line"], 3, "{v}");
    assert_eq!(v["key"], "packagerd.part_duration");
    // The shipped configs are valid.
    for shipped in ["stage.toml", "production.toml"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../configs")
            .join(shipped);
        let out = Command::new(bin_dir().join("stagectl"))
            .args(["config", "check"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{shipped}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn completions_and_man_pages_come_from_the_cli_definition() {
    let out = Command::new(bin_dir().join("stagectl"))
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let bash = String::from_utf8_lossy(&out.stdout);
    for word in ["stagectl", "dash", "doctor", "rotate", "--members-only"] {
        assert!(bash.contains(word), "bash completion lacks {word}");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin_dir().join("stagectl"))
        .args(["man", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for page in [
        "stagectl.1",
        "stagectl-dash.1",
        "stagectl-key-rotate.1",
        "stagectl-config-check.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(page))
            .unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page} is not a man page");
    }
    // Usage errors exit 2 (clap), like bad config.
    let out = Command::new(bin_dir().join("stagectl"))
        .arg("frobnicate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn daemons_tell_systemd_they_are_ready_feed_the_watchdog_and_say_when_stopping() {
    let Some(stack) = Stack::prepare(stage_e2e::Backend::Sqlite, "").await else {
        return;
    };
    let sock_path = stack.dir.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut chatd = Command::new(bin_dir().join("chatd"))
        .arg("--config")
        .arg(&stack.config)
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "400000")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    let started = std::time::Instant::now();
    while got
        .iter()
        .filter(|m: &&String| m.contains("WATCHDOG=1"))
        .count()
        < 3
    {
        let n = sock.recv(&mut buf).expect("a notification from chatd");
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(got[0].contains("READY=1"), "first: {got:?}");
    // Three pings at half of WATCHDOG_USEC apart.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{got:?}"
    );
    // chatd answers by the time it says ready.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(chatd.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    loop {
        let n = sock.recv(&mut buf).expect("STOPPING=1 from chatd");
        if String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1") {
            break;
        }
    }
    assert!(chatd.wait().unwrap().success());
}

#[tokio::test]
async fn doctor_fails_on_a_port_taken_by_another_program_and_names_the_key() {
    let Some(stack) = Stack::prepare(stage_e2e::Backend::Sqlite, "").await else {
        return;
    };
    let _squatter = std::net::TcpListener::bind(("127.0.0.1", stack.ports.chat)).unwrap();
    let (code, out, err) = stack.stagectl(&["doctor"]);
    assert_eq!(code, 1, "{out}{err}");
    let line = out
        .lines()
        .find(|l| l.contains("port chatd.listen"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.contains("FAIL") && line.contains("change `chatd.listen`"),
        "{line}"
    );
    assert!(
        out.contains("does not exist yet"),
        "a fresh data dir: {out}"
    );
}

#[test]
fn install_script_stages_binaries_config_units_and_man_pages_that_verify() {
    let root = tempfile::tempdir().unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/install.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("--root")
        .arg(root.path())
        .arg("--bin-dir")
        .arg(bin_dir())
        .arg("--no-start")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let r = root.path();
    for f in [
        "usr/local/bin/stagectl",
        "usr/local/bin/ingestd",
        "usr/local/bin/billingd",
        "etc/streamstage/stage.toml",
        "etc/systemd/system/streamstage.target",
        "etc/systemd/system/streamstage-packagerd.service",
        "usr/local/share/man/man1/stagectl-dash.1",
        "usr/share/bash-completion/completions/stagectl",
    ] {
        assert!(r.join(f).exists(), "{f} not installed");
    }
    // An existing config is kept.
    std::fs::write(r.join("etc/streamstage/stage.toml"), "# mine\n").unwrap();
    let out = Command::new("bash")
        .arg(&script)
        .args(["--root"])
        .arg(r)
        .arg("--bin-dir")
        .arg(bin_dir())
        .arg("--no-start")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(r.join("etc/streamstage/stage.toml")).unwrap(),
        "# mine\n"
    );
    // The installed units, pointed at the staged binaries, verify.
    let dir = tempfile::tempdir().unwrap();
    verify_units(
        &r.join("etc/systemd/system"),
        &r.join("usr/local/bin"),
        dir.path(),
    );
}
