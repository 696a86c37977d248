-- Accounts: customer lifecycle, named and listable API keys, revocable Netlify tokens, removable
-- projects, and audit queries by month.

ALTER TABLE customers ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

-- A label the operator chooses ("ci", "staging"); the key itself is never stored.
ALTER TABLE api_keys ADD COLUMN name text;

-- Revoking a Netlify token keeps its row (last4, when) but destroys the ciphertext, so pushes can
-- say "revoked" rather than "missing" and the secret exists nowhere any more.
ALTER TABLE netlify_tokens ALTER COLUMN ciphertext DROP NOT NULL;
ALTER TABLE netlify_tokens ALTER COLUMN key_id DROP NOT NULL;
ALTER TABLE netlify_tokens ADD COLUMN revoked_at timestamptz;
ALTER TABLE netlify_tokens ADD CONSTRAINT netlify_tokens_sealed_or_revoked
  CHECK ((revoked_at IS NULL) = (ciphertext IS NOT NULL AND key_id IS NOT NULL));
-- Vault rotation walks the rows still sealed with an older key.
CREATE INDEX netlify_tokens_key_id ON netlify_tokens (key_id);

-- A removed project's name may be registered again.
ALTER TABLE projects DROP CONSTRAINT projects_customer_id_name_key;
CREATE UNIQUE INDEX projects_customer_name_live ON projects (customer_id, name)
  WHERE removed_at IS NULL;

-- Audit queries by month across all customers (by customer uses audit_log_customer_time).
CREATE INDEX audit_log_at ON audit_log (at);
