//! StreamStage shared library: configuration, database access, stream keys,
//! admin tokens, telemetry and the small HTTP helpers every daemon uses.

pub mod accounts;
pub mod admin;
pub mod api;
pub mod args;
pub mod billing;
pub mod chat;
pub mod config;
pub mod daemon;
pub mod db;
pub mod http;
pub mod keys;
pub mod telemetry;

pub mod time;
pub mod tokens;

pub use config::Config;
pub use db::Db;
