//! `stagectl billing …`: membership tiers (created through billingd, which
//! holds the payment provider's key), and reports read from the ledger.

use crate::output::{Output, table};
use clap::{Subcommand, ValueEnum};
use serde_json::{Value, json};
use stage_core::billing::{self, Totals, format_amount, parse_amount};
use stage_core::time::{month_bounds_ms, rfc3339_ms};
use stage_core::{Config, Db};
use std::collections::BTreeMap;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum BillingCmd {
    /// Membership tiers a channel sells.
    #[command(subcommand)]
    Tier(TierCmd),
    /// Money by channel, currency and kind (memberships, tips, refunds,
    /// disputes) with the platform's and the creator's shares.
    Report {
        #[arg(long)]
        channel: Option<String>,
        /// A UTC calendar month, `YYYY-MM`.
        #[arg(long)]
        month: Option<String>,
        /// Comma-separated values instead of a table.
        #[arg(long)]
        csv: bool,
    },
    /// What each creator is owed: their share, per channel and currency.
    Payout {
        #[arg(long)]
        channel: Option<String>,
        #[arg(long)]
        month: Option<String>,
    },
    /// A channel's recent tips.
    Tips {
        channel: String,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

#[derive(Subcommand)]
pub enum TierCmd {
    /// Start selling a tier, e.g. `tier create demo Supporter 4.99`.
    Create {
        channel: String,
        name: String,
        /// Price per interval, in the currency's units (4.99).
        price: String,
        #[arg(long, value_enum, default_value_t = Interval::Month)]
        interval: Interval,
        /// ISO code (default: billing.currency).
        #[arg(long)]
        currency: Option<String>,
    },
    /// Tiers of one channel or all.
    List {
        channel: Option<String>,
        /// Include archived tiers.
        #[arg(long)]
        all: bool,
    },
    /// Stop selling a tier (its members keep their membership).
    Archive { id: i64 },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Interval {
    Month,
    Year,
}

fn tier_text(v: &Value) -> String {
    format!(
        "tier {} `{}`: {} every {}{}\n",
        v["id"],
        v["name"].as_str().unwrap_or(""),
        format_amount(
            v["price_minor"].as_i64().unwrap_or(0),
            v["currency"].as_str().unwrap_or("")
        ),
        v["interval"].as_str().unwrap_or(""),
        if v["archived"] == true {
            " (archived)"
        } else {
            ""
        }
    )
}

async fn channel_id(db: &Db, name: Option<&str>) -> anyhow::Result<Option<i64>> {
    Ok(match name {
        Some(n) => Some(db.channel_required(n).await?.id),
        None => None,
    })
}

fn month(m: Option<&str>) -> anyhow::Result<Option<(i64, i64)>> {
    m.map(|m| {
        month_bounds_ms(m)
            .ok_or_else(|| anyhow::anyhow!("`{m}` is not a month; write it as YYYY-MM"))
    })
    .transpose()
}

pub async fn run(cfg: &Config, out: &Output, cmd: BillingCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        BillingCmd::Tier(TierCmd::Create {
            channel,
            name,
            price,
            interval,
            currency,
        }) => {
            let currency = currency
                .unwrap_or_else(|| cfg.billing.currency.clone())
                .to_lowercase();
            let Some(minor) = parse_amount(&price, &currency) else {
                eprintln!("stagectl: `{price}` is not a price; write e.g. 4.99");
                return Ok(ExitCode::from(2));
            };
            let interval = match interval {
                Interval::Month => "month",
                Interval::Year => "year",
            };
            crate::client::act(
                out,
                "billingd",
                cfg.billingd.admin_listen,
                cfg,
                &stage_core::api::BILLING_TIERS.path(&[]),
                json!({"channel": channel, "name": name, "price_minor": minor,
                    "currency": currency, "interval": interval}),
                tier_text,
            )
            .await
        }
        BillingCmd::Tier(TierCmd::Archive { id }) => {
            crate::client::act(
                out,
                "billingd",
                cfg.billingd.admin_listen,
                cfg,
                &stage_core::api::BILLING_TIER_ARCHIVE.path(&[&id.to_string()]),
                json!({}),
                tier_text,
            )
            .await
        }
        BillingCmd::Tier(TierCmd::List { channel, all }) => {
            let db = Db::open(cfg).await?;
            let id = channel_id(&db, channel.as_deref()).await?;
            let tiers = db.tiers(id, all).await?;
            let names = channel_names(&db).await?;
            out.emit(&tiers, || {
                table(
                    &["id", "channel", "name", "price", "every", "archived"],
                    tiers
                        .iter()
                        .map(|t| {
                            vec![
                                t.id.to_string(),
                                names.get(&t.channel_id).cloned().unwrap_or_default(),
                                t.name.clone(),
                                format_amount(t.price_minor, &t.currency),
                                t.interval.clone(),
                                if t.archived { "yes" } else { "" }.into(),
                            ]
                        })
                        .collect(),
                )
            });
            Ok(ExitCode::SUCCESS)
        }
        BillingCmd::Report {
            channel,
            month: m,
            csv,
        } => report(cfg, out, channel, m, csv).await,
        BillingCmd::Payout { channel, month: m } => payout(cfg, out, channel, m).await,
        BillingCmd::Tips { channel, limit } => {
            let db = Db::open(cfg).await?;
            let ch = db.channel_required(&channel).await?;
            let tips = db.tips(ch.id, limit).await?;
            out.emit(&tips, || {
                table(
                    &["when", "from", "amount", "message"],
                    tips.iter()
                        .map(|t| {
                            vec![
                                rfc3339_ms(t.created_at),
                                t.sender.clone(),
                                format_amount(t.amount_minor, &t.currency),
                                t.message.clone(),
                            ]
                        })
                        .collect(),
                )
            });
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// What each channel is owed for a month.
async fn payout(
    cfg: &Config,
    out: &Output,
    channel: Option<String>,
    m: Option<String>,
) -> anyhow::Result<ExitCode> {
    let db = Db::open(cfg).await?;
    let id = channel_id(&db, channel.as_deref()).await?;
    let entries = db.ledger(id, month(m.as_deref())?).await?;
    let names = channel_names(&db).await?;
    let rows: Vec<_> = report_rows(&entries, &names)
        .into_iter()
        .filter(|r| r.kind == "total")
        .map(|r| {
            json!({"channel": r.channel, "currency": r.currency,
                "creator_minor": r.totals.creator, "platform_fee_minor": r.totals.platform_fee,
                "processor_fee_minor": r.totals.processor_fee, "gross_minor": r.totals.gross,
                "entries": r.totals.entries})
        })
        .collect();
    out.emit(&rows, || {
        let period = m.clone().unwrap_or_else(|| "all time".into());
        format!(
            "Payouts ({period}):\n{}",
            table(
                &["channel", "owed to creator", "platform fee", "gross"],
                rows.iter()
                    .map(|r| {
                        let c = r["currency"].as_str().unwrap_or("");
                        let f = |k: &str| format_amount(r[k].as_i64().unwrap_or(0), c);
                        vec![
                            r["channel"].as_str().unwrap_or("").to_string(),
                            f("creator_minor"),
                            f("platform_fee_minor"),
                            f("gross_minor"),
                        ]
                    })
                    .collect(),
            )
        )
    });
    Ok(ExitCode::SUCCESS)
}

/// The ledger summed per channel, currency and kind, as a table or CSV.
async fn report(
    cfg: &Config,
    out: &Output,
    channel: Option<String>,
    m: Option<String>,
    csv: bool,
) -> anyhow::Result<ExitCode> {
    let db = Db::open(cfg).await?;
    let id = channel_id(&db, channel.as_deref()).await?;
    let entries = db.ledger(id, month(m.as_deref())?).await?;
    let names = channel_names(&db).await?;
    let rows = report_rows(&entries, &names);
    if csv && !out.json {
        print!("{}", to_csv(&rows));
    } else {
        out.emit(&rows, || {
            table(
                &[
                    "channel",
                    "currency",
                    "kind",
                    "entries",
                    "gross",
                    "platform",
                    "processor",
                    "creator",
                ],
                rows.iter()
                    .map(|r| {
                        let f = |v: i64| format_amount(v, &r.currency);
                        vec![
                            r.channel.clone(),
                            r.currency.to_uppercase(),
                            r.kind.clone(),
                            r.totals.entries.to_string(),
                            f(r.totals.gross),
                            f(r.totals.platform_fee),
                            f(r.totals.processor_fee),
                            f(r.totals.creator),
                        ]
                    })
                    .collect(),
            )
        });
    }
    Ok(ExitCode::SUCCESS)
}

async fn channel_names(db: &Db) -> anyhow::Result<BTreeMap<i64, String>> {
    Ok(db
        .list_channels()
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect())
}

/// One line of the report.
#[derive(serde::Serialize)]
pub struct ReportRow {
    pub channel: String,
    pub currency: String,
    /// An entry kind, or `total` for the channel and currency.
    pub kind: String,
    #[serde(flatten)]
    pub totals: Totals,
}

/// Per (channel, currency): a row per kind, then the total.
fn report_rows(entries: &[billing::LedgerEntry], names: &BTreeMap<i64, String>) -> Vec<ReportRow> {
    let mut rows = Vec::new();
    let mut total: Option<(i64, String, Totals)> = None;
    for ((ch, cur, kind), t) in billing::summarize(entries) {
        if let Some((tch, tcur, _)) = &total
            && (*tch != ch || *tcur != cur)
            && let Some((tch, tcur, tt)) = total.take()
        {
            rows.push(ReportRow {
                channel: names.get(&tch).cloned().unwrap_or_default(),
                currency: tcur,
                kind: "total".into(),
                totals: tt,
            });
        }
        let tt = &mut total
            .get_or_insert_with(|| (ch, cur.clone(), Totals::default()))
            .2;
        tt.entries += t.entries;
        tt.gross += t.gross;
        tt.platform_fee += t.platform_fee;
        tt.processor_fee += t.processor_fee;
        tt.creator += t.creator;
        rows.push(ReportRow {
            channel: names.get(&ch).cloned().unwrap_or_default(),
            currency: cur,
            kind,
            totals: t,
        });
    }
    if let Some((tch, tcur, tt)) = total {
        rows.push(ReportRow {
            channel: names.get(&tch).cloned().unwrap_or_default(),
            currency: tcur,
            kind: "total".into(),
            totals: tt,
        });
    }
    rows
}

fn to_csv(rows: &[ReportRow]) -> String {
    let mut s = String::from(
        "channel,currency,kind,entries,gross_minor,platform_fee_minor,processor_fee_minor,creator_minor\n",
    );
    for r in rows {
        // Channel names are slugs and kinds are ours: nothing to quote.
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            r.channel,
            r.currency,
            r.kind,
            r.totals.entries,
            r.totals.gross,
            r.totals.platform_fee,
            r.totals.processor_fee,
            r.totals.creator
        ));
    }
    s
}
