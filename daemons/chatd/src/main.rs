//! chatd: for now it starts, answers /healthz publicly and /status on its
//! admin listener; its features arrive with their issues.

use clap::Parser;
use stage_core::args::CommonArgs;

/// StreamStage chat daemon (WebSocket chat, reactions, polls; features land in a later issue).
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let cfg = match args.common.load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("chatd: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    stage_core::telemetry::init(&cfg.log);
    let listen = cfg.chatd.clone();
    let res = stage_core::http::run_health_only(
        "chatd",
        &cfg,
        &listen,
        stage_core::telemetry::shutdown_signal(),
    )
    .await;
    match res {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(cause = %format!("{e:#}"), "chatd stopped");
            std::process::ExitCode::FAILURE
        }
    }
}
