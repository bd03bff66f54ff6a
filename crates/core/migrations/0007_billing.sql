-- Memberships, tips and the ledger (issue 7). Money is integer minor units.

-- Membership tiers a channel sells (one price each). `provider_price` is the
-- payment provider's price id (Stripe `price_...`; `dev_...` for the dev
-- provider). Archived tiers keep their members but are not sold.
CREATE TABLE tiers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id BIGINT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    price_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    billing_interval TEXT NOT NULL,
    provider_price TEXT NOT NULL DEFAULT '',
    archived BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    UNIQUE (channel_id, name)
);

-- What the provider tracks for a membership, and the time (the provider
-- event's `created`, ms) of the event that set `status`: an older event never
-- overrides a newer one, whatever order they arrive in.
ALTER TABLE memberships ADD COLUMN tier_id BIGINT;
ALTER TABLE memberships ADD COLUMN provider_customer TEXT NOT NULL DEFAULT '';
ALTER TABLE memberships ADD COLUMN provider_subscription TEXT NOT NULL DEFAULT '';
ALTER TABLE memberships ADD COLUMN state_at BIGINT NOT NULL DEFAULT 0;

-- Checkouts we started: what was sold at what price (the server decides),
-- to whom. The provider's session id is the id.
CREATE TABLE checkouts (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    channel_id BIGINT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    tier_id BIGINT,
    stream_id BIGINT,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    return_url TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

-- Every provider event received (signature verified), once: the id is the
-- provider's event id, so a second delivery is recognised. `status` is
-- processed, ignored or waiting (a refund whose payment has not arrived yet;
-- `waits_for` names the payment).
CREATE TABLE billing_events (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    waits_for TEXT NOT NULL DEFAULT '',
    payload TEXT NOT NULL
);
CREATE INDEX billing_events_waiting ON billing_events(waits_for);

-- One row per payment (the provider's PaymentIntent, or the invoice when it
-- has none): what refunds and disputes reverse.
CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    channel_id BIGINT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    user_id BIGINT,
    gross_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    fee_bps BIGINT NOT NULL,
    refunded_minor BIGINT NOT NULL DEFAULT 0,
    reversed_minor BIGINT NOT NULL DEFAULT 0,
    reversed_fee_minor BIGINT NOT NULL DEFAULT 0,
    created_ms BIGINT NOT NULL
);

-- Disputes opened against a payment (each counted once).
CREATE TABLE payment_disputes (
    id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL REFERENCES payments(id) ON DELETE CASCADE,
    amount_minor BIGINT NOT NULL
);

-- Tips, as viewers see them in chat.
CREATE TABLE tips (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_id TEXT NOT NULL UNIQUE,
    sender_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    channel_id BIGINT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    stream_id BIGINT,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

-- The ledger: every money movement, append-only. For every row
-- gross = platform_fee + processor_fee + creator; reversals are negative.
-- `occurred_ms` is the provider event's time, so reports do not depend on
-- when or in what order events arrived.
CREATE TABLE ledger (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id BIGINT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    user_id BIGINT,
    kind TEXT NOT NULL,
    payment_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    gross_minor BIGINT NOT NULL,
    platform_fee_minor BIGINT NOT NULL,
    processor_fee_minor BIGINT NOT NULL,
    creator_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    occurred_ms BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (kind, payment_id, event_id)
);
CREATE INDEX ledger_by_channel ON ledger(channel_id, occurred_ms);

-- A paid tip shows in chat as a highlighted message with its amount.
ALTER TABLE chat_messages ADD COLUMN tip_minor BIGINT;
ALTER TABLE chat_messages ADD COLUMN tip_currency TEXT NOT NULL DEFAULT '';
