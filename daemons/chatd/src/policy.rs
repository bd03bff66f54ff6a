//! What a room allows: bans, timeouts, guests, members-only, message shape,
//! blocked words, slow mode and rate limits. Pure: the clock comes in as
//! `now` (Unix ms), so every rule is unit-tested without sockets or sleeps.

use crate::protocol::Refusal;
use stage_core::accounts::Role;
use stage_core::chat::ChatSettings;
use std::collections::HashMap;
use std::net::IpAddr;

/// Who is speaking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Speaker {
    /// None for guests.
    pub user_id: Option<i64>,
    pub name: String,
    pub role: Role,
    pub ip: IpAddr,
}

impl Speaker {
    fn key(&self) -> Key {
        match self.user_id {
            Some(id) => Key::User(id),
            None => Key::Guest(self.name.clone()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(i64),
    Guest(String),
}

/// The limits from `[chat]`.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_len: usize,
    pub user_rate: u32,
    pub ip_rate: u32,
    pub window_ms: u64,
    pub reaction_rate: u32,
}

impl Limits {
    pub fn from_config(c: &stage_core::config::ChatConfig) -> Limits {
        Limits {
            max_len: c.max_message_length,
            user_rate: c.user_rate,
            ip_rate: c.ip_rate,
            window_ms: c.rate_window.0.as_millis() as u64,
            reaction_rate: c.reaction_rate,
        }
    }
}

/// A token bucket: `cap` tokens refilled evenly over `window_ms`.
#[derive(Debug, Clone)]
struct Bucket {
    tokens: f64,
    last: i64,
}

impl Bucket {
    fn full(cap: u32, now: i64) -> Bucket {
        Bucket {
            tokens: cap as f64,
            last: now,
        }
    }

    /// Takes one token, or says how long until one is there.
    fn take(&mut self, cap: u32, window_ms: u64, now: i64) -> Result<(), u64> {
        let per_ms = cap as f64 / window_ms.max(1) as f64;
        let dt = (now - self.last).max(0) as f64;
        self.tokens = (self.tokens + dt * per_ms).min(cap as f64);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - self.tokens) / per_ms).ceil() as u64)
        }
    }
}

/// Bans and timeouts in force in a room: user id → until (None: banned).
pub type Bans = HashMap<i64, Option<i64>>;

/// One room's moderation state that changes with every message.
#[derive(Debug, Default)]
pub struct Policy {
    users: HashMap<Key, Bucket>,
    ips: HashMap<IpAddr, Bucket>,
    reactions: HashMap<Key, Bucket>,
    last_post: HashMap<Key, i64>,
}

/// Bidirectional-text controls (which could make a message display as
/// something else) and other invisible controls are removed from bodies.
fn is_stripped(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
        || (c.is_control() && c != '\n')
}

/// The body as stored: trimmed, controls removed, newlines kept.
pub fn clean_body(body: &str) -> String {
    body.chars()
        .filter(|c| !is_stripped(*c))
        .collect::<String>()
        .trim()
        .to_string()
}

/// The first blocked word or phrase `body` contains: words match whole
/// words, phrases (with a space) match anywhere; both ignore case.
pub fn blocked_word<'a>(body: &str, words: &'a [String]) -> Option<&'a str> {
    let lower = body.to_lowercase();
    let tokens: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .collect();
    words.iter().map(String::as_str).find(|w| {
        if w.contains(' ') {
            lower.contains(w)
        } else {
            tokens.contains(w)
        }
    })
}

fn format_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{} s", ms.div_ceil(1000))
    }
}

