//! stagectl: the operator's CLI.

mod billing;
mod channel;
mod chat;
mod client;
mod export;
mod ops;
mod output;
mod status;
mod tui;
mod up;
mod vod;

use clap::{CommandFactory, Parser, Subcommand};
use stage_core::args::CommonArgs;

/// Run and operate StreamStage.
#[derive(Parser)]
#[command(name = "stagectl", version, about)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run all daemons locally (SQLite + local storage), creating a demo channel on first run.
    Up(up::UpArgs),
    /// Create, list, show, change and delete channels.
    #[command(subcommand)]
    Channel(channel::ChannelCmd),
    /// Stream keys.
    #[command(subcommand)]
    Key(channel::KeyCmd),
    /// Daemon health and live streams (exit 1 when a daemon is down).
    Status,
    /// The live dashboard: streams, chat moderation, channels and VODs.
    Dash(tui::DashArgs),
    /// Check a config file.
    #[command(subcommand)]
    Config(ops::ConfigCmd),
    /// Check this machine: ports, FFmpeg libraries, database, disk, clock.
    Doctor,
    /// Show daemon logs (journald under systemd, else the data dir's logs).
    Logs(ops::LogsArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Write man pages.
    Man {
        /// Directory to write them to.
        #[arg(long, default_value = "man")]
        out: std::path::PathBuf,
    },
    /// Recorded broadcasts (VODs).
    #[command(subcommand)]
    Vod(vod::VodCmd),
    /// Chat moderation on live rooms (through chatd).
    #[command(subcommand)]
    Chat(chat::ChatCmd),
    /// Polls.
    #[command(subcommand)]
    Poll(chat::PollCmd),
    /// Viewer accounts and roles.
    #[command(subcommand)]
    User(chat::UserCmd),
    /// Membership tiers, tips and the ledger.
    #[command(subcommand)]
    Billing(billing::BillingCmd),
}

/// Exit codes: 0 ok, 1 failure, 2 bad usage or config, 3 not found, 4 conflict.
#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let out = output::Output { json: cli.json };
    // These need no (valid) config.
    match cli.cmd {
        Cmd::Config(c) => return ops::config(cli.common.config.as_deref(), &out, c),
        Cmd::Completions { shell } => return ops::completions(Cli::command(), shell),
        Cmd::Man { out: dir } => {
            return ops::man(Cli::command(), &dir).unwrap_or_else(|e| {
                eprintln!("stagectl: {e:#}");
                std::process::ExitCode::FAILURE
            });
        }
        _ => {}
    }
    let cfg = match cli.common.load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("stagectl: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let res = match cli.cmd {
        Cmd::Up(args) => up::run(cfg, cli.common.config.clone(), args).await,
        Cmd::Channel(c) => channel::run_channel(&cfg, &out, c).await,
        Cmd::Key(c) => channel::run_key(&cfg, &out, c).await,
        Cmd::Status => status::run(&cfg, &out).await,
        Cmd::Dash(args) => tui::run(&cfg, args).await,
        Cmd::Doctor => ops::doctor(&cfg, cli.common.config.as_deref(), &out).await,
        Cmd::Logs(args) => ops::logs(&cfg, args),
        Cmd::Config(_) | Cmd::Completions { .. } | Cmd::Man { .. } => unreachable!(),
        Cmd::Vod(c) => vod::run(&cfg, &out, c).await,
        Cmd::Chat(c) => chat::run_chat(&cfg, &out, c).await,
        Cmd::Poll(c) => chat::run_poll(&cfg, &out, c).await,
        Cmd::User(c) => chat::run_user(&cfg, &out, c).await,
        Cmd::Billing(c) => billing::run(&cfg, &out, c).await,
    };
    match res {
        Ok(code) => code,
        Err(e) => {
            eprintln!("stagectl: {e:#}");
            let code = match e.downcast_ref::<stage_core::db::DbError>() {
                Some(stage_core::db::DbError::NotFound(_)) => 3,
                Some(stage_core::db::DbError::Conflict(_)) => 4,
                Some(stage_core::db::DbError::Invalid { .. }) => 2,
                _ => 1,
            };
            std::process::ExitCode::from(code)
        }
    }
}
