//! Applying provider events: each event id is recorded once, in the same
//! transaction as everything it changes, so a second delivery (even a
//! concurrent one) changes nothing. The result does not depend on the order
//! events arrive in:
//! - membership status follows the newest event (by the provider's `created`),
//!   a cancelled subscription stays cancelled, period ends only grow;
//! - money is keyed by payment: a payment is recorded once whichever event
//!   reports it, and refunds and disputes reverse up to cumulative amounts
//!   (see `fees::reversal`), so their sum is the same in any order;
//! - a refund or dispute that arrives before its payment waits and is applied
//!   when the payment is recorded.

use super::event::{self, Event, int_at, meta_id, str_at};
use super::fees;
use crate::db::{Backend, Db, DbError};
use crate::time::now_ms;
use sqlx::AnyConnection;
use sqlx::Row;

type Result<T, E = DbError> = std::result::Result<T, E>;

/// What event processing needs from the config.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Platform fee in basis points for payments recorded now.
    pub platform_fee_bps: u32,
}

/// A tip that was just paid (to be shown in chat).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TipPaid {
    pub tip_id: i64,
    pub channel_id: i64,
    pub stream_id: Option<i64>,
    pub sender_id: Option<i64>,
    pub amount_minor: i64,
    pub currency: String,
    pub message: String,
}

/// What processing one event did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Seen before: nothing changed.
    Duplicate,
    /// Recorded with `status` (`processed`, `ignored` or `waiting`).
    Recorded {
        status: &'static str,
        tips: Vec<TipPaid>,
    },
}

enum Status {
    Processed,
    Ignored(&'static str),
    Waiting(String),
}

struct Proc<'a> {
    c: &'a mut AnyConnection,
    bps: u32,
    tips: Vec<TipPaid>,
}

impl Db {
    /// Records and applies one verified event, exactly once.
    pub async fn process_event(
        &self,
        ev: &Event,
        payload: &str,
        policy: Policy,
    ) -> Result<Outcome> {
        let mut tx = self.pool().begin().await?;
        if self.backend() == Backend::Postgres {
            // Billing events are few: one at a time keeps every
            // read-modify-write below as simple as under SQLite.
            sqlx::query("SELECT pg_advisory_xact_lock(700700)")
                .execute(&mut *tx)
                .await?;
        }
        let ins = sqlx::query(
            "INSERT INTO billing_events (id, type, created_ms, received_at, status, payload) \
             VALUES ($1, $2, $3, $4, 'processing', $5) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&ev.id)
        .bind(&ev.kind)
        .bind(ev.created_ms)
        .bind(now_ms())
        .bind(payload)
        .execute(&mut *tx)
        .await?;
        if ins.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(Outcome::Duplicate);
        }
        let mut p = Proc {
            c: &mut tx,
            bps: policy.platform_fee_bps,
            tips: Vec::new(),
        };
        let status = p.dispatch(ev).await?;
        let tips = std::mem::take(&mut p.tips);
        let (status, waits) = match status {
            Status::Processed => ("processed", String::new()),
            Status::Ignored(why) => {
                tracing::info!(event = %ev.id, kind = %ev.kind, why, "billing event ignored");
                ("ignored", String::new())
            }
            Status::Waiting(pay) => ("waiting", pay),
        };
        sqlx::query("UPDATE billing_events SET status = $2, waits_for = $3 WHERE id = $1")
            .bind(&ev.id)
            .bind(status)
            .bind(&waits)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Outcome::Recorded { status, tips })
    }

    /// The status an event was recorded with, if it was.
    pub async fn billing_event_status(&self, id: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT status FROM billing_events WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await?,
        )
    }
}

fn status_rank(s: &str) -> i32 {
    match s {
        "canceled" => 5,
        "unpaid" => 4,
        "past_due" => 3,
        "active" | "trialing" => 2,
        _ => 1,
    }
}

/// A membership change an event reports.
struct MemberChange<'a> {
    user_id: i64,
    channel_id: i64,
    tier_id: Option<i64>,
    subscription: &'a str,
    customer: &'a str,
    status: &'a str,
    period_end: Option<i64>,
    at: i64,
}