/// Why `who` may not write at all right now (ban, timeout, guest, members).
pub fn may_write(
    who: &Speaker,
    settings: &ChatSettings,
    bans: &Bans,
    now: i64,
) -> Result<(), Refusal> {
    if let Some(id) = who.user_id
        && let Some(until) = bans.get(&id)
        && !who.role.moderates()
    {
        match until {
            None => return Err(Refusal::new("banned", "you are banned from this chat")),
            Some(t) if *t > now => {
                return Err(Refusal::retry(
                    "timed_out",
                    format!("you are timed out for {}", format_ms((*t - now) as u64)),
                    (*t - now) as u64,
                ));
            }
            Some(_) => {}
        }
    }
    if who.role == Role::Guest && !settings.guests {
        return Err(Refusal::new(
            "login_required",
            "log in to chat in this channel",
        ));
    }
    if settings.members_only && who.role < Role::Member {
        return Err(Refusal::new(
            "members_only",
            "only members can chat right now",
        ));
    }
    Ok(())
}

impl Policy {
    /// Checks a chat message and returns its cleaned body, or why it is refused.
    /// A refused message takes no rate-limit token.
    pub fn check_chat(
        &mut self,
        who: &Speaker,
        body: &str,
        settings: &ChatSettings,
        bans: &Bans,
        limits: &Limits,
        now: i64,
    ) -> Result<String, Refusal> {
        may_write(who, settings, bans, now)?;
        let body = clean_body(body);
        if body.is_empty() {
            return Err(Refusal::new("empty", "the message is empty"));
        }
        let len = body.chars().count();
        if len > limits.max_len {
            return Err(Refusal::new(
                "too_long",
                format!(
                    "the message has {len} characters; the limit is {}",
                    limits.max_len
                ),
            ));
        }
        if !who.role.moderates() {
            if let Some(w) = blocked_word(&body, &settings.blocked_words) {
                return Err(Refusal::new(
                    "blocked_word",
                    format!("the message contains a blocked word ({w})"),
                ));
            }
            let key = who.key();
            if settings.slow_ms > 0
                && let Some(last) = self.last_post.get(&key)
                && now - last < settings.slow_ms
            {
                let wait = (settings.slow_ms - (now - last)) as u64;
                return Err(Refusal::retry(
                    "slow_mode",
                    format!("slow mode: wait {}", format_ms(wait)),
                    wait,
                ));
            }
            let ub = self
                .users
                .entry(key.clone())
                .or_insert_with(|| Bucket::full(limits.user_rate, now));
            let mut probe = ub.clone();
            if let Err(wait) = probe.take(limits.user_rate, limits.window_ms, now) {
                return Err(Refusal::retry(
                    "rate_limited",
                    format!("too many messages: wait {}", format_ms(wait)),
                    wait,
                ));
            }
            let ib = self
                .ips
                .entry(who.ip)
                .or_insert_with(|| Bucket::full(limits.ip_rate, now));
            if let Err(wait) = ib.take(limits.ip_rate, limits.window_ms, now) {
                return Err(Refusal::retry(
                    "rate_limited",
                    format!(
                        "too many messages from your address: wait {}",
                        format_ms(wait)
                    ),
                    wait,
                ));
            }
            *ub = probe;
            self.last_post.insert(key, now);
        }
        Ok(body)
    }

    /// Checks a reaction against the per-client reaction rate.
    pub fn check_reaction(
        &mut self,
        who: &Speaker,
        limits: &Limits,
        now: i64,
    ) -> Result<(), Refusal> {
        let b = self
            .reactions
            .entry(who.key())
            .or_insert_with(|| Bucket::full(limits.reaction_rate, now));
        b.take(limits.reaction_rate, 1000, now)
            .map_err(|wait| Refusal::retry("rate_limited", "too many reactions", wait))
    }

    /// Forgets state older than a window (called now and then so idle users
    /// do not accumulate).
    pub fn prune(&mut self, limits: &Limits, slow_ms: i64, now: i64) {
        let keep = limits.window_ms as i64 + slow_ms.max(0) + 1000;
        self.users.retain(|_, b| now - b.last < keep);
        self.ips.retain(|_, b| now - b.last < keep);
        self.reactions.retain(|_, b| now - b.last < 2000);
        self.last_post.retain(|_, t| now - *t < keep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_len: 20,
            user_rate: 3,
            ip_rate: 5,
            window_ms: 10_000,
            reaction_rate: 2,
        }
    }

