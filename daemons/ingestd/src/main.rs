//! ingestd: the RTMP ingest daemon.

fn main() -> std::process::ExitCode {
    stage_core::daemon::main(
        "ingestd",
        "StreamStage RTMP ingest: authenticates publishers and forwards their media to packagerd",
        |cfg, shutdown| Box::pin(ingestd::run(cfg, shutdown)),
    )
}
