//! `[billing]`: memberships, tips and the ledger (billingd).

use super::{Bad, ConfigError, HumanDuration};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Who takes the money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// A local confirmation page stands in for the processor.
    #[default]
    Dev,
    /// Stripe Checkout and webhooks.
    Stripe,
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Provider::Dev => "dev",
            Provider::Stripe => "stripe",
        })
    }
}

/// Memberships, tips and the ledger (billingd).
#[derive(Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BillingConfig {
    /// `dev`: checkouts complete on a local confirmation page that sends
    /// signed, Stripe-shaped events through the webhook (no keys, no money);
    /// `stripe`: Stripe Checkout and webhooks.
    pub provider: Provider,
    /// The platform's share of every payment, in basis points (500 = 5%;
    /// the creator keeps the rest, less the processor's fee).
    pub platform_fee_bps: u32,
    /// Currency of tips and new tiers (ISO code, lowercase).
    pub currency: String,
    /// Smallest and largest tip, in minor units (cents).
    pub tip_min: i64,
    pub tip_max: i64,
    /// Longest tip message, in characters.
    pub tip_message_length: usize,
    /// How long a membership keeps access past its period's end or a failed
    /// payment (Stripe retries for days).
    pub grace: HumanDuration,
    /// Lifetime of a playback token for members-only streams.
    pub playback_ttl: HumanDuration,
    /// Webhook signing secrets (`whsec_...`); several while one is rolled.
    /// Empty with the dev provider: one is generated into the data dir.
    pub webhook_secrets: Vec<String>,
    /// How far a webhook's signed timestamp may be from now.
    pub webhook_tolerance: HumanDuration,
    /// billingd's public URL as viewers' browsers reach it (checkout return
    /// and confirmation pages); empty: `chat.auth_url`'s default.
    pub public_url: String,
    #[serde(default)]
    pub stripe: StripeConfig,
}

impl BillingConfig {
    /// How long a lapsed membership still counts, in ms (`grace`).
    pub fn grace_ms(&self) -> i64 {
        self.grace.0.as_millis() as i64
    }
}

/// Stripe's API (with `billing.provider = "stripe"`).
#[derive(Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StripeConfig {
    /// Secret API key (`sk_live_...`/`sk_test_...`); the environment's
    /// `STRIPE_SECRET_KEY` is used when this is empty.
    pub secret_key: String,
    /// API base URL (tests point it at a local stand-in).
    pub api_base: String,
}

impl Default for StripeConfig {
    fn default() -> Self {
        StripeConfig {
            secret_key: String::new(),
            api_base: "https://api.stripe.com".into(),
        }
    }
}

impl Default for BillingConfig {
    fn default() -> Self {
        BillingConfig {
            provider: Provider::Dev,
            platform_fee_bps: 500,
            currency: "usd".into(),
            tip_min: 100,
            tip_max: 50_000,
            tip_message_length: 200,
            grace: HumanDuration(Duration::from_secs(3 * 24 * 3600)),
            playback_ttl: HumanDuration(Duration::from_secs(600)),
            webhook_secrets: Vec::new(),
            webhook_tolerance: HumanDuration(Duration::from_secs(300)),
            public_url: String::new(),
            stripe: StripeConfig::default(),
        }
    }
}

fn redacted(s: &str) -> &'static str {
    if s.is_empty() { "" } else { "<redacted>" }
}

// Secrets never reach a log line through `{:?}`.
impl std::fmt::Debug for BillingConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BillingConfig")
            .field("provider", &self.provider)
            .field("platform_fee_bps", &self.platform_fee_bps)
            .field("currency", &self.currency)
            .field("tip_min", &self.tip_min)
            .field("tip_max", &self.tip_max)
            .field("tip_message_length", &self.tip_message_length)
            .field("grace", &self.grace)
            .field("playback_ttl", &self.playback_ttl)
            .field(
                "webhook_secrets",
                &self
                    .webhook_secrets
                    .iter()
                    .map(|s| redacted(s))
                    .collect::<Vec<_>>(),
            )
            .field("webhook_tolerance", &self.webhook_tolerance)
            .field("public_url", &self.public_url)
            .field("stripe", &self.stripe)
            .finish()
    }
}

impl std::fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeConfig")
            .field("secret_key", &redacted(&self.secret_key))
            .field("api_base", &self.api_base)
            .finish()
    }
}

impl BillingConfig {
    /// Fees, currency, tip bounds and the webhook secrets.
    pub(super) fn validate(&self, bad: Bad) -> Result<(), ConfigError> {
        let b = self;
        if b.platform_fee_bps > 10_000 {
            return Err(bad(
                "billing.platform_fee_bps",
                "must be between 0 and 10000 (basis points: 500 = 5%)",
            ));
        }
        if b.currency.len() != 3 || !b.currency.bytes().all(|c| c.is_ascii_lowercase()) {
            return Err(bad(
                "billing.currency",
                "must be a lowercase three-letter ISO code like \"usd\"",
            ));
        }
        if b.tip_min < 1 || b.tip_max < b.tip_min {
            return Err(bad(
                "billing.tip_min",
                "billing.tip_min must be at least 1 and billing.tip_max at least tip_min",
            ));
        }
        if !(1..=1000).contains(&b.tip_message_length) {
            return Err(bad(
                "billing.tip_message_length",
                "must be between 1 and 1000",
            ));
        }
        let pt = b.playback_ttl.0;
        if pt < Duration::from_secs(30) || pt > Duration::from_secs(24 * 3600) {
            return Err(bad("billing.playback_ttl", "must be between 30s and 24h"));
        }
        if b.webhook_tolerance.0 < Duration::from_secs(1) {
            return Err(bad("billing.webhook_tolerance", "must be at least 1s"));
        }
        if b.webhook_secrets.iter().any(|s| s.len() < 16) {
            return Err(bad(
                "billing.webhook_secrets",
                "each secret must be at least 16 characters (Stripe's whsec_...)",
            ));
        }
        if b.provider == Provider::Stripe && b.webhook_secrets.is_empty() {
            return Err(bad(
                "billing.webhook_secrets",
                "must hold the webhook endpoint's signing secret with provider \"stripe\"",
            ));
        }
        if !(b.stripe.api_base.starts_with("https://") || b.stripe.api_base.starts_with("http://"))
        {
            return Err(bad("billing.stripe.api_base", "must be an http(s) URL"));
        }
        Ok(())
    }
}
