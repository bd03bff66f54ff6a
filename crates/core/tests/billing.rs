//! The ledger and memberships under provider events, against SQLite and
//! PostgreSQL: the same set of events, delivered in any order and any number
//! of times, gives the same ledger and the same memberships, and that ledger
//! matches an independent computation of the fee rule.

use proptest::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde_json::{Value, json};
use stage_core::billing::event::Event;
use stage_core::billing::process::{Outcome, Policy};
use stage_core::billing::{self, Checkout, Membership};
use stage_core::{Db, keys};
use stage_testing as testing;
use std::collections::BTreeMap;

const BPS: u32 = 500;
/// 2026-10-01T00:00:00Z, seconds.
const OCT: i64 = 1_790_812_800;

fn event(id: &str, kind: &str, created: i64, object: Value) -> String {
    json!({"id": id, "object": "event", "type": kind, "created": created,
        "data": {"object": object}})
    .to_string()
}

/// One payment in a scenario and what happens to it.
#[derive(Debug, Clone)]
struct Pay {
    gross: i64,
    /// Cumulative refunded amounts reported by successive `charge.refunded`.
    refunds: Vec<i64>,
    /// Amounts of disputes opened.
    disputes: Vec<i64>,
    /// Seconds after the start of October.
    at: i64,
}

#[derive(Debug, Clone)]
struct Scenario {
    tips: Vec<Pay>,
    /// Invoices of one membership (all paid), in period order.
    invoices: Vec<Pay>,
    failed_then_cancelled: bool,
}

struct Ids {
    channel: i64,
    user: i64,
    tier: i64,
}

async fn setup(db: &Db) -> Ids {
    let owner = db.ensure_owner("operator").await.unwrap();
    let ch = db
        .create_channel(owner, "demo", false, &keys::hash(&keys::generate()))
        .await
        .unwrap();
    let user = db.create_user("ana", "ana@x.io", "h").await.unwrap();
    let tier = db
        .create_tier(ch.id, "Supporter", 499, "usd", "month")
        .await
        .unwrap();
    Ids {
        channel: ch.id,
        user: user.id,
        tier: tier.id,
    }
}

