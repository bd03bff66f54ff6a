//! Harness for end-to-end tests: runs the real, built binaries (`stagectl up`
//! and the four daemons) in a temp data dir on free loopback ports, publishes
//! with the `ffmpeg` CLI and checks with ffprobe, HTTP and Chromium.
//!
//! Build the binaries first (`cargo build --release --bins`); the README's
//! test command does.

pub mod browser;
pub mod impair;
pub mod llhls;
pub mod rtmp_client;

use anyhow::{Context, bail};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which database a stack runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Panics print their message and place only: an end-to-end test's
/// backtrace is the async runtime's frames, and CI shows the tail of the
/// log, where the message (with its stall report) must be.
pub fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|info| eprintln!("{info}"))));
}

/// Where `playback_note` writes: the build's `e2e-playback.txt`, which
/// `.ci/run` prints at the end of every run, passed or failed.
pub fn playback_notes() -> PathBuf {
    bin_dir().join("e2e-playback.txt")
}

/// Appends a line about a playback test's run (its waits and stalls) to
/// `playback_notes()`: CI shows a log's tail, and a passing test's output
/// is not in it, so how near the player came to stalling would be lost.
pub fn playback_note(test: &str, text: &str) {
    use std::io::Write;
    let line = format!("{test}: {}\n", text.replace('\n', "\n    "));
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(playback_notes());
    if let Ok(mut f) = f {
        let _ = f.write_all(line.as_bytes());
    }
}

/// The directory holding the built binaries (beside this test's `deps/`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf();
    for b in ["stagectl", "ingestd", "packagerd", "chatd", "billingd"] {
        assert!(
            dir.join(b).exists(),
            "{} missing: build the binaries first with `cargo build --release --bins` (scripts/test.sh does)",
            dir.join(b).display()
        );
    }
    dir
}

/// Free loopback ports (bound together, then released).
pub fn free_ports(n: usize) -> Vec<u16> {
    let ls: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    ls.iter()
        .map(|l| l.local_addr().expect("addr").port())
        .collect()
}

/// The ports one stack uses.
#[derive(Debug, Clone)]
pub struct Ports {
    pub rtmp: u16,
    pub http: u16,
    pub media: u16,
    pub ingest_admin: u16,
    pub packager_admin: u16,
    pub chat: u16,
    pub chat_admin: u16,
    pub billing: u16,
    pub billing_admin: u16,
}

