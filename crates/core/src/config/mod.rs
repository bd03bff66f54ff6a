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

mod billing;
mod chat;
mod ladders;
mod recording;

pub use billing::{BillingConfig, Provider, StripeConfig};
pub use chat::ChatConfig;
pub use ladders::{Ladder, Rung, X264_PRESETS, default_ladders};
pub use recording::{RecordingConfig, S3Config};

/// Makes the error for one bad key: (key, message).
type Bad<'a> = &'a dyn Fn(&str, &str) -> ConfigError;

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
            part_duration: HumanDuration(Duration::from_millis(167)),
            playlist_segments: 12,
            tls_cert: None,
            tls_key: None,
            cors_allow_origin: "*".into(),
            web_dir: None,
            thumbnail_interval: HumanDuration(Duration::from_secs(10)),
        }
    }
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

    /// Checks every section; the first bad key is the error.
    fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let bad = |key: &str, message: &str| ConfigError::Invalid {
            file: file.into(),
            key: key.into(),
            message: message.into(),
        };
        self.packagerd.validate(&bad)?;
        self.recording.validate(&bad)?;
        self.database.validate(&bad)?;
        self.ingestd.validate(&bad)?;
        ladders::validate(&self.ladders, &bad)?;
        self.chat.validate(&bad)?;
        self.billing.validate(&bad)?;
        self.auth.validate(&bad)?;
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

impl PackagerdConfig {
    /// `[packagerd]`'s limits.
    fn validate(&self, bad: Bad) -> Result<(), ConfigError> {
        let seg = self.segment_duration.0;
        if seg < Duration::from_millis(500) || seg > Duration::from_secs(30) {
            return Err(bad(
                "packagerd.segment_duration",
                "must be between 500ms and 30s",
            ));
        }
        let part = self.part_duration.0;
        if part < Duration::from_millis(50) || part * 2 > seg {
            return Err(bad(
                "packagerd.part_duration",
                "must be at least 50ms and at most half of packagerd.segment_duration",
            ));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(bad(
                "packagerd.tls_cert",
                "tls_cert and tls_key must be set together",
            ));
        }
        if !(3..=100).contains(&self.playlist_segments) {
            return Err(bad(
                "packagerd.playlist_segments",
                "must be between 3 and 100",
            ));
        }
        let thumbs = self.thumbnail_interval.0;
        if thumbs < Duration::from_secs(1) || thumbs > Duration::from_secs(600) {
            return Err(bad(
                "packagerd.thumbnail_interval",
                "must be between 1s and 10m",
            ));
        }
        Ok(())
    }
}

impl DatabaseConfig {
    /// `[database]`: a pool and a URL this build can open.
    fn validate(&self, bad: Bad) -> Result<(), ConfigError> {
        if self.max_connections == 0 {
            return Err(bad("database.max_connections", "must be at least 1"));
        }
        let url = &self.url;
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
        Ok(())
    }
}

impl IngestdConfig {
    /// `[ingestd]`'s limits.
    fn validate(&self, bad: Bad) -> Result<(), ConfigError> {
        if self.backlog_max.0 < 1024 * 1024 {
            return Err(bad("ingestd.backlog_max", "must be at least 1MiB"));
        }
        if self.max_message_size.0 < 64 * 1024 {
            return Err(bad("ingestd.max_message_size", "must be at least 64KiB"));
        }
        Ok(())
    }
}

impl AuthConfig {
    /// `[auth]`: a key long enough, when one is given.
    fn validate(&self, bad: Bad) -> Result<(), ConfigError> {
        if !self.token_key.is_empty() && self.token_key.len() < 32 {
            return Err(bad(
                "auth.token_key",
                "must be at least 32 characters (or empty to generate one)",
            ));
        }
        if self.login_attempts == 0 {
            return Err(bad("auth.login_attempts", "must be at least 1"));
        }
        Ok(())
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
    fn the_billing_provider_is_one_of_two_names() {
        let c = Config::parse("[billing]\nprovider = \"dev\"\n", "p.toml").unwrap();
        assert_eq!(c.billing.provider, Provider::Dev);
        assert_eq!(c.billing.provider.to_string(), "dev");
        let e = Config::parse("[billing]\nprovider = \"paypal\"\n", "p.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("p.toml:2: key `billing.provider`"), "{e}");
        assert!(e.contains("dev") && e.contains("stripe"), "{e}");
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