/// Every event the scenario produces (each once), and the checkouts we made.
fn events(s: &Scenario, ids: &Ids) -> (Vec<String>, Vec<Checkout>) {
    let mut out = Vec::new();
    let mut checkouts = Vec::new();
    let meta = json!({"user_id": ids.user.to_string(), "channel_id": ids.channel.to_string(),
        "tier_id": ids.tier.to_string()});
    let mut money = Vec::new();
    for (i, t) in s.tips.iter().enumerate() {
        let cs = format!("cs_tip_{i}");
        checkouts.push(Checkout {
            id: cs.clone(),
            kind: "tip".into(),
            user_id: ids.user,
            channel_id: ids.channel,
            tier_id: None,
            stream_id: None,
            amount_minor: t.gross,
            currency: "usd".into(),
            message: format!("tip {i}"),
            status: "open".into(),
            return_url: String::new(),
            created_at: 0,
        });
        out.push(event(
            &format!("evt_tip_{i}"),
            "checkout.session.completed",
            OCT + t.at,
            json!({"id": cs, "object": "checkout.session", "mode": "payment",
                "payment_status": "paid", "amount_total": t.gross, "currency": "usd",
                "payment_intent": format!("pi_tip_{i}")}),
        ));
        money.push((format!("pi_tip_{i}"), t));
    }
    if !s.invoices.is_empty() {
        checkouts.push(Checkout {
            id: "cs_sub".into(),
            kind: "membership".into(),
            user_id: ids.user,
            channel_id: ids.channel,
            tier_id: Some(ids.tier),
            stream_id: None,
            amount_minor: 499,
            currency: "usd".into(),
            message: String::new(),
            status: "open".into(),
            return_url: String::new(),
            created_at: 0,
        });
        out.push(event(
            "evt_cs_sub",
            "checkout.session.completed",
            OCT,
            json!({"id": "cs_sub", "object": "checkout.session", "mode": "subscription",
                "subscription": "sub_1", "customer": "cus_1", "payment_status": "paid"}),
        ));
        out.push(event(
            "evt_sub_created",
            "customer.subscription.created",
            OCT,
            json!({"id": "sub_1", "object": "subscription", "status": "active",
                "customer": "cus_1", "metadata": meta,
                "current_period_end": OCT + 30 * 86_400}),
        ));
        for (i, inv) in s.invoices.iter().enumerate() {
            let end = OCT + (i as i64 + 1) * 30 * 86_400;
            out.push(event(
                &format!("evt_inv_{i}"),
                "invoice.paid",
                OCT + inv.at,
                json!({"id": format!("in_{i}"), "object": "invoice", "subscription": "sub_1",
                    "customer": "cus_1", "amount_paid": inv.gross, "currency": "usd",
                    "payment_intent": format!("pi_inv_{i}"),
                    "subscription_details": {"metadata": meta},
                    "lines": {"data": [{"period": {"start": end - 30 * 86_400, "end": end}}]}}),
            ));
            money.push((format!("pi_inv_{i}"), inv));
        }
        if s.failed_then_cancelled {
            let last = OCT + 58 * 86_400;
            out.push(event(
                "evt_inv_failed",
                "invoice.payment_failed",
                last,
                json!({"id": "in_failed", "object": "invoice", "subscription": "sub_1",
                    "subscription_details": {"metadata": meta}, "amount_paid": 0}),
            ));
            out.push(event(
                "evt_sub_deleted",
                "customer.subscription.deleted",
                last + 60,
                json!({"id": "sub_1", "object": "subscription", "status": "canceled",
                    "metadata": meta}),
            ));
        }
    }
    for (pi, p) in money {
        for (j, r) in p.refunds.iter().enumerate() {
            out.push(event(
                &format!("evt_{pi}_refund_{j}"),
                "charge.refunded",
                OCT + p.at + 3600 * (j as i64 + 1),
                json!({"id": format!("ch_{pi}"), "object": "charge", "payment_intent": pi,
                    "amount": p.gross, "amount_refunded": r}),
            ));
        }
        for (j, d) in p.disputes.iter().enumerate() {
            out.push(event(
                &format!("evt_{pi}_dispute_{j}"),
                "charge.dispute.created",
                OCT + p.at + 7200 * (j as i64 + 1),
                json!({"id": format!("dp_{pi}_{j}"), "object": "dispute", "payment_intent": pi,
                    "charge": format!("ch_{pi}"), "amount": d}),
            ));
        }
    }
    (out, checkouts)
}

/// The fee rule computed independently of `billing::fees`: per payment, the
/// platform keeps floor(kept × bps / 10 000) of what was not reversed.
fn expected(s: &Scenario) -> BTreeMap<&'static str, i64> {
    let mut gross = 0i64;
    let mut platform = 0i64;
    for p in s.tips.iter().chain(&s.invoices) {
        let refunded = p.refunds.iter().copied().max().unwrap_or(0);
        let disputed: i64 = p.disputes.iter().sum();
        let kept = p.gross - (refunded + disputed).min(p.gross);
        gross += kept;
        platform += ((kept as u128 * BPS as u128) / 10_000) as i64;
    }
    BTreeMap::from([
        ("gross", gross),
        ("platform_fee", platform),
        ("creator", gross - platform),
    ])
}

fn totals(entries: &[billing::LedgerEntry]) -> BTreeMap<&'static str, i64> {
    let mut t = billing::Totals::default();
    for e in entries {
        assert_eq!(
            e.gross,
            e.platform_fee + e.processor_fee + e.creator,
            "entry {e:?} does not add up"
        );
        t.add(e);
    }
    BTreeMap::from([
        ("gross", t.gross),
        ("platform_fee", t.platform_fee),
        ("creator", t.creator),
    ])
}

/// Delivers `order` (indexes into `evs`) and returns the ledger totals, the
/// per-payment totals, the membership and the tips' count.
async fn run(
    db: &Db,
    ids: &Ids,
    evs: &[String],
    order: &[usize],
) -> (
    BTreeMap<&'static str, i64>,
    BTreeMap<String, (i64, i64)>,
    Option<Membership>,
    usize,
) {
    let policy = Policy {
        platform_fee_bps: BPS,
    };
    let mut seen = std::collections::HashSet::new();
    for &i in order {
        let ev = Event::parse(evs[i].as_bytes()).unwrap();
        let out = db.process_event(&ev, &evs[i], policy).await.unwrap();
        if !seen.insert(i) {
            assert_eq!(out, Outcome::Duplicate, "second delivery of {}", ev.id);
        }
    }
    let entries = db.ledger(Some(ids.channel), None).await.unwrap();
    let mut by_payment: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for e in &entries {
        let t = by_payment.entry(e.payment_id.clone()).or_default();
        t.0 += e.gross;
        t.1 += e.platform_fee;
    }
    let m = db.membership(ids.user, ids.channel).await.unwrap();
    let tips = db.tips(ids.channel, 100).await.unwrap().len();
    (totals(&entries), by_payment, m, tips)
}

