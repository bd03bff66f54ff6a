//! `[recording]`: live streams into an object store (local disk or S3).

use super::{Bad, ConfigError, HumanDuration};
use serde::{Deserialize, Serialize};
use std::time::Duration;

use super::Config;
use std::path::PathBuf;

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

impl RecordingConfig {
    /// The store, its S3 settings and the DVR window.
    pub(super) fn validate(&self, bad: Bad) -> Result<(), ConfigError> {
        match self.store.as_str() {
            "local" => {}
            "s3" => {
                if self.s3.bucket.is_empty() {
                    return Err(bad(
                        "recording.s3.bucket",
                        "required with recording.store = \"s3\"",
                    ));
                }
                let e = &self.s3.endpoint;
                if !(e.is_empty() || e.starts_with("https://") || e.starts_with("http://")) {
                    return Err(bad("recording.s3.endpoint", "must be an http(s):// URL"));
                }
                if e.starts_with("http://") && !self.s3.allow_http {
                    return Err(bad(
                        "recording.s3.endpoint",
                        "is plain HTTP: set recording.s3.allow_http = true to allow it",
                    ));
                }
            }
            _ => return Err(bad("recording.store", "must be \"local\" or \"s3\"")),
        }
        if self.dvr_window.0 > Duration::from_secs(48 * 3600) {
            return Err(bad(
                "recording.dvr_window",
                "must be at most 48h (a broadcast longer than that is rewound from its start no further)",
            ));
        }
        Ok(())
    }
}
