//! `[chat]`: rooms, rates and limits (chatd).

use super::{Bad, ByteSize, ConfigError, HumanDuration};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Chat rooms (chatd).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatConfig {
    /// `redis://HOST:PORT` to share rooms between several chatd nodes; empty:
    /// this node alone.
    pub redis_url: String,
    /// The Redis pub/sub channel the nodes of one install share (several
    /// installs may share one Redis with different names).
    pub redis_channel: String,
    /// Messages sent to a joining client.
    pub history: usize,
    /// Longest message, in characters.
    pub max_message_length: usize,
    /// Messages one account may send per `rate_window` (every role but
    /// moderators and owners).
    pub user_rate: u32,
    /// Messages one client address may send per `rate_window` (all its
    /// accounts and guests together).
    pub ip_rate: u32,
    pub rate_window: HumanDuration,
    /// Reactions one client may send per second.
    pub reaction_rate: u32,
    /// How often reactions are sent to viewers as one aggregated burst.
    pub reaction_interval: HumanDuration,
    /// Bytes waiting for one client before it is dropped as too slow (close
    /// code 4008).
    pub client_queue: ByteSize,
    /// Public URL of chatd as the player page reaches it; empty:
    /// `http://{public_host}:{chatd.listen port}`.
    pub public_url: String,
    /// Public URL of billingd (accounts) as the page reaches it; empty:
    /// `http://{public_host}:{billingd.listen port}`.
    pub auth_url: String,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            redis_url: String::new(),
            redis_channel: "stage:chat".into(),
            history: 50,
            max_message_length: 500,
            user_rate: 5,
            ip_rate: 20,
            rate_window: HumanDuration(Duration::from_secs(10)),
            reaction_rate: 10,
            reaction_interval: HumanDuration(Duration::from_millis(250)),
            client_queue: ByteSize(1 << 20),
            public_url: String::new(),
            auth_url: String::new(),
        }
    }
}

impl ChatConfig {
    /// Rates, limits and the Redis URL.
    pub(super) fn validate(&self, bad: Bad) -> Result<(), ConfigError> {
        if !(self.redis_url.is_empty()
            || self.redis_url.starts_with("redis://")
            || self.redis_url.starts_with("rediss://"))
        {
            return Err(bad("chat.redis_url", "must be empty or a redis:// URL"));
        }
        if self.redis_channel.is_empty() {
            return Err(bad("chat.redis_channel", "must not be empty"));
        }
        if !(1..=1000).contains(&self.history) {
            return Err(bad("chat.history", "must be between 1 and 1000"));
        }
        if !(1..=10_000).contains(&self.max_message_length) {
            return Err(bad(
                "chat.max_message_length",
                "must be between 1 and 10000",
            ));
        }
        if self.user_rate == 0 || self.ip_rate == 0 || self.reaction_rate == 0 {
            return Err(bad(
                "chat.user_rate",
                "chat.user_rate, chat.ip_rate and chat.reaction_rate must be at least 1",
            ));
        }
        if self.rate_window.0.is_zero() {
            return Err(bad("chat.rate_window", "must be more than 0s"));
        }
        let ri = self.reaction_interval.0;
        if ri < Duration::from_millis(20) || ri > Duration::from_secs(10) {
            return Err(bad(
                "chat.reaction_interval",
                "must be between 20ms and 10s",
            ));
        }
        if self.client_queue.0 < 16 * 1024 {
            return Err(bad("chat.client_queue", "must be at least 16KiB"));
        }
        Ok(())
    }
}