fn pay() -> impl Strategy<Value = Pay> {
    (100i64..100_000, 0i64..(50 * 86_400)).prop_flat_map(|(gross, at)| {
        (
            prop::collection::vec(1..=gross, 0..3),
            prop::collection::vec(1..=gross, 0..2),
        )
            .prop_map(move |(mut refunds, disputes)| {
                refunds.sort_unstable();
                Pay {
                    gross,
                    refunds,
                    disputes,
                    at,
                }
            })
    })
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::collection::vec(pay(), 0..4),
        prop::collection::vec(pay(), 0..3),
        any::<bool>(),
    )
        .prop_map(|(tips, invoices, failed_then_cancelled)| Scenario {
            tips,
            invoices,
            failed_then_cancelled,
        })
}

async fn fresh() -> (testing::TestDb, Db, Ids) {
    let t = testing::databases().await.remove(0); // SQLite
    let db = t.open().await;
    let ids = setup(&db).await;
    (t, db, ids)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// Any order, any duplicates: the same ledger, per payment and in total,
    /// equal to the independent computation; the same membership.
    #[test]
    fn any_order_and_any_repeats_give_the_same_ledger(
        s in scenario(),
        seed in any::<u64>(),
        dups in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let (_t1, db1, ids1) = fresh().await;
            let (evs, cos) = events(&s, &ids1);
            for c in &cos {
                db1.create_checkout(c).await.unwrap();
            }
            let in_order: Vec<usize> = (0..evs.len()).collect();
            let base = run(&db1, &ids1, &evs, &in_order).await;
            assert_eq!(base.0, expected(&s), "in order vs the fee rule");
            assert_eq!(base.3, s.tips.len());

            let (_t2, db2, ids2) = fresh().await;
            let (evs2, cos2) = events(&s, &ids2);
            for c in &cos2 {
                db2.create_checkout(c).await.unwrap();
            }
            let mut order = in_order.clone();
            if !evs2.is_empty() {
                for d in &dups {
                    order.push(d.index(evs2.len()));
                }
            }
            order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
            let shuffled = run(&db2, &ids2, &evs2, &order).await;
            assert_eq!(shuffled.0, base.0, "totals");
            assert_eq!(shuffled.1, base.1, "per payment");
            assert_eq!(shuffled.2.map(|m| (m.status, m.current_period_end, m.provider_subscription)),
                base.2.map(|m| (m.status, m.current_period_end, m.provider_subscription)), "membership");
            assert_eq!(shuffled.3, base.3, "tips");
        });
    }
}

