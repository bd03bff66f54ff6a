//! The admin API's paths, in one place: every `/admin/...` route a daemon
//! mounts and stagectl, the dash, the other daemons and the tests call. A
//! [`Route`] is both the axum pattern a router mounts and, filled in with
//! [`Route::path`], the path a client requests, so the two cannot drift.
//! [`ErrorBody`] is what every API, public or admin, answers a refusal with;
//! [`status`] holds the bodies of each daemon's `/status`.

pub mod status;

/// An admin route: an axum pattern with `{name}` placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route(&'static str);

impl Route {
    /// The pattern a router mounts.
    pub const fn pattern(self) -> &'static str {
        self.0
    }

    /// The path with each `{…}` replaced by `args`, in order. Channel
    /// names, user ids and action names are path-safe by construction
    /// (validated where they are made); a wrong number of arguments is a
    /// programming error.
    pub fn path(self, args: &[&str]) -> String {
        let mut out = String::with_capacity(self.0.len() + 16);
        let mut rest = self.0;
        let mut args = args.iter();
        while let Some(open) = rest.find('{') {
            let close = rest[open..]
                .find('}')
                .map(|c| open + c + 1)
                .unwrap_or(rest.len());
            out.push_str(&rest[..open]);
            out.push_str(args.next().expect("an argument for every placeholder"));
            rest = &rest[close..];
        }
        assert!(
            args.next().is_none(),
            "more arguments than placeholders in {}",
            self.0
        );
        out.push_str(rest);
        out
    }
}

// chatd
/// GET a channel's chat settings; POST changes them.
pub const CHAT_SETTINGS: Route = Route("/admin/chat/{channel}/settings");
/// GET a channel's polls; POST opens one.
pub const CHAT_POLLS: Route = Route("/admin/chat/{channel}/polls");
/// POST closes a poll.
pub const CHAT_POLL_CLOSE: Route = Route("/admin/chat/{channel}/polls/{id}/close");
/// GET the moderation audit log (`?limit=N`).
pub const CHAT_AUDIT: Route = Route("/admin/chat/{channel}/audit");
/// POST a moderation action or notice: `delete`, `timeout`, `ban`,
/// `unban`, `tip` (billingd's tip announcement).
pub const CHAT_ACTION: Route = Route("/admin/chat/{channel}/{action}");
/// POST disconnects a user everywhere.
pub const CHAT_USER_KICK: Route = Route("/admin/users/{id}/kick");
/// POST from ingestd: a channel went live (`stream_id`) or ended (`null`).
pub const CHAT_STREAMS: Route = Route("/admin/streams");

// ingestd
/// POST disconnects a channel's publisher and ends its stream.
pub const INGEST_KICK: Route = Route("/admin/channels/{channel}/kick");

// billingd
/// POST creates a membership tier.
pub const BILLING_TIERS: Route = Route("/admin/billing/tiers");
/// POST archives a tier (no new subscriptions; members keep theirs).
pub const BILLING_TIER_ARCHIVE: Route = Route("/admin/billing/tiers/{id}/archive");

/// The body of every refusal, from every daemon's public and admin APIs:
/// a stable `code` for programs (`not_found`, `bad_request`, …) and a
/// `message` for people. Some add fields of their own (billingd's `field`,
/// chatd's `retry_after_ms`); none leaves these two out.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fill_the_placeholders_in_order() {
        assert_eq!(CHAT_ACTION.path(&["demo", "ban"]), "/admin/chat/demo/ban");
        assert_eq!(
            CHAT_POLL_CLOSE.path(&["demo", "p1"]),
            "/admin/chat/demo/polls/p1/close"
        );
        assert_eq!(CHAT_STREAMS.path(&[]), "/admin/streams");
        assert_eq!(CHAT_STREAMS.pattern(), "/admin/streams");
    }

    #[test]
    #[should_panic(expected = "an argument for every placeholder")]
    fn too_few_arguments_is_a_bug() {
        CHAT_ACTION.path(&["demo"]);
    }

    #[test]
    #[should_panic(expected = "more arguments")]
    fn too_many_arguments_is_a_bug() {
        INGEST_KICK.path(&["demo", "x"]);
    }
}