/// A running `stagectl up` with its own data dir, config and ports.
pub struct Stack {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub ports: Ports,
    pub backend: Backend,
    up: Option<Child>,
    http: reqwest::Client,
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(mut c) = self.up.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Stack {
    /// Writes a config for `backend` and starts `stagectl up`. Returns `None`
    /// (having said why) when PostgreSQL is wanted but unavailable outside CI.
    pub async fn start(backend: Backend) -> Option<Stack> {
        Self::start_with(backend, "").await
    }

    /// Like `start`, with extra config lines appended to `[packagerd]`.
    pub async fn start_with(backend: Backend, packagerd_extra: &str) -> Option<Stack> {
        let mut stack = Self::prepare(backend, packagerd_extra).await?;
        stack.spawn_up().await;
        Some(stack)
    }

    /// Writes the config and data dir, starting nothing.
    pub async fn prepare(backend: Backend, packagerd_extra: &str) -> Option<Stack> {
        quiet_panics();
        let db_url = match backend {
            Backend::Sqlite => String::new(),
            Backend::Postgres => stage_testing::postgres_url().await?,
        };
        let p = free_ports(9);
        let ports = Ports {
            rtmp: p[0],
            http: p[1],
            media: p[2],
            ingest_admin: p[3],
            packager_admin: p[4],
            chat: p[5],
            chat_admin: p[6],
            billing: p[7],
            billing_admin: p[8],
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("stage.toml");
        let text = format!(
            r#"data_dir = "{data}"
[log]
level = "info,ingestd=debug"
[database]
url = "{db_url}"
[ingestd]
listen = "127.0.0.1:{rtmp}"
admin_listen = "127.0.0.1:{ia}"
packager_media = "127.0.0.1:{media}"
[packagerd]
listen = "127.0.0.1:{http}"
admin_listen = "127.0.0.1:{pa}"
media_listen = "127.0.0.1:{media}"
{packagerd_extra}
[chatd]
listen = "127.0.0.1:{chat}"
admin_listen = "127.0.0.1:{ca}"
[billingd]
listen = "127.0.0.1:{bill}"
admin_listen = "127.0.0.1:{ba}"
"#,
            data = dir.path().join("data").display(),
            rtmp = ports.rtmp,
            ia = ports.ingest_admin,
            media = ports.media,
            http = ports.http,
            pa = ports.packager_admin,
            chat = ports.chat,
            ca = ports.chat_admin,
            bill = ports.billing,
            ba = ports.billing_admin,
        );
        std::fs::write(&config, text).expect("write config");
        let stack = Stack {
            dir,
            config,
            ports,
            backend,
            up: None,
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client"),
        };
        Some(stack)
    }

    /// Starts `stagectl up` (again) on this stack's config and waits for its banner.
    pub async fn spawn_up(&mut self) {
        let out = std::fs::File::create(self.dir.path().join("up.out")).expect("up.out");
        let err = std::fs::File::create(self.dir.path().join("up.err")).expect("up.err");
        let child = Command::new(bin_dir().join("stagectl"))
            .arg("--config")
            .arg(&self.config)
            .arg("up")
            .env_remove("STAGE_DATA_DIR")
            .env_remove("STAGE_CONFIG")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn stagectl up");
        self.up = Some(child);
        let s = &*self;
        s.wait_until(
            "stagectl up prints its banner",
            Duration::from_secs(30),
            || async { s.up_stdout().contains("Watch") },
        )
        .await;
    }

    /// Sends SIGTERM to `stagectl up` and waits (up to 20 s) for it to exit.
    pub fn shutdown(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.up.take()?;
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(c.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        c.wait().ok()
    }

    /// The stack's database, as the daemons see it.
    pub async fn db(&self) -> stage_core::Db {
        let cfg = stage_core::Config::load(Some(&self.config)).expect("config");
        stage_core::Db::open(&cfg).await.expect("database")
    }

    /// What `stagectl up` printed.
    pub fn up_stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("up.out")).unwrap_or_default()
    }

    /// What `stagectl up` printed on stderr (restarts are reported there).
    pub fn up_stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("up.err")).unwrap_or_default()
    }

    /// A daemon's log.
    pub fn log(&self, daemon: &str) -> String {
        std::fs::read_to_string(
            self.dir
                .path()
                .join("data/logs")
                .join(format!("{daemon}.log")),
        )
        .unwrap_or_default()
    }

    /// Runs stagectl with this stack's config; returns (exit code, stdout, stderr).
    pub fn stagectl(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(bin_dir().join("stagectl"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("STAGE_DATA_DIR")
            .env_remove("STAGE_CONFIG")
            .output()
            .expect("run stagectl");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs stagectl with `--json`, expecting success.
    pub fn stagectl_json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        let (code, out, err) = self.stagectl(&a);
        assert_eq!(code, 0, "stagectl {args:?} failed: {err}");
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("stagectl {args:?}: bad JSON ({e}): {out}"))
    }

    /// Creates a channel; returns its stream key.
    pub fn create_channel(&self, name: &str) -> String {
        let v = self.stagectl_json(&["channel", "create", name]);
        v["stream_key"].as_str().expect("stream_key").to_string()
    }

    /// `rtmp://127.0.0.1:PORT/live/KEY`.
    pub fn rtmp_url(&self, key: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{key}", self.ports.rtmp)
    }

    /// A URL on packagerd's public listener.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.ports.http)
    }

    /// GET JSON from packagerd; None on a non-2xx or a connection error.
    pub async fn get_json(&self, path: &str) -> Option<serde_json::Value> {
        let r = self.http.get(self.url(path)).send().await.ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.json().await.ok()
    }

    /// GET text from packagerd.
    pub async fn get_text(&self, path: &str) -> Option<String> {
        let r = self.http.get(self.url(path)).send().await.ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.text().await.ok()
    }

    /// GET bytes from packagerd.
    pub async fn get_bytes(&self, path: &str) -> Option<bytes::Bytes> {
        let r = self.http.get(self.url(path)).send().await.ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.bytes().await.ok()
    }

    /// GET an admin /status with the token.
    pub async fn admin_status(&self, port: u16) -> Option<serde_json::Value> {
        let token = std::fs::read_to_string(self.dir.path().join("data/admin.token")).ok()?;
        let r = self
            .http
            .get(format!("http://127.0.0.1:{port}/status"))
            .bearer_auth(token.trim())
            .send()
            .await
            .ok()?;
        r.json().await.ok()
    }

    /// POSTs JSON to `path` on a daemon's public `port` (as `token`'s user
    /// when given): the status and the JSON body (Null when there is none).
    pub async fn post_json(
        &self,
        port: u16,
        path: &str,
        token: Option<&str>,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let mut r = self
            .http
            .post(format!("http://127.0.0.1:{port}{path}"))
            .timeout(Duration::from_secs(10))
            .json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let res = r.send().await.expect("POST");
        let s = res.status().as_u16();
        (s, res.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Registers a viewer called `name` through billingd; their login token.
    pub async fn register(&self, name: &str) -> String {
        let body = serde_json::json!({
            "username": name,
            "email": format!("{name}@example.com"),
            "password": format!("{name}'s long password"),
        });
        let (s, v) = self
            .post_json(self.ports.billing, "/auth/register", None, body)
            .await;
        assert_eq!(s, 201, "register {name}: {v}");
        v["token"].as_str().expect("login token").to_string()
    }

    /// Posts `body` to the stream's chat over chatd's REST API as `token`'s
    /// user; the status.
    pub async fn post_chat(&self, stream_id: i64, token: &str, body: &str) -> u16 {
        let path = format!("/streams/{stream_id}/chat");
        let msg = serde_json::json!({ "body": body });
        self.post_json(self.ports.chat, &path, Some(token), msg)
            .await
            .0
    }

    /// The channel's `/live` document.
    pub async fn live(&self, channel: &str) -> serde_json::Value {
        self.get_json(&format!("/channels/{channel}/live"))
            .await
            .unwrap_or(serde_json::Value::Null)
    }

    /// Waits until the channel's HLS is ready; returns the stream id.
    pub async fn wait_live(&self, channel: &str, limit: Duration) -> i64 {
        self.wait_until(
            &format!("channel {channel} live with segments"),
            limit,
            || async { self.live(channel).await["ready"] == true },
        )
        .await;
        self.live(channel).await["stream_id"].as_i64().unwrap_or(0)
    }

    /// Waits until the channel's live media playlist lists at least `n` segments.
    pub async fn wait_segments(&self, channel: &str, n: usize, limit: Duration) {
        let path = format!("/hls/{channel}/source/index.m3u8");
        self.wait_until(&format!("{n} segments on {channel}"), limit, || async {
            let t = self.get_text(&path).await.unwrap_or_default();
            parse_media_playlist(&t).0.len() >= n
        })
        .await;
    }

    /// Polls `cond` every 100 ms until true; panics with `what` and the logs after `limit`.
    pub async fn wait_until<F, Fut>(&self, what: &str, limit: Duration, mut cond: F) -> Duration
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let start = Instant::now();
        loop {
            if cond().await {
                return start.elapsed();
            }
            if start.elapsed() > limit {
                panic!(
                    "timed out after {limit:?} waiting for: {what}\n--- stagectl up stderr:\n{}\n--- ingestd:\n{}\n--- packagerd:\n{}",
                    self.up_stderr(),
                    tail(&self.log("ingestd"), 40),
                    tail(&self.log("packagerd"), 40)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// PIDs of a daemon run by this stack's `stagectl up`.
    pub fn daemon_pids(&self, daemon: &str) -> Vec<i32> {
        let run_cfg = self.dir.path().join("data/run/stage.toml");
        let run_cfg = run_cfg.to_string_lossy();
        let mut pids = Vec::new();
        if let Ok(rd) = std::fs::read_dir("/proc") {
            for e in rd.flatten() {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                    continue;
                };
                let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
                    continue;
                };
                let args: Vec<String> = cmd
                    .split(|b| *b == 0)
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                if args
                    .first()
                    .is_some_and(|a| a.ends_with(&format!("/{daemon}")))
                    && args.iter().any(|a| a.contains(&*run_cfg))
                {
                    pids.push(pid);
                }
            }
        }
        pids
    }
}

/// The last `n` lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// What to publish with ffmpeg.
#[derive(Debug, Clone)]
pub struct Clip {
    pub size: &'static str,
    pub rate: u32,
    pub gop: u32,
    pub profile: &'static str,
    /// x264 preset (ultrafast cannot make High profile).
    pub preset: &'static str,
    pub bframes: u32,
    /// Video bit rate (kbit/s).
    pub video_kbps: u32,
    /// Audio sample rate and channel count; None for video-only.
    pub audio: Option<(u32, u32)>,
    pub video: bool,
    /// Seconds; None runs until killed.
    pub seconds: Option<u32>,
}

impl Clip {
    /// The issue's reference publish: 720p30, GOP 60, AAC 48 kHz.
    pub fn hd720() -> Clip {
        Clip {
            size: "1280x720",
            rate: 30,
            gop: 60,
            profile: "high",
            preset: "veryfast",
            bframes: 0,
            video_kbps: 1500,
            audio: Some((48000, 2)),
            video: true,
            seconds: None,
        }
    }

    /// A light publish for long tests on small machines: 640x360 30 fps,
    /// 2 s GOP, baseline, AAC 48 kHz.
    pub fn small() -> Clip {
        Clip {
            size: "640x360",
            rate: 30,
            gop: 60,
            profile: "baseline",
            preset: "ultrafast",
            bframes: 0,
            video_kbps: 1500,
            audio: Some((48000, 2)),
            video: true,
            seconds: None,
        }
    }

    /// ffmpeg arguments publishing to `url`.
    pub fn args(&self, url: &str) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "-hide_banner".into(),
            "-loglevel".into(),
            "error".into(),
            "-re".into(),
        ];
        if self.video {
            a.extend(["-f", "lavfi", "-i"].map(String::from));
            a.push(format!("testsrc2=size={}:rate={}", self.size, self.rate));
        }
        if let Some((rate, ch)) = self.audio {
            a.extend(["-f", "lavfi", "-i"].map(String::from));
            a.push(format!("sine=frequency=440:sample_rate={rate}"));
            a.extend(["-ac".into(), ch.to_string()]);
        }
        if let Some(s) = self.seconds {
            a.extend(["-t".into(), s.to_string()]);
        }
        if self.video {
            a.extend(
                [
                    "-c:v",
                    "libx264",
                    "-pix_fmt",
                    "yuv420p",
                    "-sc_threshold",
                    "0",
                ]
                .map(String::from),
            );
            a.extend(["-preset".into(), self.preset.into()]);
            a.extend([
                "-profile:v".into(),
                self.profile.into(),
                "-g".into(),
                self.gop.to_string(),
                "-bf".into(),
                self.bframes.to_string(),
            ]);
            a.extend(["-b:v".into(), format!("{}k", self.video_kbps)]);
        }
        if self.audio.is_some() {
            a.extend(["-c:a", "aac", "-b:a", "96k"].map(String::from));
        }
        a.extend(["-f".into(), "flv".into(), url.into()]);
        a
    }
}

