//! chatd: for now it starts, answers /healthz publicly and /status on its
//! admin listener; chat arrives with its issue.

fn main() -> std::process::ExitCode {
    stage_core::daemon::main(
        "chatd",
        "StreamStage chat daemon (health and status only so far)",
        |cfg, shutdown| {
            Box::pin(async move {
                let listen = cfg.chatd.clone();
                stage_core::http::run_health_only("chatd", &cfg, &listen, shutdown).await
            })
        },
    )
}
