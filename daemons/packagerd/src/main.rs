//! packagerd: the HLS packaging daemon.

fn main() -> std::process::ExitCode {
    stage_core::daemon::main(
        "packagerd",
        "StreamStage packager: HLS from memory, channel info and the player page",
        |cfg, shutdown| Box::pin(packagerd::run_from_config(cfg, shutdown)),
    )
}
