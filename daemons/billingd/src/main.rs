//! billingd: viewer accounts (payments arrive with their issue).

fn main() -> std::process::ExitCode {
    stage_core::daemon::main(
        "billingd",
        "StreamStage billing daemon: viewer accounts and login tokens",
        |cfg, shutdown| Box::pin(billingd::run(cfg, shutdown)),
    )
}
