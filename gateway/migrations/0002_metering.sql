-- Metering: per-customer limits, monthly reservations, pacing windows, idempotency keys and
-- monthly invoices. Months are calendar months in UTC, stored as the date of their first day.

-- Per-customer overrides; NULL means "the deployment-wide default from config".
CREATE TABLE customer_limits (
  customer_id        text PRIMARY KEY REFERENCES customers(id),
  deploys_per_month  integer CHECK (deploys_per_month >= 0),
  bytes_per_month    bigint CHECK (bytes_per_month >= 0),
  per_minute         integer CHECK (per_minute >= 0),
  per_day            integer CHECK (per_day >= 0),
  updated_at         timestamptz NOT NULL DEFAULT now()
);

-- What each customer has reserved (in-flight pushes) plus used (ready pushes) in a month. The cap
-- check is a conditional UPDATE of this row, so concurrent inits are decided one at a time.
CREATE TABLE usage_months (
  customer_id  text NOT NULL REFERENCES customers(id),
  month        date NOT NULL,
  deploys      integer NOT NULL DEFAULT 0 CHECK (deploys >= 0),
  bytes        bigint NOT NULL DEFAULT 0 CHECK (bytes >= 0),
  PRIMARY KEY (customer_id, month)
);

-- Fixed pacing windows per customer ('minute' and 'day'), counted in the database so every
-- gateway process shares them.
CREATE TABLE pacing_windows (
  customer_id   text NOT NULL REFERENCES customers(id),
  kind          text NOT NULL CHECK (kind IN ('minute', 'day')),
  window_start  timestamptz NOT NULL,
  count         integer NOT NULL,
  PRIMARY KEY (customer_id, kind, window_start)
);

ALTER TABLE pushes ADD COLUMN billing_month date;
ALTER TABLE pushes ADD COLUMN bytes_reserved bigint NOT NULL DEFAULT 0;
-- 'released' once a failed push has given its reservation back, so it is never given back twice.
ALTER TABLE pushes ADD COLUMN reservation text NOT NULL DEFAULT 'held' CHECK (reservation IN ('held', 'settled', 'released'));
-- Pushes from before metering never reserved anything.
UPDATE pushes SET reservation = 'settled';
-- Bytes reserved for the one path each required SHA-1 is uploaded under (NULL: not yet).
ALTER TABLE push_files ADD COLUMN reserved_bytes bigint;
UPDATE pushes SET billing_month = date_trunc('month', created_at AT TIME ZONE 'UTC')::date;
ALTER TABLE pushes ALTER COLUMN billing_month SET NOT NULL;

ALTER TABLE push_usage_events ADD COLUMN billing_month date;
UPDATE push_usage_events SET billing_month = date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date;
ALTER TABLE push_usage_events ALTER COLUMN billing_month SET NOT NULL;
CREATE INDEX push_usage_events_customer_month ON push_usage_events (customer_id, billing_month);

-- Idempotency-Key on push-init: the first successful answer is kept for 24 hours and replayed.
CREATE TABLE idempotency_keys (
  customer_id    text NOT NULL REFERENCES customers(id),
  key            text NOT NULL,
  request_hash   text NOT NULL,
  state          text NOT NULL CHECK (state IN ('in_flight', 'done')),
  status_code    integer,
  response       jsonb,
  created_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (customer_id, key)
);

CREATE TABLE invoices (
  id            text PRIMARY KEY,
  customer_id   text NOT NULL REFERENCES customers(id),
  month         date NOT NULL,
  status        text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'finalized')),
  deploys       integer NOT NULL DEFAULT 0,
  bytes         bigint NOT NULL DEFAULT 0,
  total_cents   bigint NOT NULL DEFAULT 0,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  finalized_at  timestamptz,
  UNIQUE (customer_id, month)
);
CREATE INDEX invoices_month ON invoices (month);

CREATE TABLE invoice_lines (
  invoice_id        text NOT NULL REFERENCES invoices(id) ON DELETE CASCADE,
  pricing_version   integer NOT NULL REFERENCES pricing_versions(version),
  cents_per_deploy  bigint NOT NULL,
  cents_per_gb      bigint NOT NULL,
  deploys           integer NOT NULL,
  bytes             bigint NOT NULL,
  amount_cents      bigint NOT NULL,
  PRIMARY KEY (invoice_id, pricing_version)
);
