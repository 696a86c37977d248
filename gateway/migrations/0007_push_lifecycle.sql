-- Every push ends (issue 18): besides ready and error, a client may cancel it and an idle one
-- expires, each giving its reservation back. `active_at` is the last time the client did
-- something for the push (init, any upload); the minute sweep expires pushes idle past
-- KAIXU_PUSH_IDLE_TIMEOUT_SECONDS, and admission does too before it counts the month's deploys.

ALTER TABLE pushes DROP CONSTRAINT pushes_state_check;
ALTER TABLE pushes ADD CONSTRAINT pushes_state_check
  CHECK (state IN ('uploading', 'finalizing', 'ready', 'error', 'cancelled', 'expired'));
ALTER TABLE pushes ADD COLUMN active_at timestamptz;
UPDATE pushes SET active_at = updated_at;
ALTER TABLE pushes ALTER COLUMN active_at SET NOT NULL;
ALTER TABLE pushes ALTER COLUMN active_at SET DEFAULT now();
-- The sweep's scan: open pushes by last activity, per customer for admission.
CREATE INDEX pushes_uploading_active ON pushes (customer_id, active_at) WHERE state = 'uploading';
CREATE INDEX pushes_uploading_idle ON pushes (active_at) WHERE state = 'uploading';
