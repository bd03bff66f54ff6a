//! billingd: for now it starts, answers /healthz publicly and /status on its
//! admin listener; accounts and payments arrive with their issues.

fn main() -> std::process::ExitCode {
    stage_core::daemon::main(
        "billingd",
        "StreamStage billing daemon (health and status only so far)",
        |cfg, shutdown| {
            Box::pin(async move {
                let listen = cfg.billingd.clone();
                stage_core::http::run_health_only("billingd", &cfg, &listen, shutdown).await
            })
        },
    )
}
