-- Admin dashboard: server-side sessions (only the SHA-256 of the cookie value is stored, so a
-- database dump holds no usable session) and the indexes its pages read through.

CREATE TABLE admin_sessions (
  id_hash     text PRIMARY KEY,
  csrf_token  text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL
);
CREATE INDEX admin_sessions_expires ON admin_sessions (expires_at);

-- Deploy history across all customers, newest first, paged by (created_at, id).
CREATE INDEX pushes_created_id ON pushes (created_at DESC, id DESC);
-- Failing pushes at a glance.
CREATE INDEX pushes_error_created ON pushes (created_at DESC) WHERE state = 'error';
-- Overview totals and the per-day chart of a month, across customers.
CREATE INDEX push_usage_events_month ON push_usage_events (billing_month, occurred_at);
