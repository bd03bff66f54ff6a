//! Headless Chromium at a watch page, driven by `browser/play.mjs`
//! (playwright-core) over stdin/stdout JSON lines.

use anyhow::{Context, bail};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// A browser showing one page.
pub struct Browser {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// What a failing playback test needs to say, in a few short lines: the
/// player's waits, errors, jumps and catch-ups, and for each stall the
/// playhead, what each SourceBuffer held and the last parts buffered
/// and the requests sent before it (`stagePlayer.stalls`, times relative
/// to the first stall). The whole
/// state, with a latency sample a second, is too long to read in CI's log.
pub fn stall_report(player: &serde_json::Value) -> String {
    report(player, false)
}

/// `stall_report` cut to fit a log's tail: the first stall only, with its
/// last 6 parts, 8 hls.js lines and 10 requests.
pub fn brief_stall_report(player: &serde_json::Value) -> String {
    report(player, true)
}

fn report(player: &serde_json::Value, brief: bool) -> String {
    let last = |v: &serde_json::Value, n: usize| -> Vec<serde_json::Value> {
        let a = v.as_array().cloned().unwrap_or_default();
        let n = if brief { n } else { a.len() };
        a[a.len().saturating_sub(n)..].to_vec()
    };
    let mut out = format!(
        "waits {} ms; errors {}; jumps {}; catch-ups {}; fall-backs {}; target {} s; unstuck {}; switches {}; ABR resets {}, aborts {} {}; target changes {}; {} stalls:",
        player["waits"],
        player["errors"],
        player["jumps"],
        player["catchups"],
        player["fallbacks"],
        player["target"],
        player["unstuck"],
        player["switches"],
        player["abrResets"],
        player["abrAborts"],
        player["abrLog"],
        serde_json::Value::Array(last(&player["targets"], 6)),
        player["stalls"].as_array().map_or(0, Vec::len)
    );
    let stalls = player["stalls"].as_array().cloned().unwrap_or_default();
    let t0 = stalls.first().and_then(|s| s["t"].as_i64()).unwrap_or(0);
    // The first few: later ones mostly repeat the first's cause.
    for s in stalls.iter().take(if brief { 1 } else { 4 }) {
        out += &format!(
            "\n  +{} ms (clock {}) {} at {} buffered {} video {} audio {} audiovideo {}",
            s["t"].as_i64().unwrap_or(0) - t0,
            s["t"].as_i64().unwrap_or(0) % 100_000,
            s["why"],
            s["at"],
            s["buffered"],
            s["video"],
            s["audio"],
            s["audiovideo"]
        );
        for r in last(&s["recent"], 6) {
            out += &format!(
                "\n    sn {} part {} start {} dur {} wait {} load {} buffered {} ms before",
                r["sn"],
                r["part"],
                r["start"],
                r["dur"],
                r["waitMs"],
                r["loadMs"],
                s["t"].as_i64().unwrap_or(0) - r["t"].as_i64().unwrap_or(0)
            );
        }
        for l in last(&s["hlsLog"], 8) {
            out += &format!("\n    hls.js {}", l.as_str().unwrap_or(""));
        }
        for r in last(&s["requests"], 10) {
            out += &format!(
                "\n    GET {} sent {} ms before, first byte +{}, end +{}, status {}",
                r["url"].as_str().unwrap_or(""),
                s["t"].as_i64().unwrap_or(0) - r["t"].as_i64().unwrap_or(0),
                r["first"],
                r["end"],
                r["status"]
            );
        }
    }
    // Chromium's media log: whether the demuxer ran dry (no data) or the
    // decoder fell behind (no CPU), with its clock beside the stalls'.
    for l in last(&player["media"], 12) {
        let l = l.as_str().unwrap_or("");
        let (clock, text) = l.split_once(' ').unwrap_or(("0", l));
        let clock: i64 = clock.parse().unwrap_or(0);
        out += &format!("\n  chromium +{} ms {text}", clock - t0);
    }
    out
}

impl Browser {
    /// Opens `url` in a fresh headless Chromium profile.
    pub async fn open(url: &str) -> anyhow::Result<Browser> {
        Browser::start(&[url]).await
    }

