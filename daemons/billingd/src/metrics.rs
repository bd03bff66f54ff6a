//! Webhook counters for /metrics and /status.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    processed: Mutex<BTreeMap<String, u64>>,
    refused: Mutex<BTreeMap<String, u64>>,
    duplicates: AtomicU64,
}

fn bump(m: &Mutex<BTreeMap<String, u64>>, key: String) {
    if let Ok(mut m) = m.lock() {
        *m.entry(key).or_default() += 1;
    }
}

fn snapshot(m: &Mutex<BTreeMap<String, u64>>) -> BTreeMap<String, u64> {
    m.lock().map(|m| m.clone()).unwrap_or_default()
}

impl Metrics {
    pub fn processed(&self, kind: &str) {
        bump(&self.processed, kind.to_string());
    }

    pub fn refused(&self, why: String) {
        bump(&self.refused, why);
    }

    pub fn duplicate(&self) {
        self.duplicates.fetch_add(1, Ordering::Relaxed);
    }

    pub fn status(&self) -> stage_core::api::status::WebhookCounts {
        stage_core::api::status::WebhookCounts {
            processed: snapshot(&self.processed),
            refused: snapshot(&self.refused),
            duplicates: self.duplicates.load(Ordering::Relaxed),
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::from("# TYPE stage_up gauge\nstage_up{daemon=\"billingd\"} 1\n");
        out.push_str("# HELP stage_billing_webhook_events_total Webhook events recorded, by type.\n# TYPE stage_billing_webhook_events_total counter\n");
        for (k, v) in snapshot(&self.processed) {
            out.push_str(&format!(
                "stage_billing_webhook_events_total{{type=\"{k}\"}} {v}\n"
            ));
        }
        out.push_str("# HELP stage_billing_webhook_refused_total Webhook deliveries refused, by reason.\n# TYPE stage_billing_webhook_refused_total counter\n");
        for (k, v) in snapshot(&self.refused) {
            out.push_str(&format!(
                "stage_billing_webhook_refused_total{{reason=\"{k}\"}} {v}\n"
            ));
        }
        out.push_str(&format!(
            "# HELP stage_billing_webhook_duplicates_total Deliveries of events already recorded.\n# TYPE stage_billing_webhook_duplicates_total counter\nstage_billing_webhook_duplicates_total {}\n",
            self.duplicates.load(Ordering::Relaxed)
        ));
        out
    }
}
