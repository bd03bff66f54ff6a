//! billingd: viewer accounts, memberships and tips (Stripe or the dev
//! provider), the ledger, and playback tokens for members-only streams.

fn main() -> std::process::ExitCode {
    stage_core::daemon::main(
        "billingd",
        "StreamStage billing daemon: accounts, memberships, tips and the ledger",
        |cfg, shutdown| Box::pin(billingd::run(cfg, shutdown)),
    )
}
