//! HTTPS on packagerd's public listener (`packagerd.tls_cert`/`tls_key`):
//! TLS by OpenSSL, HTTP/2 or HTTP/1.1 chosen by ALPN, the same router as
//! plain HTTP. OpenSSL rather than rustls because rml_rtmp's RTMP handshake
//! pins `subtle` below the version rustls needs, and Cargo allows one.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use openssl::ssl::{AlpnError, Ssl, SslAcceptor, SslFiletype, SslMethod};
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Loads the certificate chain and key, naming the config key on error.
pub fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<Arc<SslAcceptor>> {
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
    b.set_certificate_chain_file(cert).map_err(|e| {
        anyhow::anyhow!(
            "config key `packagerd.tls_cert`: cannot load {}: {e}",
            cert.display()
        )
    })?;
    b.set_private_key_file(key, SslFiletype::PEM).map_err(|e| {
        anyhow::anyhow!(
            "config key `packagerd.tls_key`: cannot load {}: {e}",
            key.display()
        )
    })?;
    b.check_private_key().map_err(|e| {
        anyhow::anyhow!("config keys `packagerd.tls_cert`/`tls_key`: key does not match: {e}")
    })?;
    // Prefer HTTP/2 (many parallel LL-HLS requests), then HTTP/1.1.
    b.set_alpn_select_callback(|_, client| {
        openssl::ssl::select_next_proto(b"\x02h2\x08http/1.1", client).ok_or(AlpnError::NOACK)
    });
    Ok(Arc::new(b.build()))
}

/// Serves `router` over TLS until `shutdown`; connections in flight finish
/// on their own.
pub async fn serve(
    listener: TcpListener,
    acceptor: Arc<SslAcceptor>,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut shutdown: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(shutdown);
    loop {
        let (tcp, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(cause = %e, "accept failed");
                    continue;
                }
            },
            _ = &mut shutdown => return Ok(()),
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(tcp, addr, &acceptor, router).await {
                tracing::debug!(peer = %addr, cause = %e, "TLS connection ended");
            }
        });
    }
}

async fn connection(
    tcp: tokio::net::TcpStream,
    addr: SocketAddr,
    acceptor: &SslAcceptor,
    router: Router,
) -> anyhow::Result<()> {
    let _ = tcp.set_nodelay(true);
    let ssl = Ssl::new(acceptor.context())?;
    let mut stream = tokio_openssl::SslStream::new(ssl, tcp)?;
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        Pin::new(&mut stream).accept(),
    )
    .await
    .map_err(|_| anyhow::anyhow!("TLS handshake timed out"))??;
    // Handlers read the peer address as with plain HTTP (viewer counting).
    let svc = router.map_request(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnectInfo(addr));
        req.map(axum::body::Body::new)
    });
    Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}
