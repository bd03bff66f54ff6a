//! ingestd: the RTMP ingest daemon.

use clap::Parser;
use stage_core::args::CommonArgs;

/// StreamStage RTMP ingest daemon.
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
            eprintln!("ingestd: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    stage_core::telemetry::init(&cfg.log);
    match ingestd::run_from_config(cfg, stage_core::telemetry::shutdown_signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(cause = %format!("{e:#}"), "ingestd stopped");
            std::process::ExitCode::FAILURE
        }
    }
}
