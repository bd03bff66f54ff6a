//! Billing's rows: membership tiers, checkouts, memberships, payments, tips
//! and the ledger; provider events are applied in `process`.

pub mod event;
pub mod fees;
pub mod process;
pub mod signature;

use crate::db::{Db, DbError, is_unique_violation};
use crate::time::now_ms;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

type Result<T, E = DbError> = std::result::Result<T, E>;

/// Currencies whose minor unit is the whole unit (Stripe's zero-decimal list,
/// the ones a creator is likely to use).
const ZERO_DECIMAL: [&str; 6] = ["jpy", "krw", "vnd", "clp", "isk", "ugx"];

/// A price in minor units, for people: `4.99 USD`, `500 JPY`.
pub fn format_amount(minor: i64, currency: &str) -> String {
    let cur = currency.to_uppercase();
    if ZERO_DECIMAL.contains(&currency.to_lowercase().as_str()) {
        return format!("{minor} {cur}");
    }
    let sign = if minor < 0 { "-" } else { "" };
    let m = minor.unsigned_abs();
    format!("{sign}{}.{:02} {cur}", m / 100, m % 100)
}

/// Parses `4.99` (or `4`) into minor units of `currency`.
pub fn parse_amount(s: &str, currency: &str) -> Option<i64> {
    let s = s.trim();
    if ZERO_DECIMAL.contains(&currency.to_lowercase().as_str()) {
        return s.parse().ok().filter(|v: &i64| *v >= 0);
    }
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 2 {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let w: i64 = whole.parse().ok()?;
    let f: i64 = format!("{frac:0<2}").parse().ok()?;
    w.checked_mul(100)?.checked_add(f)
}

/// A membership tier a channel sells.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tier {
    pub id: i64,
    pub channel_id: i64,
    pub name: String,
    pub price_minor: i64,
    pub currency: String,
    /// `month` or `year`.
    pub interval: String,
    /// The provider's price id.
    pub provider_price: String,
    pub archived: bool,
    pub created_at: i64,
}

/// A checkout to record before sending the viewer to pay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Checkout {
    /// The provider's session id.
    pub id: String,
    /// `membership` or `tip`.
    pub kind: String,
    pub user_id: i64,
    pub channel_id: i64,
    pub tier_id: Option<i64>,
    pub stream_id: Option<i64>,
    pub amount_minor: i64,
    pub currency: String,
    pub message: String,
    /// `open` until the provider says it completed.
    pub status: String,
    /// Where the viewer goes afterwards.
    pub return_url: String,
    pub created_at: i64,
}

/// A viewer's membership of a channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Membership {
    pub user_id: i64,
    pub channel_id: i64,
    pub tier_id: Option<i64>,
    pub tier: String,
    /// The provider's status: `active`, `trialing`, `past_due`, `canceled`, ...
    pub status: String,
    pub current_period_end: Option<i64>,
    pub provider_customer: String,
    pub provider_subscription: String,
}

impl Membership {
    /// Whether it gives access at `now` (ms), allowing `grace_ms` past the
    /// period's end or a failed payment. Cancelled gives none.
    pub fn active(&self, now: i64, grace_ms: i64) -> bool {
        matches!(self.status.as_str(), "active" | "trialing" | "past_due")
            && self
                .current_period_end
                .is_none_or(|end| end.saturating_add(grace_ms) > now)
    }
}

/// One ledger entry (amounts in minor units; reversals negative).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LedgerEntry {
    pub id: i64,
    pub channel_id: i64,
    pub user_id: Option<i64>,
    /// `membership`, `tip`, `refund` or `dispute`.
    pub kind: String,
    pub payment_id: String,
    pub event_id: String,
    pub gross: i64,
    pub platform_fee: i64,
    pub processor_fee: i64,
    pub creator: i64,
    pub currency: String,
    /// When the money moved (the provider's event time), Unix ms.
    pub occurred_ms: i64,
}

/// A tip as shown in lists.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tip {
    pub id: i64,
    pub channel_id: i64,
    pub stream_id: Option<i64>,
    pub sender_id: Option<i64>,
    pub sender: String,
    pub amount_minor: i64,
    pub currency: String,
    pub message: String,
    pub created_at: i64,
}

fn tier_row(r: &AnyRow) -> Result<Tier> {
    Ok(Tier {
        id: r.try_get("id")?,
        channel_id: r.try_get("channel_id")?,
        name: r.try_get("name")?,
        price_minor: r.try_get("price_minor")?,
        currency: r.try_get("currency")?,
        interval: r.try_get("billing_interval")?,
        provider_price: r.try_get("provider_price")?,
        archived: r.try_get::<i64, _>("archived")? != 0,
        created_at: r.try_get("created_at")?,
    })
}

fn checkout_row(r: &AnyRow) -> Result<Checkout> {
    Ok(Checkout {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        user_id: r.try_get("user_id")?,
        channel_id: r.try_get("channel_id")?,
        tier_id: r.try_get("tier_id")?,
        stream_id: r.try_get("stream_id")?,
        amount_minor: r.try_get("amount_minor")?,
        currency: r.try_get("currency")?,
        message: r.try_get("message")?,
        status: r.try_get("status")?,
        return_url: r.try_get("return_url")?,
        created_at: r.try_get("created_at")?,
    })
}

