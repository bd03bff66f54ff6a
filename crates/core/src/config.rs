//! The one TOML config file (`configs/stage.toml` documents every key).
//!
//! Unknown keys and bad values are errors that name the file and the key;
//! durations and sizes are written in human units (`2s`, `64MiB`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Errors loading or validating the config file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: key `{key}`: {message}")]
    Invalid {
        file: String,
        key: String,
        message: String,
    },
    /// An `Invalid` whose line in the file is known.
    #[error("{file}:{line}: key `{key}`: {message}")]
    At {
        file: String,
        line: usize,
        key: String,
        message: String,
    },
}

impl ConfigError {
    /// Adds the line of `key` in `text` (found from `span`, a byte range
    /// the parser reported, or else by looking for the key in its table).
    fn at(self, text: &str, span: Option<std::ops::Range<usize>>) -> ConfigError {
        let ConfigError::Invalid { file, key, message } = self else {
            return self;
        };
        let line = span
            .map(|r| text[..r.start.min(text.len())].matches('\n').count() + 1)
            .or_else(|| line_of_key(text, &key));
        match line {
            Some(line) => ConfigError::At {
                file,
                line,
                key,
                message,
            },
            None => ConfigError::Invalid { file, key, message },
        }
    }
}

/// The 1-based line where dotted `key` (`ingestd.listen`, `ladders.hd.rungs[0].height`)
/// is set: its last name, inside the table named by the rest.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    // Array indices and map keys do not name a table header line.
    let names: Vec<&str> = key
        .split('.')
        .map(|n| n.split('[').next().unwrap_or(n))
        .filter(|n| !n.is_empty())
        .collect();
    let mut table: Vec<String> = Vec::new();
    let mut found = None;
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if let Some(h) = l.strip_prefix('[') {
            let name = h.trim_start_matches('[').split(']').next().unwrap_or("");
            table = name
                .split('.')
                .map(|s| s.trim().trim_matches('"').to_string())
                .collect();
            // The table itself, when the key names one (`[billing.stripe]`).
            if table == names {
                found.get_or_insert(i + 1);
            }
            continue;
        }
        let Some((k, _)) = l.split_once('=') else {
            continue;
        };
        if l.starts_with('#') {
            continue;
        }
        // Dotted keys (`stripe.secret_key = …`) count too.
        let path: Vec<&str> = table
            .iter()
            .map(String::as_str)
            .chain(k.split('.').map(|s| s.trim().trim_matches('"')))
            .collect();
        if path == names {
            return Some(i + 1);
        }
    }
    found
}

/// A duration written like `2s`, `500ms` or `1h 30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(s.trim())
            .map(HumanDuration)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "`{s}` is not a duration ({e}); write e.g. `2s`, `500ms`, `10m`"
                ))
            })
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

/// A byte size written like `64MiB`, `512KB` or `1048576`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parses `123`, `64KiB`, `10MB`, `1GiB` (case-insensitive units).
    pub fn parse(s: &str) -> Option<ByteSize> {
        let s = s.trim();
        let split = s
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let n: f64 = num.parse().ok()?;
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" => 1000,
            "kib" => 1024,
            "m" | "mb" => 1000 * 1000,
            "mib" => 1024 * 1024,
            "g" | "gb" => 1000 * 1000 * 1000,
            "gib" => 1024 * 1024 * 1024,
            _ => return None,
        };
        (n >= 0.0).then_some(ByteSize((n * mult as f64) as u64))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ByteSize::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{s}` is not a size; write e.g. `64MiB`, `512KB`, `1GB`"
            ))
        })
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}B", self.0))
    }
}

/// Log output settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// tracing filter: `error`, `warn`, `info`, `debug`, `trace` or a directive list.
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

/// Log line format.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// Database settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Empty: SQLite file `stage.db` in the data dir. Otherwise a `sqlite://` or
    /// `postgres://` URL.
    pub url: String,
    /// Pool size per daemon.
    pub max_connections: u32,
    /// How long SQLite waits for another process's write lock.
    pub busy_timeout: HumanDuration,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: String::new(),
            max_connections: 8,
            busy_timeout: HumanDuration(Duration::from_secs(5)),
        }
    }
}

/// ingestd settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestdConfig {
    /// RTMP listener.
    pub listen: SocketAddr,
    /// Loopback admin listener (/status, /metrics, admin API).
    pub admin_listen: SocketAddr,
    /// Where packagerd's media link listens.
    pub packager_media: SocketAddr,
    /// How long a stream stays open after its publisher drops abruptly.
    pub reconnect_grace: HumanDuration,
    /// Most media held per stream while packagerd is unreachable.
    pub backlog_max: ByteSize,
    /// Largest RTMP message accepted; bigger closes the connection.
    pub max_message_size: ByteSize,
}

impl Default for IngestdConfig {
    fn default() -> Self {
        IngestdConfig {
            listen: ([127, 0, 0, 1], 1935).into(),
            admin_listen: ([127, 0, 0, 1], 9091).into(),
            packager_media: ([127, 0, 0, 1], 9190).into(),
            reconnect_grace: HumanDuration(Duration::from_secs(10)),
            backlog_max: ByteSize(64 * 1024 * 1024),
            max_message_size: ByteSize(8 * 1024 * 1024),
        }
    }
}