    /// A page at `origin` (any URL of the server: same-origin requests)
    /// playing the DASH manifest `mpd` with dash.js.
    pub async fn open_dash(origin: &str, mpd: &str) -> anyhow::Result<Browser> {
        Browser::start(&[origin, "--dash", mpd]).await
    }

    async fn start(args: &[&str]) -> anyhow::Result<Browser> {
        crate::quiet_panics();
        let root = workspace_root();
        if !root.join("node_modules/playwright-core").exists() {
            bail!(
                "playwright-core missing: run `npm ci` in {}",
                root.display()
            );
        }
        let mut child = Command::new("node")
            .arg(root.join("tests/e2e/browser/play.mjs"))
            .args(args)
            .current_dir(&root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting node (scripts/setup.sh installs it)")?;
        let stdin = child.stdin.take().context("stdin")?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut b = Browser {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        };
        let first = b.next(Duration::from_secs(60)).await?;
        if first["event"] != "loaded" {
            bail!("browser did not load the page: {first}");
        }
        Ok(b)
    }

    async fn next(&mut self, limit: Duration) -> anyhow::Result<serde_json::Value> {
        let line = tokio::time::timeout(limit, self.lines.next_line())
            .await
            .context("browser driver timed out")??
            .context("browser driver exited")?;
        Ok(serde_json::from_str(&line)?)
    }

    async fn command(&mut self, cmd: &str, limit: Duration) -> anyhow::Result<serde_json::Value> {
        self.stdin.write_all(format!("{cmd}\n").as_bytes()).await?;
        self.stdin.flush().await?;
        self.next(limit).await
    }

    /// Waits until the video's currentTime has advanced `secs`; returns the report.
    pub async fn wait_playing(
        &mut self,
        secs: f64,
        timeout_s: u64,
    ) -> anyhow::Result<serde_json::Value> {
        self.command(
            &format!("wait-time {secs} {timeout_s}"),
            Duration::from_secs(timeout_s + 30),
        )
        .await
    }

    /// The page's player state.
    pub async fn state(&mut self) -> anyhow::Result<serde_json::Value> {
        self.command("state", Duration::from_secs(30)).await
    }

    /// Waits up to `timeout_s` until the JavaScript expression `expr` (one
    /// line) is true in the page; the reply has `ok` and the page's `state`.
    pub async fn wait_until(
        &mut self,
        expr: &str,
        timeout_s: u64,
    ) -> anyhow::Result<serde_json::Value> {
        self.command(
            &format!("wait-until {timeout_s} {}", expr.replace('\n', " ")),
            Duration::from_secs(timeout_s + 30),
        )
        .await
    }

    /// Limits the page's downloads to `kbit_per_s` through DevTools network
    /// emulation (0 lifts the limit); returns the browser's clock (Unix ms)
    /// when the limit took effect.
    pub async fn throttle(&mut self, kbit_per_s: u32) -> anyhow::Result<i64> {
        let r = self
            .command(&format!("throttle {kbit_per_s}"), Duration::from_secs(30))
            .await?;
        r["at"].as_i64().context("throttle reply")
    }

    /// Sets the form field at `selector` to `value` as a user would (input
    /// and change events); the reply carries the page's state after.
    pub async fn fill(&mut self, selector: &str, value: &str) -> anyhow::Result<serde_json::Value> {
        self.command(&format!("fill {selector} {value}"), Duration::from_secs(30))
            .await
    }

    /// Clicks the element at `selector`.
    pub async fn click(&mut self, selector: &str) -> anyhow::Result<serde_json::Value> {
        self.command(&format!("click {selector}"), Duration::from_secs(30))
            .await
    }

    /// The value of the JavaScript expression `expr` (one line) in the page.
    pub async fn eval(&mut self, expr: &str) -> anyhow::Result<serde_json::Value> {
        let r = self
            .command(
                &format!("eval {}", expr.replace('\n', " ")),
                Duration::from_secs(30),
            )
            .await?;
        if r["event"] != "eval" {
            bail!("eval failed: {r}");
        }
        Ok(r["value"].clone())
    }

    /// Closes the browser.
    pub async fn close(mut self) {
        let _ = self.stdin.write_all(b"quit\n").await;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}
