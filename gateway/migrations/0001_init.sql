-- KaixuPush gateway schema. Plain SQL that runs unchanged on Postgres (Neon) and PGlite.
-- Money is integer cents (bigint), sizes are bytes (bigint), times are timestamptz (UTC).

CREATE TABLE customers (
  id          text PRIMARY KEY,
  name        text NOT NULL,
  status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Only the SHA-256 of a key is stored; `key_start` lets people recognise a key in a list.
CREATE TABLE api_keys (
  id            text PRIMARY KEY,
  customer_id   text NOT NULL REFERENCES customers(id),
  key_hash      text NOT NULL UNIQUE,
  key_start     text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz,
  revoked_at    timestamptz
);
CREATE INDEX api_keys_customer ON api_keys (customer_id);

-- AES-256-GCM ciphertext (`v1.<kid>.<iv>.<ct>.<tag>`), bound to the customer as associated data.
CREATE TABLE netlify_tokens (
  customer_id  text PRIMARY KEY REFERENCES customers(id),
  ciphertext   text NOT NULL,
  key_id       text NOT NULL,
  last4        text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE projects (
  id           text PRIMARY KEY,
  customer_id  text NOT NULL REFERENCES customers(id),
  name         text NOT NULL,
  site_id      text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  removed_at   timestamptz,
  UNIQUE (customer_id, name)
);

-- Push states: uploading -> finalizing -> ready | error.
CREATE TABLE pushes (
  id               text PRIMARY KEY,
  customer_id      text NOT NULL REFERENCES customers(id),
  project_id       text NOT NULL REFERENCES projects(id),
  api_key_id       text REFERENCES api_keys(id),
  site_id          text NOT NULL,
  deploy_id        text,
  state            text NOT NULL CHECK (state IN ('uploading', 'finalizing', 'ready', 'error')),
  netlify_state    text,
  draft            boolean NOT NULL DEFAULT false,
  alias            text,
  title            text,
  files_total      integer NOT NULL,
  files_required   integer NOT NULL DEFAULT 0,
  bytes_uploaded   bigint NOT NULL DEFAULT 0,
  url              text,
  ssl_url          text,
  deploy_url       text,
  deploy_ssl_url   text,
  error_message    text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  completed_at     timestamptz,
  finished_at      timestamptz
);
CREATE INDEX pushes_customer_created ON pushes (customer_id, created_at DESC);
CREATE INDEX pushes_project_created ON pushes (project_id, created_at DESC);
CREATE INDEX pushes_state ON pushes (state) WHERE state IN ('uploading', 'finalizing');

-- One row per file path of a push. `required` marks the SHA-1s Netlify asked for; one upload of
-- a SHA-1 satisfies every path that shares it.
CREATE TABLE push_files (
  push_id      text NOT NULL REFERENCES pushes(id) ON DELETE CASCADE,
  path         text NOT NULL,
  sha1         text NOT NULL,
  size         bigint,
  required     boolean NOT NULL DEFAULT false,
  uploaded_at  timestamptz,
  PRIMARY KEY (push_id, path)
);
CREATE INDEX push_files_sha ON push_files (push_id, sha1);

-- Prices are versioned rows; an event keeps the version it was priced with, so a price change
-- never reprices history.
CREATE TABLE pricing_versions (
  version           integer PRIMARY KEY,
  cents_per_deploy  bigint NOT NULL CHECK (cents_per_deploy >= 0),
  cents_per_gb      bigint NOT NULL CHECK (cents_per_gb >= 0),
  effective_from    timestamptz NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now()
);
INSERT INTO pricing_versions (version, cents_per_deploy, cents_per_gb, effective_from)
VALUES (1, 10, 25, '2026-01-01T00:00:00Z');

-- Exactly one event per ready deploy: the UNIQUE push_id makes a second finalization a no-op.
CREATE TABLE push_usage_events (
  id               bigserial PRIMARY KEY,
  customer_id      text NOT NULL REFERENCES customers(id),
  project_id       text NOT NULL REFERENCES projects(id),
  push_id          text NOT NULL UNIQUE REFERENCES pushes(id),
  deploys          integer NOT NULL DEFAULT 1,
  bytes            bigint NOT NULL,
  pricing_version  integer NOT NULL REFERENCES pricing_versions(version),
  cost_cents       bigint NOT NULL,
  occurred_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX push_usage_events_customer_time ON push_usage_events (customer_id, occurred_at);

CREATE TABLE audit_log (
  id           bigserial PRIMARY KEY,
  at           timestamptz NOT NULL DEFAULT now(),
  request_id   text,
  actor        text NOT NULL,
  action       text NOT NULL,
  status       text NOT NULL,
  customer_id  text,
  api_key_id   text,
  project_id   text,
  push_id      text,
  bytes        bigint,
  details      jsonb
);
CREATE INDEX audit_log_customer_time ON audit_log (customer_id, at);
CREATE INDEX audit_log_push ON audit_log (push_id);