/// packagerd settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PackagerdConfig {
    /// Public HTTP listener (HLS, player pages, channel info).
    pub listen: SocketAddr,
    /// Loopback admin listener.
    pub admin_listen: SocketAddr,
    /// Internal media link listener (ingestd connects here). Keep it on loopback
    /// or a private network: it carries no authentication.
    pub media_listen: SocketAddr,
    /// Target segment duration; segments are cut at the first keyframe after it.
    pub segment_duration: HumanDuration,
    /// LL-HLS part target; parts hold a whole number of frames near it.
    pub part_duration: HumanDuration,
    /// Segments listed in the live playlist.
    pub playlist_segments: usize,
    /// PEM certificate chain: with `tls_key`, the public listener speaks HTTPS
    /// (HTTP/2 and HTTP/1.1 by ALPN) instead of plain HTTP/1.1 and h2c.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Value of `Access-Control-Allow-Origin` on HLS and API responses; empty for none.
    pub cors_allow_origin: String,
    /// Serve the player page from this directory instead of the built-in copy.
    pub web_dir: Option<PathBuf>,
    /// How often a live stream's thumbnail (`/channels/{channel}/thumbnail.jpg`)
    /// is taken, at the first keyframe after it.
    pub thumbnail_interval: HumanDuration,
}

impl Default for PackagerdConfig {
    fn default() -> Self {
        PackagerdConfig {
            listen: ([127, 0, 0, 1], 8080).into(),
            admin_listen: ([127, 0, 0, 1], 9092).into(),
            media_listen: ([127, 0, 0, 1], 9190).into(),
            segment_duration: HumanDuration(Duration::from_secs(2)),
            part_duration: HumanDuration(Duration::from_millis(200)),
            playlist_segments: 12,
            tls_cert: None,
            tls_key: None,
            cors_allow_origin: "*".into(),
            web_dir: None,
            thumbnail_interval: HumanDuration(Duration::from_secs(10)),
        }
    }
}

/// One rendition of an ABR ladder, made from the decoded source.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rung {
    /// Its name in URLs (`/hls/{channel}/{name}/index.m3u8`): letters,
    /// digits, `-` and `_`.
    pub name: String,
    /// Output height in pixels; the width follows the source's aspect ratio.
    /// A rung at or above the source's height is skipped (never upscaled).
    pub height: u32,
    /// Frame-rate cap; the source's rate when lower or unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<f64>,
    /// Video bitrate, kbit/s: the average and the VBV cap (1 s buffer).
    pub video_bitrate_kbps: u32,
    /// x264 preset for this rung; the ladder's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// A hardware encoder to use when present (`h264_nvenc`, `h264_vaapi`);
    /// libx264 when unset or when it cannot be opened (logged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder: Option<String>,
}

/// A named ABR ladder: source passthrough plus these rungs.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Ladder {
    /// x264 preset for rungs that name none.
    #[serde(default = "default_preset")]
    pub preset: String,
    /// Extra keyframes in the rungs between the source's, about this far
    /// apart (whole parts): a player dropping to a rung mid-segment starts
    /// at the last one instead of fetching the segment from its start.
    /// "0s" for none (keyframes only where the source has them).
    #[serde(default = "default_switch_interval")]
    pub switch_interval: HumanDuration,
    #[serde(default)]
    pub rungs: Vec<Rung>,
}

fn default_preset() -> String {
    "veryfast".into()
}

fn default_switch_interval() -> HumanDuration {
    HumanDuration(Duration::from_millis(600))
}

fn rung(name: &str, height: u32, kbps: u32) -> Rung {
    Rung {
        name: name.into(),
        height,
        fps: Some(30.0),
        video_bitrate_kbps: kbps,
        preset: None,
        encoder: None,
    }
}

/// The built-in ladders: `default` (source + 720p30 2.5 Mbit/s + 480p30
/// 1.2 Mbit/s + 360p30 0.7 Mbit/s) and `source` (passthrough only).
pub fn default_ladders() -> BTreeMap<String, Ladder> {
    let mut m = BTreeMap::new();
    m.insert(
        "default".into(),
        Ladder {
            preset: default_preset(),
            switch_interval: default_switch_interval(),
            rungs: vec![
                rung("720p", 720, 2500),
                rung("480p", 480, 1200),
                rung("360p", 360, 700),
            ],
        },
    );
    m.insert(
        "source".into(),
        Ladder {
            preset: default_preset(),
            switch_interval: default_switch_interval(),
            rungs: Vec::new(),
        },
    );
    m
}

/// A daemon that only has a public and an admin listener (chatd, billingd).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ListenConfig {
    /// Public HTTP listener.
    pub listen: SocketAddr,
    /// Loopback admin listener.
    pub admin_listen: SocketAddr,
}

fn chatd_default() -> ListenConfig {
    ListenConfig {
        listen: ([127, 0, 0, 1], 8081).into(),
        admin_listen: ([127, 0, 0, 1], 9093).into(),
    }
}

