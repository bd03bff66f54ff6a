//! `stagectl dash` in a real terminal (tmux) against the real daemons, while
//! ffmpeg publishes; and a killed daemon seen as down by the dashboard and
//! by `stagectl status`.

use stage_e2e::{Backend, Publisher, Stack, bin_dir, tail};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The daemons, run directly (not under `stagectl up`, which would restart
/// a killed one at once).
struct Daemons(Vec<(&'static str, Child)>);

impl Daemons {
    fn start(stack: &Stack) -> Daemons {
        let mut v = Vec::new();
        for d in ["ingestd", "packagerd", "chatd", "billingd"] {
            let log = std::fs::File::create(stack.dir.path().join(format!("{d}.log"))).unwrap();
            let child = Command::new(bin_dir().join(d))
                .arg("--config")
                .arg(&stack.config)
                .env_remove("NOTIFY_SOCKET")
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap();
            v.push((d, child));
        }
        Daemons(v)
    }

    fn kill(&mut self, name: &str) {
        let (_, c) = self.0.iter_mut().find(|(n, _)| *n == name).unwrap();
        c.kill().unwrap();
        c.wait().unwrap();
    }
}

impl Drop for Daemons {
    fn drop(&mut self) {
        for (_, c) in &mut self.0 {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        for (_, c) in &mut self.0 {
            let _ = c.wait();
        }
    }
}

/// A tmux server of our own (its socket in the test's temp dir).
struct Tmux {
    socket: std::path::PathBuf,
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.socket);
        c
    }

    fn capture(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "dash"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &str) {
        assert!(
            self.cmd()
                .args(["send-keys", "-t", "dash", keys])
                .status()
                .unwrap()
                .success()
        );
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

/// The KB/S cell of `channel`'s row in the streams table.
fn bitrate_cell(screen: &str, channel: &str) -> Option<u64> {
    let row = screen.lines().find(|l| l.starts_with(channel))?;
    let cells: Vec<&str> = row.split_whitespace().collect();
    // CHANNEL ST UPTIME KB/S …
    cells.get(3)?.trim_end_matches('▼').parse().ok()
}

/// The publisher's own figure: ffmpeg's `-progress` reports the bitrate of
/// what it has written so far.
fn publisher_kbps(progress: &std::path::Path) -> Option<f64> {
    let text = std::fs::read_to_string(progress).ok()?;
    text.lines()
        .rev()
        .find_map(|l| l.strip_prefix("bitrate="))
        .and_then(|b| b.trim().trim_end_matches("kbits/s").parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dash_under_tmux_shows_live_figures_moderates_chat_makes_a_channel_and_sees_a_killed_daemon_down()
 {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(
            std::env::var("CI").is_err(),
            "tmux is required under CI (scripts/setup.sh installs it)"
        );
        eprintln!("SKIPPED: tmux not installed");
        return;
    }
    let stack = Stack::prepare(Backend::Sqlite, "").await.unwrap();
    let mut daemons = Daemons::start(&stack);
    let s = &stack;
    s.wait_until("the daemons answer", Duration::from_secs(30), || async {
        s.stagectl(&["status"]).0 == 0
    })
    .await;
    let key = stack.create_channel("tmuxcast");

    // A constant-bitrate publish (x264 pads to the rate): 800 kb/s video,
    // 64 kb/s audio.
    let progress = stack.dir.path().join("progress.txt");
    let args: Vec<String> = [
        "-hide_banner",
        "-loglevel",
        "error",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=30",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        "60",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "60",
        "-sc_threshold",
        "0",
        "-b:v",
        "800k",
        "-minrate",
        "800k",
        "-maxrate",
        "800k",
        "-bufsize",
        "800k",
        "-x264-params",
        "nal-hrd=cbr",
        "-c:a",
        "aac",
        "-b:a",
        "64k",
        "-progress",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([
        progress.display().to_string(),
        "-f".into(),
        "flv".into(),
        stack.rtmp_url(&key),
    ])
    .collect();
    let mut publisher = Publisher::spawn(args, stack.dir.path().join("ffmpeg.err"));

    let tmux = Tmux {
        socket: stack.dir.path().join("tmux.sock"),
    };
    let dash = format!(
        "{} --config {} dash; echo DASH-EXIT=$?; sleep 60",
        bin_dir().join("stagectl").display(),
        stack.config.display()
    );
    assert!(
        tmux.cmd()
            .args(["new-session", "-d", "-s", "dash", "-x", "80", "-y", "24"])
            .arg(&dash)
            .env("TERM", "xterm-256color")
            .status()
            .unwrap()
            .success()
    );

    // The row appears once ingestd has the stream.
    let t = &tmux;
    s.wait_until(
        "the dashboard lists tmuxcast",
        Duration::from_secs(30),
        || async { bitrate_cell(&t.capture(), "tmuxcast").is_some_and(|b| b > 0) },
    )
    .await;
    // Once the 5 s window is full, the cell follows the publisher's figure.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let mut compared = Vec::new();
    for _ in 0..3 {
        let screen = tmux.capture();
        let cell = bitrate_cell(&screen, "tmuxcast")
            .unwrap_or_else(|| panic!("no bitrate for tmuxcast in:\n{screen}"));
        let theirs = publisher_kbps(&progress).expect("ffmpeg progress");
        let off = (cell as f64 - theirs) / theirs;
        assert!(
            off.abs() <= 0.20,
            "dashboard {cell} kb/s vs publisher {theirs:.0} kb/s ({:+.0}%):\n{screen}",
            off * 100.0
        );
        compared.push((cell, theirs));
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    eprintln!("dashboard vs publisher kb/s: {compared:?}");
    let screen = tmux.capture();
    assert!(screen.contains("●chatd"), "{screen}");
    let row = screen.lines().find(|l| l.starts_with("tmuxcast")).unwrap();
    assert!(row.contains("live") && row.contains("2.0s"), "{row}");

    // A viewer writes in chat; the operator deletes it from the detail view.
    let token = stack.register("spammer").await;
    let stream_id = stack.wait_live("tmuxcast", Duration::from_secs(10)).await;
    let posted = stack
        .post_chat(stream_id, &token, "buy cheap followers")
        .await;
    assert_eq!(posted, 201);
    tmux.keys("Enter");
    s.wait_until(
        "the detail view with the chat",
        Duration::from_secs(10),
        || async {
            let sc = t.capture();
            sc.contains("#tmuxcast live")
                && sc.contains("Renditions source")
                && sc.contains("spammer: buy cheap followers")
        },
    )
    .await;
    tmux.keys("Up");
    tmux.keys("d");
    s.wait_until(
        "the message is deleted",
        Duration::from_secs(10),
        || async { t.capture().contains("spammer: (deleted)") },
    )
    .await;
    let history: serde_json::Value = reqwest::get(format!(
        "http://127.0.0.1:{}/streams/{stream_id}/chat",
        stack.ports.chat
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(history["messages"][0]["deleted"], true, "{history}");
    tmux.keys("Escape");
    // A channel made from the dashboard: its key is shown once, and works.
    tmux.keys("c");
    s.wait_until("the channels view", Duration::from_secs(10), || async {
        t.capture().contains("KEY ROTATED")
    })
    .await;
    tmux.keys("n");
    assert!(
        tmux.cmd()
            .args(["send-keys", "-t", "dash", "-l", "fromtui"])
            .status()
            .unwrap()
            .success()
    );
    tmux.keys("Enter");
    let mut shown = None;
    let started = Instant::now();
    while shown.is_none() && started.elapsed() < Duration::from_secs(10) {
        let sc = tmux.capture();
        if sc.contains("shown once") {
            shown = sc.split_once("live_").map(|(_, rest)| {
                let k: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                    .collect();
                format!("live_{k}")
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let new_key = shown.unwrap_or_else(|| panic!("no key shown:\n{}", tmux.capture()));
    let found = stack.db().await.channel_by_key(&new_key).await.unwrap();
    assert_eq!(found.map(|c| c.name).as_deref(), Some("fromtui"));
    tmux.keys("Escape");
    s.wait_until(
        "the new channel is listed",
        Duration::from_secs(10),
        || async { t.capture().lines().any(|l| l.starts_with("fromtui")) },
    )
    .await;
    tmux.keys("s");

    // Kill chatd: the dashboard and `stagectl status` say so within 2 s.
    daemons.kill("chatd");
    let killed = Instant::now();
    let mut tui = None;
    let mut status = None;
    while killed.elapsed() < Duration::from_secs(5) && (tui.is_none() || status.is_none()) {
        if tui.is_none() && tmux.capture().contains("✗chatd") {
            tui = Some(killed.elapsed());
        }
        if status.is_none() {
            let (code, out, _) = stack.stagectl(&["status", "--json"]);
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            if v["chatd"]["up"] == false {
                assert_eq!(code, 1, "status exits 1 when a daemon is down");
                assert_eq!(v["ingestd"]["up"], true);
                status = Some(killed.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("chatd shown down: dash after {tui:?}, stagectl status after {status:?}");
    let (tui, status) = (tui.expect("dash never showed chatd down"), status.unwrap());
    assert!(tui <= Duration::from_secs(2), "dash took {tui:?}");
    assert!(status <= Duration::from_secs(2), "status took {status:?}");
    // With chatd gone its columns are unknown, not zero.
    let screen = tmux.capture();
    let row = screen.lines().find(|l| l.starts_with("tmuxcast")).unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[10], "-", "CHAT with chatd down: {row}");

    // q quits and gives the terminal back.
    tmux.keys("q");
    s.wait_until("dash exits", Duration::from_secs(10), || async {
        t.capture().contains("DASH-EXIT=0")
    })
    .await;
    assert!(
        !tmux.capture().contains("Live streams"),
        "the alternate screen was left:\n{}",
        tmux.capture()
    );
    publisher.kill();
    assert!(
        publisher_kbps(&progress).is_some(),
        "{}",
        tail(&publisher.errors(), 10)
    );
}