#[tokio::test]
async fn refunds_disputes_memberships_and_reports_on_every_backend() {
    for t in testing::databases().await {
        let l = t.label;
        let db = t.open().await;
        let ids = setup(&db).await;
        let s = Scenario {
            tips: vec![
                Pay {
                    gross: 999,
                    refunds: vec![333, 999],
                    disputes: vec![],
                    at: 3600,
                },
                Pay {
                    gross: 2500,
                    refunds: vec![],
                    disputes: vec![2500],
                    at: 40 * 86_400, // in November
                },
            ],
            invoices: vec![
                Pay {
                    gross: 499,
                    refunds: vec![],
                    disputes: vec![],
                    at: 0,
                },
                Pay {
                    gross: 499,
                    refunds: vec![100],
                    disputes: vec![],
                    at: 30 * 86_400 + 60,
                },
            ],
            failed_then_cancelled: false,
        };
        let (evs, cos) = events(&s, &ids);
        for c in &cos {
            db.create_checkout(c).await.unwrap();
        }
        // Refunds and disputes first: they wait for their payments.
        let mut order: Vec<usize> = (0..evs.len()).collect();
        order.sort_by_key(|&i| !evs[i].contains("charge."));
        let (tot, by_pay, m, tips) = run(&db, &ids, &evs, &order).await;
        assert_eq!(tot, expected(&s), "{l}");
        assert_eq!(tips, 2, "{l}");
        // A fully refunded tip and a fully disputed one leave nothing.
        assert_eq!(by_pay["pi_tip_0"], (0, 0), "{l}");
        assert_eq!(by_pay["pi_tip_1"], (0, 0), "{l}");
        // 499 - 100 kept: the platform keeps floor(399 × 5%) = 19.
        assert_eq!(by_pay["pi_inv_1"], (399, 19), "{l}");
        let m = m.unwrap();
        assert_eq!(m.status, "active", "{l}");
        assert_eq!(
            m.current_period_end,
            Some((OCT + 60 * 86_400) * 1000),
            "{l}"
        );
        assert!(
            m.active((OCT + 61 * 86_400) * 1000, 3 * 86_400_000),
            "{l}: grace"
        );
        assert!(
            !m.active((OCT + 64 * 86_400) * 1000, 3 * 86_400_000),
            "{l}: lapsed"
        );
        assert_eq!(
            db.billing_event_status("evt_pi_tip_0_refund_0")
                .await
                .unwrap()
                .as_deref(),
            Some("processed"),
            "{l}: the waiting refund was applied"
        );

        // The report for a month is the sum of that month's entries.
        let all = db.ledger(Some(ids.channel), None).await.unwrap();
        for month in ["2026-10", "2026-11"] {
            let range = stage_core::time::month_bounds_ms(month).unwrap();
            let mine = db.ledger(Some(ids.channel), Some(range)).await.unwrap();
            let by_hand: Vec<_> = all
                .iter()
                .filter(|e| stage_core::time::month_of_ms(e.occurred_ms) == month)
                .cloned()
                .collect();
            assert_eq!(mine, by_hand, "{l}: {month}");
            assert!(!mine.is_empty(), "{l}: {month}");
        }

        // Cancellation: past_due then deleted, even if the deletion comes
        // before the failure and an old "active" arrives last.
        let meta = json!({"user_id": ids.user.to_string(), "channel_id": ids.channel.to_string()});
        let late = [
            event(
                "evt_del",
                "customer.subscription.deleted",
                OCT + 70 * 86_400,
                json!({"id": "sub_1", "status": "canceled", "metadata": meta}),
            ),
            event(
                "evt_fail",
                "invoice.payment_failed",
                OCT + 65 * 86_400,
                json!({"id": "in_x", "subscription": "sub_1", "subscription_details": {"metadata": meta}}),
            ),
            event(
                "evt_old_update",
                "customer.subscription.updated",
                OCT + 10,
                json!({"id": "sub_1", "status": "active", "metadata": meta}),
            ),
        ];
        for e in &late {
            let ev = Event::parse(e.as_bytes()).unwrap();
            db.process_event(
                &ev,
                e,
                Policy {
                    platform_fee_bps: BPS,
                },
            )
            .await
            .unwrap();
        }
        let m = db.membership(ids.user, ids.channel).await.unwrap().unwrap();
        assert_eq!(m.status, "canceled", "{l}");
        assert!(!m.active((OCT + 61 * 86_400) * 1000, 3 * 86_400_000), "{l}");

        // An event we do not handle is recorded and ignored; one for a
        // checkout that is not ours changes nothing.
        for (id, kind, obj) in [
            ("evt_x", "customer.created", json!({"id": "cus_9"})),
            (
                "evt_y",
                "checkout.session.completed",
                json!({"id": "cs_other", "mode": "payment",
                "payment_status": "paid", "amount_total": 100}),
            ),
        ] {
            let e = event(id, kind, OCT, obj);
            let ev = Event::parse(e.as_bytes()).unwrap();
            let out = db
                .process_event(
                    &ev,
                    &e,
                    Policy {
                        platform_fee_bps: BPS,
                    },
                )
                .await
                .unwrap();
            assert_eq!(
                out,
                Outcome::Recorded {
                    status: "ignored",
                    tips: vec![]
                },
                "{l}: {id}"
            );
        }
        assert_eq!(
            db.ledger(Some(ids.channel), None).await.unwrap(),
            all,
            "{l}"
        );
    }
}