fn ledger_row(r: &AnyRow) -> Result<LedgerEntry> {
    Ok(LedgerEntry {
        id: r.try_get("id")?,
        channel_id: r.try_get("channel_id")?,
        user_id: r.try_get("user_id")?,
        kind: r.try_get("kind")?,
        payment_id: r.try_get("payment_id")?,
        event_id: r.try_get("event_id")?,
        gross: r.try_get("gross_minor")?,
        platform_fee: r.try_get("platform_fee_minor")?,
        processor_fee: r.try_get("processor_fee_minor")?,
        creator: r.try_get("creator_minor")?,
        currency: r.try_get("currency")?,
        occurred_ms: r.try_get("occurred_ms")?,
    })
}

const TIER_COLS: &str = "id, channel_id, name, price_minor, currency, billing_interval, provider_price, archived, created_at";
const CHECKOUT_COLS: &str = "id, kind, user_id, channel_id, tier_id, stream_id, amount_minor, currency, message, status, return_url, created_at";
const LEDGER_COLS: &str = "id, channel_id, user_id, kind, payment_id, event_id, gross_minor, platform_fee_minor, processor_fee_minor, creator_minor, currency, occurred_ms";

impl Db {
    /// Adds a tier; `Conflict` when the channel already has one by that name.
    pub async fn create_tier(
        &self,
        channel_id: i64,
        name: &str,
        price_minor: i64,
        currency: &str,
        interval: &str,
    ) -> Result<Tier> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 40 || name.chars().any(char::is_control) {
            return Err(DbError::Invalid {
                field: "name",
                message: "must be 1 to 40 printable characters".into(),
            });
        }
        if price_minor <= 0 {
            return Err(DbError::Invalid {
                field: "price",
                message: "must be more than 0".into(),
            });
        }
        if !matches!(interval, "month" | "year") {
            return Err(DbError::Invalid {
                field: "interval",
                message: "must be month or year".into(),
            });
        }
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(DbError::Invalid {
                field: "currency",
                message: "must be a three-letter ISO code like usd".into(),
            });
        }
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO tiers (channel_id, name, price_minor, currency, billing_interval, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {TIER_COLS}"
        )))
        .bind(channel_id)
        .bind(name)
        .bind(price_minor)
        .bind(currency)
        .bind(interval)
        .bind(now_ms())
        .fetch_one(self.pool())
        .await;
        match r {
            Ok(r) => tier_row(&r),
            Err(e) if is_unique_violation(&e) => Err(DbError::Conflict(format!(
                "the channel already has a tier named {name}"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Records the provider's price id for a tier.
    pub async fn set_tier_price(&self, id: i64, provider_price: &str) -> Result<()> {
        sqlx::query("UPDATE tiers SET provider_price = $2 WHERE id = $1")
            .bind(id)
            .bind(provider_price)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Tiers, of one channel or all, archived ones too when asked.
    pub async fn tiers(&self, channel_id: Option<i64>, archived: bool) -> Result<Vec<Tier>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TIER_COLS} FROM tiers WHERE ($1 IS NULL OR channel_id = $1) \
             AND ($2 = 1 OR archived = 0) ORDER BY channel_id, price_minor, id"
        )))
        .bind(channel_id)
        .bind(archived as i64)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(tier_row).collect()
    }

    /// One tier.
    pub async fn tier(&self, id: i64) -> Result<Option<Tier>> {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TIER_COLS} FROM tiers WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        r.as_ref().map(tier_row).transpose()
    }

    /// Removes a tier nobody could buy yet (its price failed to be made).
    pub async fn delete_tier(&self, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM tiers WHERE id = $1 AND provider_price = ''")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Stops selling a tier (its members keep their membership).
    pub async fn archive_tier(&self, id: i64) -> Result<Tier> {
        sqlx::query("UPDATE tiers SET archived = 1 WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        self.tier(id)
            .await?
            .ok_or_else(|| DbError::NotFound(format!("tier {id}")))
    }

    /// Records a checkout about to be paid.
    pub async fn create_checkout(&self, c: &Checkout) -> Result<()> {
        sqlx::query(
            "INSERT INTO checkouts (id, kind, user_id, channel_id, tier_id, stream_id, amount_minor, \
               currency, message, status, return_url, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&c.id)
        .bind(&c.kind)
        .bind(c.user_id)
        .bind(c.channel_id)
        .bind(c.tier_id)
        .bind(c.stream_id)
        .bind(c.amount_minor)
        .bind(&c.currency)
        .bind(&c.message)
        .bind(&c.status)
        .bind(&c.return_url)
        .bind(c.created_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// One checkout.
    pub async fn checkout(&self, id: &str) -> Result<Option<Checkout>> {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CHECKOUT_COLS} FROM checkouts WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        r.as_ref().map(checkout_row).transpose()
    }

    /// A viewer's membership of a channel, whatever its status.
    pub async fn membership(&self, user_id: i64, channel_id: i64) -> Result<Option<Membership>> {
        let r = sqlx::query(
            "SELECT user_id, channel_id, tier_id, tier, status, current_period_end, provider_customer, \
               provider_subscription FROM memberships WHERE user_id = $1 AND channel_id = $2",
        )
        .bind(user_id)
        .bind(channel_id)
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = r else { return Ok(None) };
        Ok(Some(Membership {
            user_id: r.try_get("user_id")?,
            channel_id: r.try_get("channel_id")?,
            tier_id: r.try_get("tier_id")?,
            tier: r.try_get("tier")?,
            status: r.try_get("status")?,
            current_period_end: r.try_get("current_period_end")?,
            provider_customer: r.try_get("provider_customer")?,
            provider_subscription: r.try_get("provider_subscription")?,
        }))
    }

    /// Ledger entries, of one channel or all, in `[from, to)` ms when given,
    /// oldest first.
    pub async fn ledger(
        &self,
        channel_id: Option<i64>,
        range: Option<(i64, i64)>,
    ) -> Result<Vec<LedgerEntry>> {
        let (from, to) = range.unwrap_or((i64::MIN, i64::MAX));
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LEDGER_COLS} FROM ledger WHERE ($1 IS NULL OR channel_id = $1) \
             AND occurred_ms >= $2 AND occurred_ms < $3 ORDER BY occurred_ms, id"
        )))
        .bind(channel_id)
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(ledger_row).collect()
    }

    /// Tips of a channel, newest first.
    pub async fn tips(&self, channel_id: i64, limit: i64) -> Result<Vec<Tip>> {
        let rows = sqlx::query(
            "SELECT t.id, t.channel_id, t.stream_id, t.sender_id, COALESCE(u.username, '') AS sender, \
               t.amount_minor, t.currency, t.message, t.created_at \
             FROM tips t LEFT JOIN users u ON u.id = t.sender_id \
             WHERE t.channel_id = $1 ORDER BY t.id DESC LIMIT $2",
        )
        .bind(channel_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Tip {
                    id: r.try_get("id")?,
                    channel_id: r.try_get("channel_id")?,
                    stream_id: r.try_get("stream_id")?,
                    sender_id: r.try_get("sender_id")?,
                    sender: r.try_get("sender")?,
                    amount_minor: r.try_get("amount_minor")?,
                    currency: r.try_get("currency")?,
                    message: r.try_get("message")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }
}

/// Sums of ledger entries by channel, currency and kind (what a report and a
/// payout summary show).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub entries: i64,
    pub gross: i64,
    pub platform_fee: i64,
    pub processor_fee: i64,
    pub creator: i64,
}

