//! The chat wire protocol (docs/chat-protocol.md): what clients send, what
//! the server sends, error and close codes.
//!
//! Server frames may carry several JSON messages separated by `\n` (a room
//! sends each burst of messages to a client as one WebSocket frame).

use serde::{Deserialize, Serialize};
use stage_core::chat::{ChatMessage, Poll};

/// A frame from a client.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    Chat {
        body: String,
    },
    React {
        emoji: String,
    },
    Vote {
        poll_id: i64,
        option: i64,
    },
    // Moderators and owners:
    Delete {
        id: String,
    },
    Timeout {
        user: String,
        seconds: u64,
        #[serde(default)]
        reason: String,
    },
    Ban {
        user: String,
        #[serde(default)]
        reason: String,
    },
    Unban {
        user: String,
    },
    Slow {
        seconds: u64,
    },
    PollCreate {
        question: String,
        options: Vec<String>,
    },
    PollClose {
        poll_id: i64,
    },
}

/// Emoji a client may react with.
pub const REACTIONS: [&str; 6] = ["❤️", "🔥", "😂", "👏", "😮", "🎉"];

/// Why a client's action was refused: a stable `code` and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl Refusal {
    pub fn new(code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    pub fn retry(code: &'static str, message: impl Into<String>, after_ms: u64) -> Refusal {
        Refusal {
            code,
            message: message.into(),
            retry_after_ms: Some(after_ms),
        }
    }

    /// The HTTP status the REST API answers this refusal with.
    pub fn http_status(&self) -> u16 {
        match self.code {
            "rate_limited" | "slow_mode" => 429,
            "login_required" => 401,
            "banned" | "timed_out" | "members_only" | "forbidden" => 403,
            "not_found" | "unknown_poll" | "unknown_user" => 404,
            "already_voted" | "poll_closed" | "not_live" => 409,
            "internal" => 500,
            _ => 422,
        }
    }
}

/// WebSocket close codes the server uses.
pub mod close {
    /// The client could not keep up with its room; reconnect.
    pub const SLOW_CONSUMER: u16 = 4008;
    /// Banned from the platform while connected.
    pub const BANNED: u16 = 4003;
    /// The server is shutting down (standard "going away").
    pub const GOING_AWAY: u16 = 1001;
}

/// The JSON of one server message.
pub fn chat(m: &ChatMessage) -> String {
    let mut v = chat_value(m);
    v["type"] = "chat".into();
    v.to_string()
}

/// A message as clients see it; a tip carries its amount (and a display
/// string, so pages need no currency table).
pub fn chat_value(m: &ChatMessage) -> serde_json::Value {
    let mut v =
        serde_json::json!({"id": m.id, "user": m.user, "role": m.role, "body": m.body, "at": m.at});
    if let Some(t) = &m.tip {
        v["tip"] = serde_json::json!({
            "amount_minor": t.amount_minor, "currency": t.currency,
            "display": stage_core::billing::format_amount(t.amount_minor, &t.currency),
        });
    }
    v
}

pub fn history<'a>(msgs: impl Iterator<Item = &'a ChatMessage>) -> String {
    let list: Vec<_> = msgs.map(chat_value).collect();
    serde_json::json!({"type": "history", "messages": list}).to_string()
}

pub fn viewers(count: u64) -> String {
    serde_json::json!({"type": "viewers", "count": count}).to_string()
}

pub fn reactions(counts: &std::collections::BTreeMap<String, u64>) -> String {
    serde_json::json!({"type": "reactions", "counts": counts}).to_string()
}

pub fn poll(p: &Poll) -> String {
    serde_json::json!({
        "type": "poll",
        "poll": {
            "id": p.id,
            "question": p.question,
            "options": p.options,
            "votes": p.votes,
            "status": p.status,
        }
    })
    .to_string()
}

pub fn deleted(id: &str) -> String {
    serde_json::json!({"type": "deleted", "id": id}).to_string()
}

pub fn moderation(v: serde_json::Value) -> String {
    let mut v = v;
    v["type"] = "moderation".into();
    v.to_string()
}

pub fn error(r: &Refusal) -> String {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    v["type"] = "error".into();
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_parse_by_type_and_reject_unknown_shapes() {
        let f: ClientFrame = serde_json::from_str(r#"{"type":"chat","body":"hi"}"#).unwrap();
        assert_eq!(f, ClientFrame::Chat { body: "hi".into() });
        let f: ClientFrame =
            serde_json::from_str(r#"{"type":"vote","poll_id":3,"option":1}"#).unwrap();
        assert_eq!(
            f,
            ClientFrame::Vote {
                poll_id: 3,
                option: 1
            }
        );
        for bad in [
            r#"{"type":"shout","body":"x"}"#,
            r#"{"type":"chat"}"#,
            r#"{"type":"chat","body":"x","admin":true}"#,
            r#"{"body":"x"}"#,
            "not json",
        ] {
            assert!(serde_json::from_str::<ClientFrame>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn error_frames_carry_code_message_and_retry() {
        let e = error(&Refusal::retry("slow_mode", "wait", 1500));
        let v: serde_json::Value = serde_json::from_str(&e).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["code"], "slow_mode");
        assert_eq!(v["retry_after_ms"], 1500);
    }
}
