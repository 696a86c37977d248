-- Issue 18, "caps and pacing are exact".

-- An Idempotency-Key claim belongs to one request: the claim id lets a request that outlived its
-- time limit see that its claim was taken over, so it never overwrites the successor's answer.
ALTER TABLE idempotency_keys ADD COLUMN claim_id text;
