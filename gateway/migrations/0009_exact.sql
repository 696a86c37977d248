-- Issue 18, "caps and pacing are exact".

-- An Idempotency-Key claim belongs to one request: the claim id lets a request that outlived its
-- time limit see that its claim was taken over, so it never overwrites the successor's answer.
ALTER TABLE idempotency_keys ADD COLUMN claim_id text;

-- Uploads holding a file's byte reservation. A failed upload gives the reservation back only when
-- it was the last holder, so a racing upload of the same SHA-1 never streams unreserved bytes.
-- A size reserved at init from the manifest holds one for good (the manifest's).
ALTER TABLE push_files ADD COLUMN reserve_holders integer NOT NULL DEFAULT 0;
UPDATE push_files SET reserve_holders = 1 WHERE reserved_bytes IS NOT NULL;

-- Pacing is a sliding window: every admitted deploy's time, kept for a day. "N per minute"
-- means at most N in any 60 s, not N per calendar minute (3 at :59 and 3 at :01 were 6).
CREATE TABLE pacing_log (
  customer_id  text NOT NULL REFERENCES customers(id),
  admitted_at  timestamptz NOT NULL
);
CREATE INDEX pacing_log_customer_time ON pacing_log (customer_id, admitted_at DESC);
DROP TABLE pacing_windows;

-- Issue 18, "nothing lingers". A session belongs to the admin token it was signed in with (a
-- SHA-256 fingerprint): when KAIXU_ADMIN_TOKEN changes, every older session ends. Sessions from
-- before this column have none, so they end too.
ALTER TABLE admin_sessions ADD COLUMN token_hash text;

-- Failed dashboard sign-ins per client address, kept for the throttling window.
CREATE TABLE admin_sign_in_failures (
  address    text NOT NULL,
  failed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX admin_sign_in_failures_address ON admin_sign_in_failures (address, failed_at DESC);
