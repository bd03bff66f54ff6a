//! chatd: live chat (WebSocket rooms, reactions, polls, moderation).

fn main() -> std::process::ExitCode {
    stage_core::daemon::main(
        "chatd",
        "StreamStage chat daemon: WebSocket chat, reactions, polls, moderation",
        |cfg, shutdown| Box::pin(chatd::run(cfg, shutdown)),
    )
}