fn billingd_default() -> ListenConfig {
    ListenConfig {
        listen: ([127, 0, 0, 1], 8082).into(),
        admin_listen: ([127, 0, 0, 1], 9094).into(),
    }
}

/// The whole config file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the database, admin token and recordings live.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Host name viewers and OBS use to reach this box (printed URLs).
    #[serde(default = "default_public_host")]
    pub public_host: String,
    /// Behind a reverse proxy on this machine: the header it puts the
    /// client's address in (e.g. `X-Forwarded-For`, whose last entry is
    /// used). Trusted only on connections from loopback. Empty: the TCP peer.
    #[serde(default)]
    pub client_ip_header: String,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub ingestd: IngestdConfig,
    #[serde(default)]
    pub packagerd: PackagerdConfig,
    #[serde(default = "chatd_default")]
    pub chatd: ListenConfig,
    #[serde(default = "billingd_default")]
    pub billingd: ListenConfig,
    #[serde(default)]
    pub recording: RecordingConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub chat: ChatConfig,
    #[serde(default)]
    pub billing: BillingConfig,
    /// ABR ladders by name; channels choose one (`stagectl channel set NAME
    /// --ladder NAME`). `default` and `source` exist unless redefined here.
    #[serde(default = "default_ladders")]
    pub ladders: BTreeMap<String, Ladder>,
}

/// x264's presets, fastest first.
pub const X264_PRESETS: [&str; 10] = [
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
];

fn default_data_dir() -> PathBuf {
    PathBuf::from("stage-data")
}

fn default_public_host() -> String {
    "127.0.0.1".into()
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: default_data_dir(),
            public_host: default_public_host(),
            client_ip_header: String::new(),
            log: LogConfig::default(),
            database: DatabaseConfig::default(),
            ingestd: IngestdConfig::default(),
            packagerd: PackagerdConfig::default(),
            chatd: chatd_default(),
            billingd: billingd_default(),
            recording: RecordingConfig::default(),
            auth: AuthConfig::default(),
            chat: ChatConfig::default(),
            billing: BillingConfig::default(),
            ladders: default_ladders(),
        }
    }
}

/// Viewer accounts and the tokens that prove them.
#[derive(Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// HMAC key for login and playback tokens; empty: generated into
    /// `auth.key` in the data dir (set the same value on every node when the
    /// daemons run on several machines).
    pub token_key: String,
    /// How long a login token is valid.
    pub login_ttl: HumanDuration,
    /// Failed logins allowed per account and per client address in
    /// `login_window` before further attempts are refused (429).
    pub login_attempts: u32,
    pub login_window: HumanDuration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            token_key: String::new(),
            login_ttl: HumanDuration(Duration::from_secs(7 * 24 * 3600)),
            login_attempts: 10,
            login_window: HumanDuration(Duration::from_secs(600)),
        }
    }
}

// The key never reaches a log line through `{:?}`.
impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field(
                "token_key",
                &if self.token_key.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .field("login_ttl", &self.login_ttl)
            .field("login_attempts", &self.login_attempts)
            .field("login_window", &self.login_window)
            .finish()
    }
}

/// Chat rooms (chatd).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatConfig {
    /// `redis://HOST:PORT` to share rooms between several chatd nodes; empty:
    /// this node alone.
    pub redis_url: String,
    /// The Redis pub/sub channel the nodes of one install share (several
    /// installs may share one Redis with different names).
    pub redis_channel: String,
    /// Messages sent to a joining client.
    pub history: usize,
    /// Longest message, in characters.
    pub max_message_length: usize,
    /// Messages one account may send per `rate_window` (every role but
    /// moderators and owners).
    pub user_rate: u32,
    /// Messages one client address may send per `rate_window` (all its
    /// accounts and guests together).
    pub ip_rate: u32,
    pub rate_window: HumanDuration,
    /// Reactions one client may send per second.
    pub reaction_rate: u32,
    /// How often reactions are sent to viewers as one aggregated burst.
    pub reaction_interval: HumanDuration,
    /// Bytes waiting for one client before it is dropped as too slow (close
    /// code 4008).
    pub client_queue: ByteSize,
    /// Public URL of chatd as the player page reaches it; empty:
    /// `http://{public_host}:{chatd.listen port}`.
    pub public_url: String,
    /// Public URL of billingd (accounts) as the page reaches it; empty:
    /// `http://{public_host}:{billingd.listen port}`.
    pub auth_url: String,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            redis_url: String::new(),
            redis_channel: "stage:chat".into(),
            history: 50,
            max_message_length: 500,
            user_rate: 5,
            ip_rate: 20,
            rate_window: HumanDuration(Duration::from_secs(10)),
            reaction_rate: 10,
            reaction_interval: HumanDuration(Duration::from_millis(250)),
            client_queue: ByteSize(1 << 20),
            public_url: String::new(),
            auth_url: String::new(),
        }
    }
}