/// An ffmpeg publisher process.
pub struct Publisher {
    pub child: Child,
    pub stderr: PathBuf,
}

impl Publisher {
    /// Starts ffmpeg publishing `clip` to `url`; its stderr goes to a file in `dir`.
    pub fn start(clip: &Clip, url: &str, dir: &Path) -> Publisher {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Publisher::spawn(clip.args(url), dir.join(format!("ffmpeg-{n}.err")))
    }

    /// Runs ffmpeg with `args`, its stderr into the file `stderr`.
    pub fn spawn(args: Vec<String>, stderr: PathBuf) -> Publisher {
        let child = Command::new("ffmpeg")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).expect("ffmpeg stderr"))
            .spawn()
            .expect("ffmpeg must be installed (scripts/setup.sh installs it)");
        Publisher { child, stderr }
    }

    /// Pre-encodes `clip` (which must have `seconds`) into `dir` and
    /// publishes that file in a loop with `-c copy`: a publisher that costs
    /// almost no CPU, for tests whose subject is the player, not the encoder.
    pub fn start_copy(clip: &Clip, url: &str, dir: &Path) -> Publisher {
        Publisher::start_copy_looped(clip, url, dir, -1)
    }

    /// As `start_copy`, playing the file `1 + loops` times (-1: forever);
    /// ffmpeg then ends the stream cleanly and exits.
    pub fn start_copy_looped(clip: &Clip, url: &str, dir: &Path, loops: i32) -> Publisher {
        let file = dir.join("loop.flv");
        let mut args = clip.args(file.to_str().expect("utf-8 path"));
        args.retain(|a| a != "-re");
        args.insert(0, "-y".into());
        let st = Command::new("ffmpeg")
            .args(&args)
            .stdin(Stdio::null())
            .status()
            .expect("ffmpeg must be installed (scripts/setup.sh installs it)");
        assert!(st.success(), "pre-encoding the clip failed");
        let mut args: Vec<String> = ["-hide_banner", "-loglevel", "error", "-re", "-stream_loop"]
            .map(String::from)
            .into();
        args.push(loops.to_string());
        args.push("-i".into());
        args.push(file.to_str().expect("utf-8 path").into());
        args.extend(["-c", "copy", "-f", "flv", url].map(String::from));
        Publisher::spawn(args, dir.join("ffmpeg-copy.err"))
    }

    /// Whether ffmpeg is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL (an abrupt drop: no FCUnpublish).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGINT: ffmpeg finishes cleanly (FCUnpublish/deleteStream).
    pub fn stop_cleanly(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        );
        let _ = self.child.wait();
    }

    /// What ffmpeg printed.
    pub fn errors(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs ffprobe with `args` and parses its JSON output.
pub fn ffprobe_json(args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json"])
        .args(args)
        .output()
        .context("ffprobe must be installed")?;
    if !out.status.success() {
        bail!("ffprobe {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Parses a media playlist into (EXTINF durations, URIs, discontinuity count, map URIs).
pub fn parse_media_playlist(text: &str) -> (Vec<f64>, Vec<String>, usize, Vec<String>) {
    let mut durs = Vec::new();
    let mut uris = Vec::new();
    let mut maps = Vec::new();
    let mut disc = 0;
    for line in text.lines() {
        if let Some(d) = line.strip_prefix("#EXTINF:") {
            durs.push(
                d.trim_end_matches(',')
                    .split(',')
                    .next()
                    .unwrap_or("0")
                    .parse()
                    .unwrap_or(0.0),
            );
        } else if line == "#EXT-X-DISCONTINUITY" {
            disc += 1;
        } else if let Some(m) = line.strip_prefix("#EXT-X-MAP:URI=\"") {
            maps.push(m.trim_end_matches('"').to_string());
        } else if !line.starts_with('#') && !line.is_empty() {
            uris.push(line.to_string());
        }
    }
    (durs, uris, disc, maps)
}

/// Free addresses for in-process servers.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Backends this run covers: SQLite always, PostgreSQL when reachable (always under CI).
pub fn backends() -> Vec<Backend> {
    vec![Backend::Sqlite, Backend::Postgres]
}
