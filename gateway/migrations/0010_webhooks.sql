-- Signed outgoing webhooks (issue 12). An endpoint belongs to one customer (it hears only that
-- customer's events) or to the operator (customer_id NULL: every customer's events, plus the
-- operator-only ones). The signing secret is vaulted like a Netlify token: only its ciphertext
-- and key id are stored, and it is shown once, at creation.
CREATE TABLE webhook_endpoints (
  id                    text PRIMARY KEY,
  customer_id           text REFERENCES customers(id),
  url                   text NOT NULL,
  -- Event types it wants; NULL means all.
  events                text[],
  secret_ciphertext     text NOT NULL,
  secret_key_id         text NOT NULL,
  enabled               boolean NOT NULL DEFAULT true,
  disabled_at           timestamptz,
  disabled_reason       text,
  -- Failed attempts since the last success; past the configured threshold the endpoint is disabled.
  consecutive_failures  integer NOT NULL DEFAULT 0,
  created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_customer ON webhook_endpoints (customer_id);

-- One row per event, whoever listens. `dedupe_key` makes emitting idempotent: a push settled
-- twice (retried job, two workers) still has one push.ready event.
CREATE TABLE webhook_events (
  id           text PRIMARY KEY,
  seq          bigserial NOT NULL UNIQUE,
  type         text NOT NULL,
  customer_id  text REFERENCES customers(id),
  dedupe_key   text NOT NULL UNIQUE,
  data         jsonb NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);

-- One event to one endpoint; attempts are counted here and each is kept in webhook_attempts.
CREATE TABLE webhook_deliveries (
  id                text PRIMARY KEY,
  endpoint_id       text NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
  event_id          text NOT NULL REFERENCES webhook_events(id),
  status            text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'failed', 'cancelled')),
  attempts          integer NOT NULL DEFAULT 0,
  last_status_code  integer,
  last_error        text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  delivered_at      timestamptz,
  UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at DESC);

CREATE TABLE webhook_attempts (
  id           bigserial PRIMARY KEY,
  delivery_id  text NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
  at           timestamptz NOT NULL DEFAULT now(),
  status_code  integer,
  error        text,
  duration_ms  integer NOT NULL
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);