/// Memberships, tips and the ledger (billingd).
#[derive(Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BillingConfig {
    /// `dev`: checkouts complete on a local confirmation page that sends
    /// signed, Stripe-shaped events through the webhook (no keys, no money);
    /// `stripe`: Stripe Checkout and webhooks.
    pub provider: String,
    /// The platform's share of every payment, in basis points (500 = 5%;
    /// the creator keeps the rest, less the processor's fee).
    pub platform_fee_bps: u32,
    /// Currency of tips and new tiers (ISO code, lowercase).
    pub currency: String,
    /// Smallest and largest tip, in minor units (cents).
    pub tip_min: i64,
    pub tip_max: i64,
    /// Longest tip message, in characters.
    pub tip_message_length: usize,
    /// How long a membership keeps access past its period's end or a failed
    /// payment (Stripe retries for days).
    pub grace: HumanDuration,
    /// Lifetime of a playback token for members-only streams.
    pub playback_ttl: HumanDuration,
    /// Webhook signing secrets (`whsec_...`); several while one is rolled.
    /// Empty with the dev provider: one is generated into the data dir.
    pub webhook_secrets: Vec<String>,
    /// How far a webhook's signed timestamp may be from now.
    pub webhook_tolerance: HumanDuration,
    /// billingd's public URL as viewers' browsers reach it (checkout return
    /// and confirmation pages); empty: `chat.auth_url`'s default.
    pub public_url: String,
    #[serde(default)]
    pub stripe: StripeConfig,
}

impl BillingConfig {
    /// How long a lapsed membership still counts, in ms (`grace`).
    pub fn grace_ms(&self) -> i64 {
        self.grace.0.as_millis() as i64
    }
}

/// Stripe's API (with `billing.provider = "stripe"`).
#[derive(Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StripeConfig {
    /// Secret API key (`sk_live_...`/`sk_test_...`); the environment's
    /// `STRIPE_SECRET_KEY` is used when this is empty.
    pub secret_key: String,
    /// API base URL (tests point it at a local stand-in).
    pub api_base: String,
}

impl Default for StripeConfig {
    fn default() -> Self {
        StripeConfig {
            secret_key: String::new(),
            api_base: "https://api.stripe.com".into(),
        }
    }
}

impl Default for BillingConfig {
    fn default() -> Self {
        BillingConfig {
            provider: "dev".into(),
            platform_fee_bps: 500,
            currency: "usd".into(),
            tip_min: 100,
            tip_max: 50_000,
            tip_message_length: 200,
            grace: HumanDuration(Duration::from_secs(3 * 24 * 3600)),
            playback_ttl: HumanDuration(Duration::from_secs(600)),
            webhook_secrets: Vec::new(),
            webhook_tolerance: HumanDuration(Duration::from_secs(300)),
            public_url: String::new(),
            stripe: StripeConfig::default(),
        }
    }
}

fn redacted(s: &str) -> &'static str {
    if s.is_empty() { "" } else { "<redacted>" }
}

// Secrets never reach a log line through `{:?}`.
impl std::fmt::Debug for BillingConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BillingConfig")
            .field("provider", &self.provider)
            .field("platform_fee_bps", &self.platform_fee_bps)
            .field("currency", &self.currency)
            .field("tip_min", &self.tip_min)
            .field("tip_max", &self.tip_max)
            .field("tip_message_length", &self.tip_message_length)
            .field("grace", &self.grace)
            .field("playback_ttl", &self.playback_ttl)
            .field(
                "webhook_secrets",
                &self
                    .webhook_secrets
                    .iter()
                    .map(|s| redacted(s))
                    .collect::<Vec<_>>(),
            )
            .field("webhook_tolerance", &self.webhook_tolerance)
            .field("public_url", &self.public_url)
            .field("stripe", &self.stripe)
            .finish()
    }
}

impl std::fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeConfig")
            .field("secret_key", &redacted(&self.secret_key))
            .field("api_base", &self.api_base)
            .finish()
    }
}

/// Recording every live stream (all renditions) into an object store.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingConfig {
    /// Record live streams.
    pub enabled: bool,
    /// Local directory of the object store; empty: `recordings` in data_dir.
    pub dir: PathBuf,
    /// Media waiting for the store (bytes) before new segments are dropped
    /// from the recording (reported): the live stream never waits.
    pub queue_bytes: u64,
    /// Cloud DVR: how much of a live broadcast its playlist lets viewers
    /// rewind (served from the recording); "0s": only the live window.
    pub dvr_window: HumanDuration,
    /// Recordings older than this many days are deleted (0: kept).
    pub retention_days: u32,
    /// Where recordings go: "local" (`dir`) or "s3" (`[recording.s3]`).
    pub store: String,
    pub s3: S3Config,
}

/// An S3 bucket (AWS or any S3-compatible service) for recordings.
#[derive(Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    pub bucket: String,
    pub region: String,
    /// For S3-compatible services (MinIO, R2, …): their URL; empty: AWS.
    pub endpoint: String,
    /// Credentials; empty: from the environment (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`) or the instance's role.
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Allow a plain-HTTP endpoint.
    pub allow_http: bool,
    /// Virtual-hosted–style URLs (bucket in the host name) instead of path
    /// style.
    pub virtual_hosted: bool,
    /// Each request's time limit (a stalled store is retried, never waited
    /// on by the live stream).
    pub request_timeout: HumanDuration,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            bucket: String::new(),
            region: "us-east-1".into(),
            endpoint: String::new(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            allow_http: false,
            virtual_hosted: false,
            request_timeout: HumanDuration(Duration::from_secs(10)),
        }
    }
}

