//! The `main` every daemon shares: arguments, config, telemetry, runtime,
//! run until SIGTERM/Ctrl-C, and exit codes (0 ok, 1 failure, 2 bad config).

use crate::Config;
use crate::args::CommonArgs;
use clap::{CommandFactory, FromArgMatches, Parser};
use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;

#[derive(Parser)]
struct DaemonArgs {
    #[command(flatten)]
    common: CommonArgs,
}

/// The future a daemon runs: its config and a shutdown signal in, done out.
pub type Run = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;
/// A boxed shutdown signal.
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs daemon `name` (described by `about`) with `run`.
pub fn main(name: &'static str, about: &'static str, run: fn(Config, Shutdown) -> Run) -> ExitCode {
    let cmd = DaemonArgs::command()
        .name(name)
        .about(about)
        .version(env!("CARGO_PKG_VERSION"));
    let args = match DaemonArgs::from_arg_matches(&cmd.get_matches()) {
        Ok(a) => a,
        Err(e) => e.exit(),
    };
    let cfg = match args.common.load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(2);
        }
    };
    crate::telemetry::init(&cfg.log);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cfg, Box::pin(crate::telemetry::shutdown_signal()))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(cause = %format!("{e:#}"), "{name} stopped");
            ExitCode::FAILURE
        }
    }
}

/// Tells systemd (Type=notify units) the daemon is serving, and keeps its
/// watchdog fed while this runtime answers. Outside systemd it does nothing.
pub fn ready() {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        tracing::warn!(cause = %e, "could not tell systemd we are ready");
    }
    if let Some(every) = sd_notify::watchdog_enabled() {
        // A runtime too stuck to run this task misses its pings, and systemd
        // restarts the daemon.
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every / 2);
            loop {
                tick.tick().await;
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
            }
        });
    }
}

/// Tells systemd the daemon is stopping.
pub fn stopping() {
    if std::env::var_os("NOTIFY_SOCKET").is_some() {
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    }
}

/// A daemon running inside this process (tests, benches): its `run_on`
/// future spawned with a shutdown signal of our own, stopped by firing the
/// signal and waiting for the run to return. Dropped without `stop`, it
/// fires the signal and lets the daemon wind down in the background.
pub struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    /// Spawns `run(shutdown)` on the current runtime.
    pub fn spawn<F, Fut>(run: F) -> Running
    where
        F: FnOnce(Shutdown) -> Fut,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(run(Box::pin(async move {
            let _ = rx.await;
        })));
        Running {
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Stops the daemon and waits for it; its error (or panic) if it failed.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(t) => t.await?,
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// A daemon's stop, shared by all its tasks: each watches it (`receiver`,
/// `stopped`) and winds down when it fires; `after` fires it once the
/// daemon's shutdown signal has come, telling the log and systemd.
pub struct Stop {
    tx: tokio::sync::watch::Sender<bool>,
    rx: tokio::sync::watch::Receiver<bool>,
}

impl Default for Stop {
    fn default() -> Self {
        let (tx, rx) = tokio::sync::watch::channel(false);
        Stop { tx, rx }
    }
}

impl Stop {
    /// Not fired yet.
    pub fn new() -> Stop {
        Stop::default()
    }

    /// For a task that watches the stop itself (`true` once fired).
    pub fn receiver(&self) -> tokio::sync::watch::Receiver<bool> {
        self.rx.clone()
    }

    /// Completes once the stop has fired (a server's graceful shutdown).
    pub fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.rx.clone();
        async move { crate::telemetry::stopped(&mut rx).await }
    }

    /// Serves `router` on `listener` until the stop fires.
    pub fn serve(
        &self,
        listener: tokio::net::TcpListener,
        router: axum::Router,
    ) -> tokio::task::JoinHandle<std::io::Result<()>> {
        tokio::spawn(crate::http::serve(listener, router, self.stopped()))
    }

    /// Waits for `shutdown`, then fires the stop, saying so (`daemon`
    /// names it in the log).
    pub async fn after(&self, shutdown: impl Future<Output = ()>, daemon: &str) {
        shutdown.await;
        tracing::info!("{daemon} shutting down");
        stopping();
        let _ = self.tx.send(true);
    }
}
