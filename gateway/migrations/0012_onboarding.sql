-- One-time onboarding links (issue 15). The operator makes a link for a customer; the customer
-- opens it, registers its own Netlify token and receives its Kaixu key once, so the token never
-- passes through the operator. Only the SHA-256 of the link's secret is stored: a database dump
-- holds no usable link.
CREATE TABLE onboarding_links (
  id           text PRIMARY KEY,
  customer_id  text NOT NULL REFERENCES customers(id),
  secret_hash  text NOT NULL UNIQUE,
  note         text,
  created_by   text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  -- Set once, by the redemption that won (a conditional UPDATE, so two at once make one key).
  used_at      timestamptz,
  api_key_id   text REFERENCES api_keys(id),
  revoked_at   timestamptz,
  CHECK ((used_at IS NULL) = (api_key_id IS NULL))
);
CREATE INDEX onboarding_links_customer ON onboarding_links (customer_id, created_at DESC);
CREATE INDEX onboarding_links_created ON onboarding_links (created_at DESC, id DESC);

-- Failed attempts of any kind, per (scope, subject), kept for their throttling window: dashboard
-- sign-ins per address, onboarding redemptions per address and per link. One table and one set
-- of queries serve every throttle; the sign-in failures move here.
CREATE TABLE failed_attempts (
  scope      text NOT NULL,
  subject    text NOT NULL,
  failed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX failed_attempts_subject ON failed_attempts (scope, subject, failed_at DESC);
CREATE INDEX failed_attempts_at ON failed_attempts (failed_at);

INSERT INTO failed_attempts (scope, subject, failed_at)
  SELECT 'admin.sign_in', address, failed_at FROM admin_sign_in_failures;
DROP TABLE admin_sign_in_failures;