impl Proc<'_> {
    async fn dispatch(&mut self, ev: &Event) -> Result<Status> {
        let o = &ev.object;
        match ev.kind.as_str() {
            "checkout.session.completed" => self.checkout_completed(ev).await,
            "customer.subscription.created"
            | "customer.subscription.updated"
            | "customer.subscription.deleted" => {
                let Some(sub) = str_at(o, &["id"]) else {
                    return Ok(Status::Ignored("subscription without id"));
                };
                let Some((user_id, channel_id, tier_id)) =
                    self.subscriber(o.get("metadata"), sub).await?
                else {
                    return Ok(Status::Ignored("subscription not ours"));
                };
                let status = if ev.kind.ends_with("deleted") {
                    "canceled"
                } else {
                    str_at(o, &["status"]).unwrap_or("active")
                };
                self.member(MemberChange {
                    user_id,
                    channel_id,
                    tier_id,
                    subscription: sub,
                    customer: str_at(o, &["customer"]).unwrap_or(""),
                    status,
                    period_end: event::subscription_period_end_ms(o),
                    at: ev.created_ms,
                })
                .await?;
                Ok(Status::Processed)
            }
            "invoice.paid" | "invoice.payment_failed" => {
                let Some(sub) = event::invoice_subscription(o) else {
                    return Ok(Status::Ignored("invoice without subscription"));
                };
                let Some((user_id, channel_id, tier_id)) =
                    self.subscriber(event::invoice_metadata(o), sub).await?
                else {
                    return Ok(Status::Ignored("subscription not ours"));
                };
                let paid = ev.kind == "invoice.paid";
                self.member(MemberChange {
                    user_id,
                    channel_id,
                    tier_id,
                    subscription: sub,
                    customer: str_at(o, &["customer"]).unwrap_or(""),
                    status: if paid { "active" } else { "past_due" },
                    period_end: if paid {
                        event::invoice_period_end_ms(o)
                    } else {
                        None
                    },
                    at: ev.created_ms,
                })
                .await?;
                let amount = int_at(o, &["amount_paid"]).unwrap_or(0);
                if paid && amount > 0 {
                    let inv = str_at(o, &["id"]).unwrap_or(&ev.id);
                    let pay = event::invoice_payment(o)
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("invoice:{inv}"));
                    let currency = str_at(o, &["currency"]).unwrap_or("usd");
                    self.payment(
                        ev,
                        &pay,
                        "membership",
                        channel_id,
                        Some(user_id),
                        amount,
                        currency,
                    )
                    .await?;
                }
                Ok(Status::Processed)
            }
            "charge.refunded" => {
                let Some(pay) = str_at(o, &["payment_intent"]) else {
                    return Ok(Status::Ignored("charge without payment_intent"));
                };
                let refunded = int_at(o, &["amount_refunded"]).unwrap_or(0);
                if !self.payment_exists(pay).await? {
                    return Ok(Status::Waiting(pay.to_string()));
                }
                sqlx::query(
                    "UPDATE payments SET refunded_minor = $2 WHERE id = $1 AND refunded_minor < $2",
                )
                .bind(pay)
                .bind(refunded)
                .execute(&mut *self.c)
                .await?;
                self.reverse(ev, pay, "refund").await?;
                Ok(Status::Processed)
            }
            "charge.dispute.created" => {
                let (Some(pay), Some(id)) = (str_at(o, &["payment_intent"]), str_at(o, &["id"]))
                else {
                    return Ok(Status::Ignored("dispute without payment_intent"));
                };
                if !self.payment_exists(pay).await? {
                    return Ok(Status::Waiting(pay.to_string()));
                }
                sqlx::query(
                    "INSERT INTO payment_disputes (id, payment_id, amount_minor) VALUES ($1, $2, $3) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(id)
                .bind(pay)
                .bind(int_at(o, &["amount"]).unwrap_or(0).max(0))
                .execute(&mut *self.c)
                .await?;
                self.reverse(ev, pay, "dispute").await?;
                Ok(Status::Processed)
            }
            _ => Ok(Status::Ignored("event type not handled")),
        }
    }

    async fn checkout_completed(&mut self, ev: &Event) -> Result<Status> {
        let o = &ev.object;
        let Some(id) = str_at(o, &["id"]) else {
            return Ok(Status::Ignored("session without id"));
        };
        // What was sold comes from our own record of the checkout, never
        // from the event's amounts alone.
        let row = sqlx::query(
            "SELECT kind, user_id, channel_id, tier_id, stream_id, amount_minor, currency, message \
             FROM checkouts WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *self.c)
        .await?;
        let Some(row) = row else {
            return Ok(Status::Ignored("checkout not ours"));
        };
        let kind: String = row.try_get("kind")?;
        let user_id: i64 = row.try_get("user_id")?;
        let channel_id: i64 = row.try_get("channel_id")?;
        sqlx::query("UPDATE checkouts SET status = 'complete' WHERE id = $1")
            .bind(id)
            .execute(&mut *self.c)
            .await?;
        if kind == "membership" {
            let Some(sub) = str_at(o, &["subscription"]) else {
                return Ok(Status::Ignored(
                    "subscription checkout without subscription",
                ));
            };
            self.member(MemberChange {
                user_id,
                channel_id,
                tier_id: row.try_get("tier_id")?,
                subscription: sub,
                customer: str_at(o, &["customer"]).unwrap_or(""),
                status: "active",
                period_end: None,
                at: ev.created_ms,
            })
            .await?;
            return Ok(Status::Processed);
        }
        if str_at(o, &["payment_status"]) != Some("paid") {
            return Ok(Status::Ignored("tip checkout not paid"));
        }
        let expected: i64 = row.try_get("amount_minor")?;
        let currency: String = row.try_get("currency")?;
        let amount = int_at(o, &["amount_total"]).unwrap_or(expected);
        if amount != expected || str_at(o, &["currency"]).is_some_and(|c| c != currency) {
            tracing::warn!(checkout = %id, expected, amount, "tip paid a different amount than was asked; recording what was paid");
        }
        let pay = str_at(o, &["payment_intent"])
            .map(str::to_string)
            .unwrap_or_else(|| format!("checkout:{id}"));
        if !self
            .payment(
                ev,
                &pay,
                "tip",
                channel_id,
                Some(user_id),
                amount,
                &currency,
            )
            .await?
        {
            return Ok(Status::Processed);
        }
        let stream_id: Option<i64> = row.try_get("stream_id")?;
        let message: String = row.try_get("message")?;
        let tip_id: i64 = sqlx::query_scalar(
            "INSERT INTO tips (payment_id, sender_id, channel_id, stream_id, amount_minor, currency, message, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(&pay)
        .bind(user_id)
        .bind(channel_id)
        .bind(stream_id)
        .bind(amount)
        .bind(&currency)
        .bind(&message)
        .bind(ev.created_ms)
        .fetch_one(&mut *self.c)
        .await?;
        self.tips.push(TipPaid {
            tip_id,
            channel_id,
            stream_id,
            sender_id: Some(user_id),
            amount_minor: amount,
            currency,
            message,
        });
        Ok(Status::Processed)
    }

    /// Who a subscription belongs to: its metadata (set at checkout), else
    /// the membership that holds it.
    async fn subscriber(
        &mut self,
        meta: Option<&serde_json::Value>,
        sub: &str,
    ) -> Result<Option<(i64, i64, Option<i64>)>> {
        if let (Some(u), Some(c)) = (meta_id(meta, "user_id"), meta_id(meta, "channel_id")) {
            return Ok(Some((u, c, meta_id(meta, "tier_id"))));
        }
        let row = sqlx::query(
            "SELECT user_id, channel_id, tier_id FROM memberships WHERE provider_subscription = $1",
        )
        .bind(sub)
        .fetch_optional(&mut *self.c)
        .await?;
        Ok(match row {
            Some(r) => Some((
                r.try_get("user_id")?,
                r.try_get("channel_id")?,
                r.try_get("tier_id")?,
            )),
            None => None,
        })
    }

    async fn member(&mut self, m: MemberChange<'_>) -> Result<()> {
        let tier_name: Option<String> = match m.tier_id {
            Some(t) => {
                sqlx::query_scalar("SELECT name FROM tiers WHERE id = $1")
                    .bind(t)
                    .fetch_optional(&mut *self.c)
                    .await?
            }
            None => None,
        };
        let row = sqlx::query(
            "SELECT status, provider_subscription, state_at, current_period_end \
             FROM memberships WHERE user_id = $1 AND channel_id = $2",
        )
        .bind(m.user_id)
        .bind(m.channel_id)
        .fetch_optional(&mut *self.c)
        .await?;
        let Some(row) = row else {
            sqlx::query(
                "INSERT INTO memberships (user_id, channel_id, tier, status, current_period_end, created_at, \
                   tier_id, provider_customer, provider_subscription, state_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(m.user_id)
            .bind(m.channel_id)
            .bind(tier_name.unwrap_or_default())
            .bind(m.status)
            .bind(m.period_end)
            .bind(now_ms())
            .bind(m.tier_id)
            .bind(m.customer)
            .bind(m.subscription)
            .bind(m.at)
            .execute(&mut *self.c)
            .await?;
            return Ok(());
        };
        let status: String = row.try_get("status")?;
        let sub: String = row.try_get("provider_subscription")?;
        let state_at: i64 = row.try_get("state_at")?;
        let period_end: Option<i64> = row.try_get("current_period_end")?;
        let newer =
            m.at > state_at || (m.at == state_at && status_rank(m.status) > status_rank(&status));
        let same = sub.is_empty() || sub == m.subscription;
        let (status, state_at, period_end, sub) = if same {
            let pe = match (period_end, m.period_end) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            if status == "canceled" && !sub.is_empty() {
                // A cancelled subscription stays cancelled; its period end
                // still merges, so the row is the same in any order.
                (status, state_at, pe, m.subscription)
            } else if newer || m.status == "canceled" {
                (m.status.to_string(), m.at.max(state_at), pe, m.subscription)
            } else {
                (status, state_at, pe, m.subscription)
            }
        } else if newer {
            // A newer subscription replaces an older one.
            (m.status.to_string(), m.at, m.period_end, m.subscription)
        } else {
            return Ok(()); // an older subscription's news
        };
        sqlx::query(
            "UPDATE memberships SET status = $3, state_at = $4, current_period_end = $5, \
               provider_subscription = $6, \
               provider_customer = CASE WHEN $7 = '' THEN provider_customer ELSE $7 END, \
               tier_id = COALESCE($8, tier_id), tier = CASE WHEN $9 = '' THEN tier ELSE $9 END \
             WHERE user_id = $1 AND channel_id = $2",
        )
        .bind(m.user_id)
        .bind(m.channel_id)
        .bind(&status)
        .bind(state_at)
        .bind(period_end)
        .bind(sub)
        .bind(m.customer)
        .bind(m.tier_id)
        .bind(tier_name.unwrap_or_default())
        .execute(&mut *self.c)
        .await?;
        Ok(())
    }

    async fn payment_exists(&mut self, id: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM payments WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *self.c)
            .await?;
        Ok(n > 0)
    }

    /// Records a payment and its ledger entry, once per payment id; then
    /// applies refunds and disputes that were waiting for it. Returns whether
    /// it was new.
    #[allow(clippy::too_many_arguments)]
    async fn payment(
        &mut self,
        ev: &Event,
        id: &str,
        kind: &str,
        channel_id: i64,
        user_id: Option<i64>,
        gross: i64,
        currency: &str,
    ) -> Result<bool> {
        let ins = sqlx::query(
            "INSERT INTO payments (id, kind, channel_id, user_id, gross_minor, currency, fee_bps, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(kind)
        .bind(channel_id)
        .bind(user_id)
        .bind(gross)
        .bind(currency)
        .bind(self.bps as i64)
        .bind(ev.created_ms)
        .execute(&mut *self.c)
        .await?;
        if ins.rows_affected() == 0 {
            return Ok(false);
        }
        let s = fees::split(gross, self.bps, 0);
        self.entry(ev, kind, id, channel_id, user_id, s, currency)
            .await?;
        // Refunds and disputes that came first.
        let waiting = sqlx::query(
            "SELECT id, payload FROM billing_events WHERE waits_for = $1 AND status = 'waiting' ORDER BY created_ms, id",
        )
        .bind(id)
        .fetch_all(&mut *self.c)
        .await?;
        for w in waiting {
            let wid: String = w.try_get("id")?;
            let payload: String = w.try_get("payload")?;
            let Ok(wev) = Event::parse(payload.as_bytes()) else {
                continue;
            };
            let st = Box::pin(self.dispatch(&wev)).await?;
            let st = match st {
                Status::Processed => "processed",
                Status::Ignored(_) => "ignored",
                Status::Waiting(_) => "waiting",
            };
            sqlx::query("UPDATE billing_events SET status = $2, waits_for = '' WHERE id = $1")
                .bind(&wid)
                .bind(st)
                .execute(&mut *self.c)
                .await?;
        }
        Ok(true)
    }

    /// Brings a payment's reversals up to its refunded and disputed totals.
    async fn reverse(&mut self, ev: &Event, pay: &str, kind: &str) -> Result<()> {
        let row = sqlx::query(
            "SELECT p.channel_id, p.user_id, p.gross_minor, p.currency, p.fee_bps, p.refunded_minor, \
               p.reversed_minor, p.reversed_fee_minor, \
               (SELECT CAST(COALESCE(SUM(d.amount_minor), 0) AS BIGINT) FROM payment_disputes d WHERE d.payment_id = p.id) AS disputed \
             FROM payments p WHERE p.id = $1",
        )
        .bind(pay)
        .fetch_one(&mut *self.c)
        .await?;
        let gross: i64 = row.try_get("gross_minor")?;
        let bps: i64 = row.try_get("fee_bps")?;
        let refunded: i64 = row.try_get("refunded_minor")?;
        let disputed: i64 = row.try_get("disputed")?;
        let done: i64 = row.try_get("reversed_minor")?;
        let done_fee: i64 = row.try_get("reversed_fee_minor")?;
        let total = fees::reversal(gross, bps as u32, refunded.saturating_add(disputed));
        let delta = fees::Split {
            gross: total.gross + done,
            platform_fee: total.platform_fee + done_fee,
            processor_fee: 0,
            creator: (total.gross + done) - (total.platform_fee + done_fee),
        };
        if delta.gross == 0 && delta.platform_fee == 0 {
            return Ok(());
        }
        sqlx::query(
            "UPDATE payments SET reversed_minor = $2, reversed_fee_minor = $3 WHERE id = $1",
        )
        .bind(pay)
        .bind(-total.gross)
        .bind(-total.platform_fee)
        .execute(&mut *self.c)
        .await?;
        let currency: String = row.try_get("currency")?;
        self.entry(
            ev,
            kind,
            pay,
            row.try_get("channel_id")?,
            row.try_get("user_id")?,
            delta,
            &currency,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn entry(
        &mut self,
        ev: &Event,
        kind: &str,
        pay: &str,
        channel_id: i64,
        user_id: Option<i64>,
        s: fees::Split,
        currency: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO ledger (channel_id, user_id, kind, payment_id, event_id, gross_minor, \
               platform_fee_minor, processor_fee_minor, creator_minor, currency, occurred_ms, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(channel_id)
        .bind(user_id)
        .bind(kind)
        .bind(pay)
        .bind(&ev.id)
        .bind(s.gross)
        .bind(s.platform_fee)
        .bind(s.processor_fee)
        .bind(s.creator)
        .bind(currency)
        .bind(ev.created_ms)
        .bind(now_ms())
        .execute(&mut *self.c)
        .await?;
        Ok(())
    }
}
