//! packagerd: the HLS packaging daemon.

use clap::Parser;
use stage_core::args::CommonArgs;

/// StreamStage packager daemon.
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
            eprintln!("packagerd: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    stage_core::telemetry::init(&cfg.log);
    match packagerd::run_from_config(cfg, stage_core::telemetry::shutdown_signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(cause = %format!("{e:#}"), "packagerd stopped");
            std::process::ExitCode::FAILURE
        }
    }
}
