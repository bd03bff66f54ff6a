//! The parts of Stripe's event objects billing acts on.
//!
//! Read from the JSON by path instead of through async-stripe's generated
//! types: those fix one API version and require every field of every object,
//! while the fields we use (ids, amounts, status, metadata, period ends) are
//! stable across versions and sometimes moved (an invoice's subscription and
//! payment moved under `parent` and `payments` in 2025); reading each from
//! either place keeps an account on any recent API version working.

use serde_json::Value;

/// A provider event, as far as billing needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: String,
    /// `checkout.session.completed`, `invoice.paid`, ...
    pub kind: String,
    /// When the provider created the event, Unix ms.
    pub created_ms: i64,
    /// `data.object`.
    pub object: Value,
}

/// Why a payload is not an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Stripe event: {0}")]
pub struct EventError(pub String);

impl Event {
    /// Parses a webhook payload.
    pub fn parse(payload: &[u8]) -> Result<Event, EventError> {
        let v: Value =
            serde_json::from_slice(payload).map_err(|e| EventError(format!("bad JSON: {e}")))?;
        let field = |k: &str| v.get(k).ok_or_else(|| EventError(format!("no `{k}`")));
        let id = field("id")?
            .as_str()
            .filter(|s| !s.is_empty() && s.len() <= 255)
            .ok_or_else(|| EventError("`id` must be a short string".into()))?;
        if field("object")?.as_str() != Some("event") {
            return Err(EventError("`object` is not \"event\"".into()));
        }
        let kind = field("type")?
            .as_str()
            .ok_or_else(|| EventError("`type` must be a string".into()))?;
        let created = field("created")?
            .as_i64()
            .ok_or_else(|| EventError("`created` must be an integer".into()))?;
        let object = v
            .get("data")
            .and_then(|d| d.get("object"))
            .filter(|o| o.is_object())
            .ok_or_else(|| EventError("no `data.object`".into()))?;
        Ok(Event {
            id: id.to_string(),
            kind: kind.to_string(),
            created_ms: created.saturating_mul(1000),
            object: object.clone(),
        })
    }
}

/// A string at `path` (an id may also come expanded, as an object with `id`).
pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for k in path {
        cur = cur.get(k)?;
    }
    match cur {
        Value::String(s) if !s.is_empty() => Some(s),
        Value::Object(o) => o.get("id").and_then(Value::as_str),
        _ => None,
    }
}

/// An integer at `path`.
pub fn int_at(v: &Value, path: &[&str]) -> Option<i64> {
    let mut cur = v;
    for k in path {
        cur = cur.get(k)?;
    }
    cur.as_i64()
}

/// A metadata value that is one of our numeric ids.
pub fn meta_id(meta: Option<&Value>, key: &str) -> Option<i64> {
    meta?.get(key)?.as_str()?.parse().ok()
}

/// The subscription an invoice belongs to (old and new API shapes).
pub fn invoice_subscription(inv: &Value) -> Option<&str> {
    str_at(inv, &["subscription"])
        .or_else(|| str_at(inv, &["parent", "subscription_details", "subscription"]))
}

/// The subscription metadata an invoice carries (old and new API shapes).
pub fn invoice_metadata(inv: &Value) -> Option<&Value> {
    inv.get("subscription_details")
        .and_then(|d| d.get("metadata"))
        .or_else(|| {
            inv.get("parent")?
                .get("subscription_details")?
                .get("metadata")
        })
        .filter(|m| m.is_object())
}

/// The payment (PaymentIntent id) that paid an invoice (old and new shapes).
pub fn invoice_payment(inv: &Value) -> Option<&str> {
    str_at(inv, &["payment_intent"]).or_else(|| {
        inv.get("payments")?
            .get("data")?
            .as_array()?
            .iter()
            .find_map(|p| str_at(p, &["payment", "payment_intent"]))
    })
}

/// The latest period end among an invoice's lines, Unix ms.
pub fn invoice_period_end_ms(inv: &Value) -> Option<i64> {
    inv.get("lines")?
        .get("data")?
        .as_array()?
        .iter()
        .filter_map(|l| int_at(l, &["period", "end"]))
        .max()
        .map(|s| s.saturating_mul(1000))
}

/// A subscription's current period end, Unix ms (on the subscription before
/// 2025, on its items since).
pub fn subscription_period_end_ms(sub: &Value) -> Option<i64> {
    int_at(sub, &["current_period_end"])
        .or_else(|| {
            sub.get("items")?
                .get("data")?
                .as_array()?
                .iter()
                .filter_map(|i| int_at(i, &["current_period_end"]))
                .max()
        })
        .map(|s| s.saturating_mul(1000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_an_event_and_refuses_what_is_not_one() {
        let ok = json!({"id": "evt_1", "object": "event", "type": "invoice.paid",
            "created": 1_700_000_000, "data": {"object": {"id": "in_1"}}});
        let e = Event::parse(ok.to_string().as_bytes()).unwrap();
        assert_eq!(e.created_ms, 1_700_000_000_000);
        assert_eq!(str_at(&e.object, &["id"]), Some("in_1"));
        for bad in [
            "{",
            "[]",
            r#"{"id": "evt_1", "object": "event", "type": "x", "created": 1}"#,
            r#"{"id": 5, "object": "event", "type": "x", "created": 1, "data": {"object": {}}}"#,
            r#"{"id": "e", "object": "charge", "type": "x", "created": 1, "data": {"object": {}}}"#,
            r#"{"id": "e", "object": "event", "type": "x", "created": "1", "data": {"object": {}}}"#,
        ] {
            assert!(Event::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_invoices_in_old_and_new_shapes() {
        let old = json!({"subscription": "sub_1", "payment_intent": "pi_1",
            "subscription_details": {"metadata": {"channel_id": "3"}},
            "lines": {"data": [{"period": {"end": 10}}, {"period": {"end": 20}}]}});
        let new = json!({"parent": {"subscription_details": {"subscription": "sub_1",
            "metadata": {"channel_id": "3"}}},
            "payments": {"data": [{"payment": {"payment_intent": {"id": "pi_1"}}}]},
            "lines": {"data": [{"period": {"end": 20}}]}});
        for inv in [old, new] {
            assert_eq!(invoice_subscription(&inv), Some("sub_1"));
            assert_eq!(invoice_payment(&inv), Some("pi_1"));
            assert_eq!(meta_id(invoice_metadata(&inv), "channel_id"), Some(3));
            assert_eq!(invoice_period_end_ms(&inv), Some(20_000));
        }
        let sub = json!({"items": {"data": [{"current_period_end": 7}]}});
        assert_eq!(subscription_period_end_ms(&sub), Some(7000));
    }
}
