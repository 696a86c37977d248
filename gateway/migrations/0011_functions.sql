-- Netlify Functions (issue 13). One row per function name of a push: the zip's SHA-256 (what
-- Netlify's digest names functions by), its size as the client declared it (reserved against
-- the byte cap at init), and what the upload to Netlify needs (runtime, timeout, invocation
-- mode). `required` is Netlify's `required_functions`; `uploaded_at` is set once Netlify kept
-- the zip under this name (or, for a zip whose answer was lost, when the deploy went ready).
CREATE TABLE push_functions (
  push_id          text NOT NULL REFERENCES pushes(id) ON DELETE CASCADE,
  name             text NOT NULL,
  sha256           text NOT NULL,
  size             bigint NOT NULL,
  runtime          text NOT NULL,
  invocation_mode  text,
  timeout          integer,
  required         boolean NOT NULL DEFAULT false,
  uploaded_at      timestamptz,
  PRIMARY KEY (push_id, name)
);
CREATE INDEX push_functions_sha ON push_functions (push_id, sha256);