// The secret never reaches a log line through `{:?}`.
impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &if self.secret_access_key.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .field("allow_http", &self.allow_http)
            .field("virtual_hosted", &self.virtual_hosted)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig {
            enabled: true,
            dir: PathBuf::new(),
            queue_bytes: 256 << 20,
            dvr_window: HumanDuration(Duration::from_secs(2 * 3600)),
            retention_days: 0,
            store: "local".into(),
            s3: S3Config::default(),
        }
    }
}

impl Config {
    /// The recordings directory (`recording.dir`, else `recordings` in data_dir).
    pub fn recordings_dir(&self) -> PathBuf {
        if self.recording.dir.as_os_str().is_empty() {
            self.data_dir.join("recordings")
        } else {
            self.recording.dir.clone()
        }
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match toml::to_string_pretty(self) {
            Ok(s) => f.write_str(&s),
            Err(_) => Err(fmt::Error),
        }
    }
}

impl Config {
    /// Parses config text; `file` names the source in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let de = toml::Deserializer::parse(text).map_err(|e| {
            ConfigError::Invalid {
                file: file.into(),
                key: "(syntax)".into(),
                message: e.message().trim().to_string(),
            }
            .at(text, e.span())
        })?;
        let cfg: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            ConfigError::Invalid {
                file: file.into(),
                key: if key == "." {
                    "(top level)".into()
                } else {
                    key
                },
                message: inner.message().trim().to_string(),
            }
            .at(text, inner.span())
        })?;
        let mut cfg = cfg;
        for (name, ladder) in default_ladders() {
            cfg.ladders.entry(name).or_insert(ladder);
        }
        cfg.validate(file).map_err(|e| e.at(text, None))?;
        Ok(cfg)
    }

    /// Loads `path` if given, else the built-in defaults.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: file.clone(),
            source,
        })?;
        Config::parse(&text, &file)
    }

    fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let bad = |key: &str, message: &str| ConfigError::Invalid {
            file: file.into(),
            key: key.into(),
            message: message.into(),
        };
        let seg = self.packagerd.segment_duration.0;
        if seg < Duration::from_millis(500) || seg > Duration::from_secs(30) {
            return Err(bad(
                "packagerd.segment_duration",
                "must be between 500ms and 30s",
            ));
        }
        let part = self.packagerd.part_duration.0;
        if part < Duration::from_millis(50) || part * 2 > seg {
            return Err(bad(
                "packagerd.part_duration",
                "must be at least 50ms and at most half of packagerd.segment_duration",
            ));
        }
        if self.packagerd.tls_cert.is_some() != self.packagerd.tls_key.is_some() {
            return Err(bad(
                "packagerd.tls_cert",
                "tls_cert and tls_key must be set together",
            ));
        }
        if !(3..=100).contains(&self.packagerd.playlist_segments) {
            return Err(bad(
                "packagerd.playlist_segments",
                "must be between 3 and 100",
            ));
        }
        let thumbs = self.packagerd.thumbnail_interval.0;
        if thumbs < Duration::from_secs(1) || thumbs > Duration::from_secs(600) {
            return Err(bad(
                "packagerd.thumbnail_interval",
                "must be between 1s and 10m",
            ));
        }
        match self.recording.store.as_str() {
            "local" => {}
            "s3" => {
                if self.recording.s3.bucket.is_empty() {
                    return Err(bad(
                        "recording.s3.bucket",
                        "required with recording.store = \"s3\"",
                    ));
                }
                let e = &self.recording.s3.endpoint;
                if !(e.is_empty() || e.starts_with("https://") || e.starts_with("http://")) {
                    return Err(bad("recording.s3.endpoint", "must be an http(s):// URL"));
                }
                if e.starts_with("http://") && !self.recording.s3.allow_http {
                    return Err(bad(
                        "recording.s3.endpoint",
                        "is plain HTTP: set recording.s3.allow_http = true to allow it",
                    ));
                }
            }
            _ => return Err(bad("recording.store", "must be \"local\" or \"s3\"")),
        }
        if self.recording.dvr_window.0 > Duration::from_secs(48 * 3600) {
            return Err(bad(
                "recording.dvr_window",
                "must be at most 48h (a broadcast longer than that is rewound from its start no further)",
            ));
        }
        if self.database.max_connections == 0 {
            return Err(bad("database.max_connections", "must be at least 1"));
        }
        let url = &self.database.url;
        if !(url.is_empty()
            || url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(bad(
                "database.url",
                "must be empty (SQLite in the data dir), sqlite:// or postgres://",
            ));
        }
        if self.ingestd.backlog_max.0 < 1024 * 1024 {
            return Err(bad("ingestd.backlog_max", "must be at least 1MiB"));
        }
        if self.ingestd.max_message_size.0 < 64 * 1024 {
            return Err(bad("ingestd.max_message_size", "must be at least 64KiB"));
        }
        for (name, ladder) in &self.ladders {
            let key = |k: &str| format!("ladders.{name}.{k}");
            let ok_name = |n: &str| {
                !n.is_empty()
                    && n.len() <= 32
                    && n.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            };
            if !ok_name(name) {
                return Err(bad(
                    &format!("ladders.{name}"),
                    "ladder names are letters, digits, - and _",
                ));
            }
            if !X264_PRESETS.contains(&ladder.preset.as_str()) {
                return Err(bad(
                    &key("preset"),
                    &format!("must be one of {}", X264_PRESETS.join(", ")),
                ));
            }
            let mut seen = std::collections::HashSet::new();
            for (i, r) in ladder.rungs.iter().enumerate() {
                let rk = |k: &str| format!("ladders.{name}.rungs[{i}].{k}");
                if !ok_name(&r.name) || r.name == "source" || !seen.insert(r.name.clone()) {
                    return Err(bad(
                        &rk("name"),
                        "letters, digits, - and _; unique in the ladder; not `source`",
                    ));
                }
                if !(64..=4320).contains(&r.height) {
                    return Err(bad(&rk("height"), "must be between 64 and 4320"));
                }
                if !(50..=100_000).contains(&r.video_bitrate_kbps) {
                    return Err(bad(
                        &rk("video_bitrate_kbps"),
                        "must be between 50 and 100000",
                    ));
                }
                if r.fps.is_some_and(|f| !(1.0..=240.0).contains(&f)) {
                    return Err(bad(&rk("fps"), "must be between 1 and 240"));
                }
                if r.preset
                    .as_deref()
                    .is_some_and(|p| !X264_PRESETS.contains(&p))
                {
                    return Err(bad(
                        &rk("preset"),
                        &format!("must be one of {}", X264_PRESETS.join(", ")),
                    ));
                }
                if r.encoder.as_deref().is_some_and(|e| {
                    !["libx264", "h264_nvenc", "h264_vaapi", "h264_qsv"].contains(&e)
                }) {
                    return Err(bad(
                        &rk("encoder"),
                        "must be libx264, h264_nvenc, h264_vaapi or h264_qsv",
                    ));
                }
            }
        }
        if !(self.chat.redis_url.is_empty()
            || self.chat.redis_url.starts_with("redis://")
            || self.chat.redis_url.starts_with("rediss://"))
        {
            return Err(bad("chat.redis_url", "must be empty or a redis:// URL"));
        }
        if self.chat.redis_channel.is_empty() {
            return Err(bad("chat.redis_channel", "must not be empty"));
        }
        if !(1..=1000).contains(&self.chat.history) {
            return Err(bad("chat.history", "must be between 1 and 1000"));
        }
        if !(1..=10_000).contains(&self.chat.max_message_length) {
            return Err(bad(
                "chat.max_message_length",
                "must be between 1 and 10000",
            ));
        }
        if self.chat.user_rate == 0 || self.chat.ip_rate == 0 || self.chat.reaction_rate == 0 {
            return Err(bad(
                "chat.user_rate",
                "chat.user_rate, chat.ip_rate and chat.reaction_rate must be at least 1",
            ));
        }
        if self.chat.rate_window.0.is_zero() {
            return Err(bad("chat.rate_window", "must be more than 0s"));
        }
        let ri = self.chat.reaction_interval.0;
        if ri < Duration::from_millis(20) || ri > Duration::from_secs(10) {
            return Err(bad(
                "chat.reaction_interval",
                "must be between 20ms and 10s",
            ));
        }
        if self.chat.client_queue.0 < 16 * 1024 {
            return Err(bad("chat.client_queue", "must be at least 16KiB"));
        }
        let b = &self.billing;
        if !matches!(b.provider.as_str(), "dev" | "stripe") {
            return Err(bad("billing.provider", "must be \"dev\" or \"stripe\""));
        }
        if b.platform_fee_bps > 10_000 {
            return Err(bad(
                "billing.platform_fee_bps",
                "must be between 0 and 10000 (basis points: 500 = 5%)",
            ));
        }
        if b.currency.len() != 3 || !b.currency.bytes().all(|c| c.is_ascii_lowercase()) {
            return Err(bad(
                "billing.currency",
                "must be a lowercase three-letter ISO code like \"usd\"",
            ));
        }
        if b.tip_min < 1 || b.tip_max < b.tip_min {
            return Err(bad(
                "billing.tip_min",
                "billing.tip_min must be at least 1 and billing.tip_max at least tip_min",
            ));
        }
        if !(1..=1000).contains(&b.tip_message_length) {
            return Err(bad(
                "billing.tip_message_length",
                "must be between 1 and 1000",
            ));
        }
        let pt = b.playback_ttl.0;
        if pt < Duration::from_secs(30) || pt > Duration::from_secs(24 * 3600) {
            return Err(bad("billing.playback_ttl", "must be between 30s and 24h"));
        }
        if b.webhook_tolerance.0 < Duration::from_secs(1) {
            return Err(bad("billing.webhook_tolerance", "must be at least 1s"));
        }
        if b.webhook_secrets.iter().any(|s| s.len() < 16) {
            return Err(bad(
                "billing.webhook_secrets",
                "each secret must be at least 16 characters (Stripe's whsec_...)",
            ));
        }
        if b.provider == "stripe" && b.webhook_secrets.is_empty() {
            return Err(bad(
                "billing.webhook_secrets",
                "must hold the webhook endpoint's signing secret with provider \"stripe\"",
            ));
        }
        if !(b.stripe.api_base.starts_with("https://") || b.stripe.api_base.starts_with("http://"))
        {
            return Err(bad("billing.stripe.api_base", "must be an http(s) URL"));
        }
        if !self.auth.token_key.is_empty() && self.auth.token_key.len() < 32 {
            return Err(bad(
                "auth.token_key",
                "must be at least 32 characters (or empty to generate one)",
            ));
        }
        if self.auth.login_attempts == 0 {
            return Err(bad("auth.login_attempts", "must be at least 1"));
        }
        if !self.client_ip_header.is_empty()
            && axum::http::HeaderName::from_bytes(self.client_ip_header.as_bytes()).is_err()
        {
            return Err(bad("client_ip_header", "is not an HTTP header name"));
        }
        if self.public_host.trim().is_empty() {
            return Err(bad("public_host", "must not be empty"));
        }
        Ok(())
    }

    /// The database URL actually used (SQLite in the data dir by default).
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("stage.db").display()
            )
        } else {
            self.database.url.clone()
        }
    }

    /// `rtmp://HOST:PORT/live` as OBS should be told.
    pub fn rtmp_url(&self) -> String {
        format!(
            "rtmp://{}:{}/live",
            self.public_host,
            self.ingestd.listen.port()
        )
    }

    /// chatd's public base URL, as the page reaches it.
    pub fn chat_public_url(&self) -> String {
        if self.chat.public_url.is_empty() {
            format!("http://{}:{}", self.public_host, self.chatd.listen.port())
        } else {
            self.chat.public_url.trim_end_matches('/').to_string()
        }
    }

    /// billingd's public base URL (accounts), as the page reaches it.
    pub fn auth_public_url(&self) -> String {
        if self.chat.auth_url.is_empty() {
            format!(
                "http://{}:{}",
                self.public_host,
                self.billingd.listen.port()
            )
        } else {
            self.chat.auth_url.trim_end_matches('/').to_string()
        }
    }

    /// billingd's public base URL for checkout pages and returns.
    pub fn billing_public_url(&self) -> String {
        if self.billing.public_url.is_empty() {
            self.auth_public_url()
        } else {
            self.billing.public_url.trim_end_matches('/').to_string()
        }
    }

    /// Base URL of packagerd's public listener.
    pub fn public_http_base(&self) -> String {
        let scheme = if self.packagerd.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        format!(
            "{scheme}://{}:{}",
            self.public_host,
            self.packagerd.listen.port()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let c = Config::parse("", "t.toml").unwrap();
        assert_eq!(c.packagerd.segment_duration.0, Duration::from_secs(2));
        assert_eq!(c.ingestd.listen.port(), 1935);
        assert_eq!(c.ingestd.reconnect_grace.0, Duration::from_secs(10));
    }

    #[test]
    fn unknown_key_names_file_and_key() {
        let e = Config::parse("[packagerd]\nsegment_duraton = \"2s\"\n", "my.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("my.toml:2: key `packagerd"), "{e}");
        assert!(e.contains("segment_duraton"), "{e}");
    }

    #[test]
    fn errors_name_the_line_of_the_key() {
        let text = "# comment\n[ingestd]\nlisten = \"0.0.0.0:1935\"\n\n[packagerd]\n\
                    listen = \"127.0.0.1:8080\"\nsegment_duration = \"soon\"\n";
        let e = Config::parse(text, "a.toml").unwrap_err().to_string();
        assert!(
            e.starts_with("a.toml:7: key `packagerd.segment_duration`"),
            "{e}"
        );
        // Found by value checks after parsing: by looking the key up.
        let text = "[packagerd]\nlisten = \"127.0.0.1:8080\"\nsegment_duration = \"40s\"\n";
        let e = Config::parse(text, "b.toml").unwrap_err().to_string();
        assert!(
            e.starts_with("b.toml:3: key `packagerd.segment_duration`"),
            "{e}"
        );
        // Syntax.
        let e = Config::parse("[ingestd]\nlisten = \n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.toml:2: key `(syntax)`"), "{e}");
    }

    #[test]
    fn a_key_is_found_in_its_own_table_only() {
        let text = "listen = 1\n[ingestd]\nlisten = 2\n[packagerd]\nlisten = 3\n[billing.stripe]\napi_base = 4\n";
        assert_eq!(line_of_key(text, "packagerd.listen"), Some(5));
        assert_eq!(line_of_key(text, "ingestd.listen"), Some(3));
        assert_eq!(line_of_key(text, "billing.stripe.api_base"), Some(7));
        assert_eq!(line_of_key(text, "billing.stripe"), Some(6));
        assert_eq!(line_of_key(text, "chatd.listen"), None);
    }

    #[test]
    fn recording_store_settings_are_checked_key_by_key() {
        let err = |text: &str| Config::parse(text, "r.toml").unwrap_err().to_string();
        let e = err("[recording]\nstore = \"ftp\"\n");
        assert!(e.contains("recording.store") && e.contains("\"s3\""), "{e}");
        let e = err("[recording]\nstore = \"s3\"\n");
        assert!(e.contains("recording.s3.bucket"), "{e}");
        let e = err(
            "[recording]\nstore = \"s3\"\n[recording.s3]\nbucket = \"b\"\nendpoint = \"http://127.0.0.1:9000\"\n",
        );
        assert!(
            e.contains("recording.s3.endpoint") && e.contains("allow_http"),
            "{e}"
        );
        let e = err("[recording.s3]\nbuckit = \"b\"\n");
        assert!(e.contains("buckit"), "{e}");
        let e = err("[recording]\ndvr_window = \"72h\"\n");
        assert!(e.contains("recording.dvr_window"), "{e}");
        let c = Config::parse(
            "[recording]\nstore = \"s3\"\n[recording.s3]\nbucket = \"b\"\nsecret_access_key = \"hunter2\"\n",
            "r.toml",
        )
        .unwrap();
        assert_eq!(c.recording.s3.region, "us-east-1");
        assert_eq!(c.recording.dvr_window.0, Duration::from_secs(7200));
        // The secret never shows in a debug print of the config.
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("<redacted>"),
            "{shown}"
        );
    }

    #[test]
    fn bad_duration_names_key() {
        let e = Config::parse("[packagerd]\nsegment_duration = \"two\"\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("key `packagerd.segment_duration`"), "{e}");
        assert!(e.contains("not a duration"), "{e}");
    }

    #[test]
    fn out_of_range_value_names_key() {
        let e = Config::parse("[packagerd]\nsegment_duration = \"1m\"\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("packagerd.segment_duration"), "{e}");
        let e = Config::parse("[packagerd]\npart_duration = \"1500ms\"\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("packagerd.part_duration"), "{e}");
        let e = Config::parse("[packagerd]\ntls_cert = \"/x.pem\"\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("packagerd.tls_cert") && e.contains("together"),
            "{e}"
        );
    }

    #[test]
    fn bad_address_names_key() {
        let e = Config::parse("[ingestd]\nlisten = \"nowhere\"\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("key `ingestd.listen`"), "{e}");
    }

    #[test]
    fn sizes_parse_in_human_units() {
        assert_eq!(ByteSize::parse("64MiB"), Some(ByteSize(64 << 20)));
        assert_eq!(ByteSize::parse("1.5 KB"), Some(ByteSize(1500)));
        assert_eq!(ByteSize::parse("12"), Some(ByteSize(12)));
        assert_eq!(ByteSize::parse("12 parsecs"), None);
    }

    #[test]
    fn defaults_round_trip_through_toml() {
        let text = Config::default().to_string();
        let back = Config::parse(&text, "roundtrip").unwrap();
        assert_eq!(back.packagerd.listen, Config::default().packagerd.listen);
    }

    #[test]
    fn the_shipped_production_config_parses() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/production.toml");
        let cfg = Config::load(Some(&file)).unwrap();
        assert_eq!(cfg.client_ip_header, "X-Forwarded-For");
        assert_eq!(cfg.chat_public_url(), "https://stream.example.com");
        let e = Config::parse("client_ip_header = \"bad header\"\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("client_ip_header"), "{e}");
    }

    #[test]
    fn ladders_are_checked_and_the_shipped_default_is_the_built_in_one() {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/stage.toml");
        let cfg = Config::load(Some(&shipped)).unwrap();
        assert_eq!(cfg.ladders, default_ladders());
        let e = Config::parse(
            "[ladders.phone]\nrungs = [{ name = \"240p\", height = 240, video_bitrate_kbps = 10 }]\n",
            "c.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("ladders.phone.rungs[0].video_bitrate_kbps"),
            "{e}"
        );
        let e = Config::parse("[ladders.x]\npreset = \"quick\"\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ladders.x.preset") && e.contains("veryfast"),
            "{e}"
        );
        let e = Config::parse(
            "[ladders.x]\nrungs = [{ name = \"source\", height = 240, video_bitrate_kbps = 300 }]\n",
            "c.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("rungs[0].name"), "{e}");
        // Defining a ladder keeps the built-in ones.
        let cfg = Config::parse("[ladders.phone]\nrungs = []\n", "c.toml").unwrap();
        let names: Vec<&String> = cfg.ladders.keys().collect();
        assert_eq!(names, ["default", "phone", "source"]);
    }

    #[test]
    fn every_shipped_config_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "toml") {
                Config::load(Some(&p)).unwrap_or_else(|e| panic!("{e}"));
                n += 1;
            }
        }
        assert!(n >= 1, "no configs found in {}", dir.display());
    }
}