impl Totals {
    /// Adds one entry.
    pub fn add(&mut self, e: &LedgerEntry) {
        self.entries += 1;
        self.gross += e.gross;
        self.platform_fee += e.platform_fee;
        self.processor_fee += e.processor_fee;
        self.creator += e.creator;
    }
}

/// Tips to one channel in one currency over some period.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TipSum {
    pub channel: String,
    pub currency: String,
    pub count: i64,
    pub amount_minor: i64,
}

impl Db {
    /// Tips received since `since_ms`, per channel and currency.
    pub async fn tips_since(&self, since_ms: i64) -> Result<Vec<TipSum>> {
        let rows = sqlx::query(
            "SELECT c.name AS channel, t.currency, COUNT(*) AS n, CAST(SUM(t.amount_minor) AS BIGINT) AS total \
             FROM tips t JOIN channels c ON c.id = t.channel_id \
             WHERE t.created_at >= $1 GROUP BY c.name, t.currency ORDER BY c.name, t.currency",
        )
        .bind(since_ms)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TipSum {
                    channel: r.try_get("channel")?,
                    currency: r.try_get("currency")?,
                    count: r.try_get("n")?,
                    amount_minor: r.try_get("total")?,
                })
            })
            .collect()
    }
}

/// Totals keyed by (channel id, currency, kind), in key order.
pub fn summarize(
    entries: &[LedgerEntry],
) -> std::collections::BTreeMap<(i64, String, String), Totals> {
    let mut out = std::collections::BTreeMap::new();
    for e in entries {
        out.entry((e.channel_id, e.currency.clone(), e.kind.clone()))
            .or_insert_with(Totals::default)
            .add(e);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_print_and_parse_in_minor_units() {
        assert_eq!(format_amount(499, "usd"), "4.99 USD");
        assert_eq!(format_amount(-5, "eur"), "-0.05 EUR");
        assert_eq!(format_amount(500, "jpy"), "500 JPY");
        assert_eq!(parse_amount("4.99", "usd"), Some(499));
        assert_eq!(parse_amount("4.9", "usd"), Some(490));
        assert_eq!(parse_amount("4", "usd"), Some(400));
        assert_eq!(parse_amount("500", "jpy"), Some(500));
        for bad in ["", "4.999", "-1", "1e3", "4,99", ".5", "4.x"] {
            assert_eq!(parse_amount(bad, "usd"), None, "{bad}");
        }
    }
}