    fn viewer(id: i64) -> Speaker {
        Speaker {
            user_id: Some(id),
            name: format!("u{id}"),
            role: Role::Viewer,
            ip: [10, 0, 0, 1].into(),
        }
    }

    fn code(r: Result<String, Refusal>) -> &'static str {
        r.err().map(|e| e.code).unwrap_or("ok")
    }

    #[test]
    fn user_rate_limit_refuses_the_fourth_message_then_refills() {
        let (mut p, s, b, l) = (
            Policy::default(),
            ChatSettings::default(),
            Bans::new(),
            limits(),
        );
        let v = viewer(1);
        for _ in 0..3 {
            assert_eq!(code(p.check_chat(&v, "hi", &s, &b, &l, 0)), "ok");
        }
        let e = p.check_chat(&v, "hi", &s, &b, &l, 0).unwrap_err();
        assert_eq!(e.code, "rate_limited");
        // One token every 10 s / 3.
        assert_eq!(e.retry_after_ms, Some(3334));
        assert_eq!(code(p.check_chat(&v, "hi", &s, &b, &l, 3334)), "ok");
        // A moderator is never limited.
        let mut m = viewer(2);
        m.role = Role::Moderator;
        for _ in 0..10 {
            assert_eq!(code(p.check_chat(&m, "hi", &s, &b, &l, 0)), "ok");
        }
    }

    #[test]
    fn ip_limit_covers_every_account_on_one_address() {
        let (mut p, s, b, l) = (
            Policy::default(),
            ChatSettings::default(),
            Bans::new(),
            limits(),
        );
        let mut ok = 0;
        for id in 0..10 {
            if p.check_chat(&viewer(id), "hi", &s, &b, &l, 0).is_ok() {
                ok += 1;
            }
        }
        assert_eq!(ok, 5);
    }

    #[test]
    fn slow_mode_spaces_one_users_messages() {
        let (mut p, b, l) = (Policy::default(), Bans::new(), limits());
        let s = ChatSettings {
            slow_ms: 5000,
            ..Default::default()
        };
        let v = viewer(1);
        assert_eq!(code(p.check_chat(&v, "a", &s, &b, &l, 0)), "ok");
        let e = p.check_chat(&v, "b", &s, &b, &l, 1000).unwrap_err();
        assert_eq!((e.code, e.retry_after_ms), ("slow_mode", Some(4000)));
        assert_eq!(code(p.check_chat(&v, "c", &s, &b, &l, 5000)), "ok");
        assert_eq!(code(p.check_chat(&viewer(2), "d", &s, &b, &l, 5001)), "ok");
    }

    #[test]
    fn bans_timeouts_guests_and_members_only() {
        let (mut p, l) = (Policy::default(), limits());
        let mut b = Bans::new();
        b.insert(1, None);
        b.insert(2, Some(10_000));
        let s = ChatSettings::default();
        assert_eq!(code(p.check_chat(&viewer(1), "x", &s, &b, &l, 0)), "banned");
        let e = p.check_chat(&viewer(2), "x", &s, &b, &l, 4000).unwrap_err();
        assert_eq!((e.code, e.retry_after_ms), ("timed_out", Some(6000)));
        assert_eq!(
            code(p.check_chat(&viewer(2), "x", &s, &b, &l, 10_000)),
            "ok"
        );
        let guest = Speaker {
            user_id: None,
            name: "guest-1".into(),
            role: Role::Guest,
            ip: [10, 0, 0, 2].into(),
        };
        assert_eq!(
            code(p.check_chat(&guest, "x", &s, &b, &l, 0)),
            "login_required"
        );
        let open = ChatSettings {
            guests: true,
            ..Default::default()
        };
        assert_eq!(code(p.check_chat(&guest, "x", &open, &b, &l, 0)), "ok");
        let members = ChatSettings {
            members_only: true,
            ..Default::default()
        };
        assert_eq!(
            code(p.check_chat(&viewer(3), "x", &members, &b, &l, 0)),
            "members_only"
        );
        let mut m = viewer(4);
        m.role = Role::Member;
        assert_eq!(code(p.check_chat(&m, "x", &members, &b, &l, 0)), "ok");
    }

    #[test]
    fn bodies_are_cleaned_measured_and_screened() {
        let (mut p, b, l) = (Policy::default(), Bans::new(), limits());
        let s = ChatSettings {
            blocked_words: vec!["spam".into(), "buy now".into()],
            ..Default::default()
        };
        let v = viewer(1);
        assert_eq!(
            p.check_chat(&v, "  a\u{202E}b\u{0}c  ", &s, &b, &l, 0)
                .unwrap(),
            "abc"
        );
        assert_eq!(code(p.check_chat(&v, " \u{202E} ", &s, &b, &l, 0)), "empty");
        assert_eq!(
            code(p.check_chat(&v, &"x".repeat(21), &s, &b, &l, 0)),
            "too_long"
        );
        // 20 multi-byte characters are within a 20-character limit.
        assert_eq!(
            code(p.check_chat(&viewer(5), &"é".repeat(20), &s, &b, &l, 0)),
            "ok"
        );
        assert_eq!(
            code(p.check_chat(&viewer(6), "no SPAM!", &s, &b, &l, 0)),
            "blocked_word"
        );
        assert_eq!(
            code(p.check_chat(&viewer(7), "Buy  now", &s, &b, &l, 0)),
            "ok"
        );
        assert_eq!(
            code(p.check_chat(&viewer(8), "buy now!", &s, &b, &l, 0)),
            "blocked_word"
        );
        // Whole words only: "spammer" is not "spam".
        assert_eq!(
            code(p.check_chat(&viewer(9), "spammer", &s, &b, &l, 0)),
            "ok"
        );
    }

    /// Arbitrary text (any code points, bidi controls, NULs, long runs)
    /// never panics the checks, and what passes holds no stripped character
    /// and fits the limit.
    #[test]
    fn arbitrary_bodies_never_panic_and_passing_ones_are_clean() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(6);
        let s = ChatSettings {
            blocked_words: vec!["bad".into(), "two words".into()],
            ..Default::default()
        };
        let l = Limits {
            user_rate: u32::MAX,
            ip_rate: u32::MAX,
            ..limits()
        };
        let mut p = Policy::default();
        let specials = [
            '\u{202E}', '\u{2066}', '\0', '\n', ' ', 'é', '😂', '\u{FFFF}', 'b', 'a', 'd',
        ];
        for i in 0..20_000 {
            let len = rng.random_range(0..40);
            let body: String = (0..len)
                .map(|_| {
                    if rng.random_bool(0.5) {
                        specials[rng.random_range(0..specials.len())]
                    } else {
                        char::from_u32(rng.random_range(0..0x11_0000)).unwrap_or('?')
                    }
                })
                .collect();
            if let Ok(clean) = p.check_chat(&viewer(i), &body, &s, &Bans::new(), &l, i) {
                assert!(!clean.is_empty());
                assert!(clean.chars().count() <= l.max_len);
                assert!(!clean.chars().any(is_stripped), "{clean:?}");
                assert!(blocked_word(&clean, &s.blocked_words).is_none());
            }
        }
    }

    #[test]
    fn reactions_have_their_own_rate() {
        let (mut p, l) = (Policy::default(), limits());
        let v = viewer(1);
        assert!(p.check_reaction(&v, &l, 0).is_ok());
        assert!(p.check_reaction(&v, &l, 0).is_ok());
        assert_eq!(
            p.check_reaction(&v, &l, 0).unwrap_err().code,
            "rate_limited"
        );
        assert!(p.check_reaction(&v, &l, 500).is_ok());
    }
}
