//! The object store recordings live in, from `[recording]`: a local
//! directory (the default) or an S3 bucket (AWS or any S3-compatible
//! service), both through `object_store`.
//!
//! S3 requests go through our own small `HttpService` on reqwest with
//! OpenSSL (`native-tls`) rather than object_store's built-in connector,
//! which needs rustls: rustls requires `subtle` >= 2.5 while rml_rtmp's
//! `crypto-mac` pins `subtle` = 2.4, and one workspace cannot have both.

use object_store::aws::AmazonS3Builder;
use object_store::client::{
    ClientOptions, HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse,
    HttpResponseBody, HttpService,
};
use object_store::local::LocalFileSystem;
use object_store::{ObjectStore, ObjectStoreExt};
use stage_core::Config;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// An opened recording store.
pub struct Store {
    pub store: Arc<dyn ObjectStore>,
    /// The directory when the store is local (its objects are files there).
    pub local_dir: Option<PathBuf>,
    /// What it is, for logs and `/status` (never a secret).
    pub describe: String,
}

/// Opens the store `cfg` names (a local one's directory is created).
pub fn open(cfg: &Config) -> anyhow::Result<Store> {
    match cfg.recording.store.as_str() {
        "s3" => open_s3(&cfg.recording.s3),
        _ => {
            let dir = cfg.recordings_dir();
            std::fs::create_dir_all(&dir).map_err(|e| {
                anyhow::anyhow!(
                    "config key `recording.dir`: cannot create {}: {e}",
                    dir.display()
                )
            })?;
            let store = LocalFileSystem::new_with_prefix(&dir).map_err(|e| {
                anyhow::anyhow!("config key `recording.dir`: {}: {e}", dir.display())
            })?;
            Ok(Store {
                store: Arc::new(store.with_automatic_cleanup(true)),
                describe: format!("local directory {}", dir.display()),
                local_dir: Some(dir),
            })
        }
    }
}

fn open_s3(s3: &stage_core::config::S3Config) -> anyhow::Result<Store> {
    // The environment first (AWS_* variables), then what the file says.
    let mut b = AmazonS3Builder::from_env()
        .with_bucket_name(&s3.bucket)
        .with_region(&s3.region)
        .with_allow_http(s3.allow_http)
        .with_virtual_hosted_style_request(s3.virtual_hosted)
        .with_http_connector(Connector {
            timeout: s3.request_timeout.0,
        })
        // A couple of quick retries here; past them the recorder reports the
        // error (in /status and the log) and keeps retrying with its own
        // back-off, for as long as the store is away.
        .with_retry(object_store::RetryConfig {
            max_retries: 2,
            retry_timeout: Duration::from_secs(15),
            ..Default::default()
        });
    if !s3.endpoint.is_empty() {
        b = b.with_endpoint(&s3.endpoint);
    }
    if !s3.access_key_id.is_empty() {
        b = b.with_access_key_id(&s3.access_key_id);
    }
    if !s3.secret_access_key.is_empty() {
        b = b.with_secret_access_key(&s3.secret_access_key);
    }
    let store = b
        .build()
        .map_err(|e| anyhow::anyhow!("config section `[recording.s3]`: {e}"))?;
    let at = if s3.endpoint.is_empty() {
        format!("AWS {}", s3.region)
    } else {
        s3.endpoint.clone()
    };
    Ok(Store {
        store: Arc::new(store),
        local_dir: None,
        describe: format!("S3 bucket {} at {at}", s3.bucket),
    })
}

/// Makes object_store's HTTP clients: reqwest with OpenSSL.
#[derive(Debug)]
struct Connector {
    timeout: Duration,
}

impl HttpConnector for Connector {
    fn connect(&self, _options: &ClientOptions) -> object_store::Result<HttpClient> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(self.timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| object_store::Error::Generic {
                store: "S3",
                source: Box::new(e),
            })?;
        Ok(HttpClient::new(Reqwest(client)))
    }
}

#[derive(Debug)]
struct Reqwest(reqwest::Client);

/// object_store retries what it is told was a timeout or a failed
/// connection.
fn http_error(e: reqwest::Error) -> HttpError {
    let kind = if e.is_timeout() {
        HttpErrorKind::Timeout
    } else if e.is_connect() {
        HttpErrorKind::Connect
    } else if e.is_body() || e.is_request() {
        HttpErrorKind::Request
    } else if e.is_decode() {
        HttpErrorKind::Decode
    } else {
        HttpErrorKind::Unknown
    };
    HttpError::new(kind, e)
}

#[async_trait::async_trait]
impl HttpService for Reqwest {
    async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        use http_body_util::BodyExt;
        let (parts, body) = req.into_parts();
        let body = body.collect().await?.to_bytes();
        let resp = self
            .0
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(http_error)?;
        let resp: http::Response<reqwest::Body> = resp.into();
        let (parts, body) = resp.into_parts();
        Ok(HttpResponse::from_parts(
            parts,
            HttpResponseBody::new(body.map_err(http_error)),
        ))
    }
}

/// Deletes every object under `prefix`; returns how many.
pub async fn delete_prefix(store: &dyn ObjectStore, prefix: &str) -> anyhow::Result<u64> {
    use futures::TryStreamExt;
    let objects: Vec<object_store::path::Path> = store
        .list(Some(&object_store::path::Path::from(prefix)))
        .map_ok(|m| m.location)
        .try_collect()
        .await?;
    let mut n = 0;
    for o in objects {
        store.delete(&o).await?;
        n += 1;
    }
    Ok(n)
}
