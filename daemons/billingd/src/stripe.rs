//! The `stripe` provider: a Price for each tier, Checkout Sessions in
//! subscription mode (memberships) and payment mode (tips), and customer
//! portal sessions, through async-stripe. What Stripe then reports comes
//! back through the webhook, like the dev provider's events.
//!
//! Responses are read into the few fields we use (`customize::<T>()`)
//! rather than async-stripe's full generated objects, which require every
//! field of a session and fail on shapes from other API versions.
//! Every create carries an idempotency key of ours, so a retry (ours or
//! async-stripe's) never makes a second session or price.

use stage_core::billing::{Checkout, Tier};
use std::collections::HashMap;
use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeRequest};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionLineItemsPriceData,
    CreateCheckoutSessionPaymentIntentData, CreateCheckoutSessionSubscriptionData, ProductData,
};
use stripe_product::price::{CreatePrice, CreatePriceProductData, CreatePriceRecurring};

/// Why a call to Stripe failed (the message is for logs, not viewers).
#[derive(Debug, thiserror::Error)]
pub enum StripeCallError {
    #[error("stripe: {0}")]
    Api(String),
    #[error("stripe: bad configuration: {0}")]
    Config(String),
}

#[derive(miniserde::Deserialize)]
struct Created {
    id: String,
    url: Option<String>,
}

/// A client for one Stripe account.
pub struct Stripe {
    client: Client,
}

impl std::fmt::Debug for Stripe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stripe(<key>)")
    }
}

fn key(prefix: &str, id: &str) -> Result<IdempotencyKey, StripeCallError> {
    IdempotencyKey::new(format!("stage-{prefix}-{id}"))
        .map_err(|e| StripeCallError::Config(e.to_string()))
}

fn currency(c: &str) -> Result<stripe_types::Currency, StripeCallError> {
    c.parse()
        .map_err(|_| StripeCallError::Config(format!("unknown currency `{c}`")))
}

impl Stripe {
    /// A client with `secret_key` against `api_base` (Stripe's, or a test
    /// stand-in).
    pub fn new(secret_key: &str, api_base: &str) -> Result<Stripe, StripeCallError> {
        let client = ClientBuilder::new(secret_key)
            .url(api_base)
            .build()
            .map_err(|e| StripeCallError::Config(e.to_string()))?;
        Ok(Stripe { client })
    }

    async fn send<R: StripeRequest>(
        &self,
        req: &R,
        idem: IdempotencyKey,
    ) -> Result<Created, StripeCallError> {
        req.build()
            .customize::<Created>()
            .request_strategy(RequestStrategy::Idempotent(idem))
            .send(&self.client)
            .await
            .map_err(|e| StripeCallError::Api(e.to_string()))
    }

    /// A recurring Price (with its Product) for a tier; returns its id.
    pub async fn create_price(
        &self,
        tier: &Tier,
        channel: &str,
    ) -> Result<String, StripeCallError> {
        let interval = match tier.interval.as_str() {
            "year" => stripe_product::price::CreatePriceRecurringInterval::Year,
            _ => stripe_product::price::CreatePriceRecurringInterval::Month,
        };
        let mut product = CreatePriceProductData::new(format!("{channel} · {}", tier.name));
        product.metadata = Some(HashMap::from([
            ("channel".to_string(), channel.to_string()),
            ("tier_id".to_string(), tier.id.to_string()),
        ]));
        let req = CreatePrice::new(currency(&tier.currency)?)
            .unit_amount(tier.price_minor)
            .recurring(CreatePriceRecurring::new(interval))
            .product_data(product)
            .metadata(HashMap::from([(
                "tier_id".to_string(),
                tier.id.to_string(),
            )]));
        Ok(self
            .send(&req, key("price", &tier.id.to_string())?)
            .await?
            .id)
    }

    /// A Checkout Session for `c` (a membership at `price`, or a tip of its
    /// amount); returns the session id and the URL the viewer pays at.
    pub async fn create_checkout(
        &self,
        c: &Checkout,
        price: Option<&str>,
        channel: &str,
        email: Option<&str>,
        local_ref: &str,
    ) -> Result<(String, String), StripeCallError> {
        let meta = HashMap::from([
            ("kind".to_string(), c.kind.clone()),
            ("checkout".to_string(), local_ref.to_string()),
            ("user_id".to_string(), c.user_id.to_string()),
            ("channel_id".to_string(), c.channel_id.to_string()),
            (
                "tier_id".to_string(),
                c.tier_id.map(|t| t.to_string()).unwrap_or_default(),
            ),
        ]);
        let mut item = CreateCheckoutSessionLineItems::new();
        item.quantity = Some(1);
        let mut req = CreateCheckoutSession::new()
            .success_url(c.return_url.clone())
            .cancel_url(c.return_url.clone())
            .client_reference_id(local_ref)
            .metadata(meta.clone());
        if let Some(e) = email {
            req = req.customer_email(e);
        }
        req = if c.kind == "membership" {
            item.price = price.map(str::to_string);
            let mut sub = CreateCheckoutSessionSubscriptionData::new();
            sub.metadata = Some(meta);
            req.mode(stripe_shared::CheckoutSessionMode::Subscription)
                .subscription_data(sub)
        } else {
            let mut pd = CreateCheckoutSessionLineItemsPriceData::new(currency(&c.currency)?);
            pd.unit_amount = Some(c.amount_minor);
            pd.product_data = Some(ProductData::new(format!("Tip to {channel}")));
            item.price_data = Some(pd);
            let mut pi = CreateCheckoutSessionPaymentIntentData::new();
            pi.metadata = Some(meta);
            req.mode(stripe_shared::CheckoutSessionMode::Payment)
                .payment_intent_data(pi)
        };
        let req = req.line_items(vec![item]);
        let s = self.send(&req, key("checkout", local_ref)?).await?;
        let url = s
            .url
            .ok_or_else(|| StripeCallError::Api("checkout session without a url".into()))?;
        Ok((s.id, url))
    }

    /// A customer portal session for `customer`; returns its URL.
    pub async fn portal(
        &self,
        customer: &str,
        return_url: &str,
        local_ref: &str,
    ) -> Result<String, StripeCallError> {
        let req = stripe_billing::billing_portal_session::CreateBillingPortalSession::new()
            .customer(customer)
            .return_url(return_url);
        self.send(&req, key("portal", local_ref)?)
            .await?
            .url
            .ok_or_else(|| StripeCallError::Api("portal session without a url".into()))
    }
}
