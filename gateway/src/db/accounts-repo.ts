import type { Queryable } from './db.ts'

export type CustomerStatus = 'active' | 'suspended'

export interface CustomerRow {
  id: string
  name: string
  status: CustomerStatus
  created_at: Date
  updated_at: Date
}

/** A customer with what the operator needs at a glance; never any secret. */
export interface CustomerSummaryRow extends CustomerRow {
  token_last4: string | null
  token_key_id: string | null
  token_updated_at: Date | null
  token_revoked_at: Date | null
  active_keys: number
  projects: number
}

export interface ApiKeyRow {
  id: string
  customer_id: string
  name: string | null
  key_start: string
  created_at: Date
  last_used_at: Date | null
  revoked_at: Date | null
}

export interface KeyAuthRow {
  key_id: string
  customer_id: string
  customer_status: 'active' | 'suspended'
  revoked_at: Date | null
}

export interface ProjectRow {
  id: string
  customer_id: string
  name: string
  site_id: string
  created_at: Date
}

/** A customer's Netlify token: sealed (ciphertext + key id) or revoked (both null). */
export interface TokenRow {
  customer_id: string
  ciphertext: string | null
  key_id: string | null
  last4: string
  created_at: Date
  updated_at: Date
  revoked_at: Date | null
}

export const insertCustomer = async (db: Queryable, id: string, name: string) =>
  (
    await db.query<CustomerRow>('INSERT INTO customers (id, name) VALUES ($1, $2) RETURNING *', [
      id,
      name,
    ])
  )[0]!

export const findCustomer = async (db: Queryable, id: string) =>
  (await db.query<CustomerRow>('SELECT * FROM customers WHERE id = $1', [id]))[0]

const CUSTOMER_SUMMARY = `
  SELECT c.*, t.last4 AS token_last4, t.key_id AS token_key_id, t.updated_at AS token_updated_at,
         t.revoked_at AS token_revoked_at,
         (SELECT count(*)::int FROM api_keys k
           WHERE k.customer_id = c.id AND k.revoked_at IS NULL) AS active_keys,
         (SELECT count(*)::int FROM projects p
           WHERE p.customer_id = c.id AND p.removed_at IS NULL) AS projects
    FROM customers c LEFT JOIN netlify_tokens t ON t.customer_id = c.id`

export const listCustomers = (db: Queryable, status?: CustomerStatus) =>
  db.query<CustomerSummaryRow>(
    `${CUSTOMER_SUMMARY} WHERE ($1::text IS NULL OR c.status = $1) ORDER BY c.created_at, c.id`,
    [status ?? null],
  )

export const findCustomerSummary = async (db: Queryable, id: string) =>
  (await db.query<CustomerSummaryRow>(`${CUSTOMER_SUMMARY} WHERE c.id = $1`, [id]))[0]

/** Sets the status; answers the row with the status it had before, or undefined if unknown. */
export const setCustomerStatus = async (db: Queryable, id: string, status: CustomerStatus) =>
  (
    await db.query<CustomerRow & { previous: CustomerStatus }>(
      `WITH old AS (SELECT id, status FROM customers WHERE id = $1 FOR UPDATE)
       UPDATE customers c SET status = $2,
              updated_at = CASE WHEN old.status = $2 THEN c.updated_at ELSE now() END
         FROM old WHERE c.id = old.id
       RETURNING c.*, old.status AS previous`,
      [id, status],
    )
  )[0]

export const insertApiKey = (
  db: Queryable,
  key: { id: string; customerId: string; hash: string; start: string; name?: string | undefined },
) =>
  db.query(
    'INSERT INTO api_keys (id, customer_id, key_hash, key_start, name) VALUES ($1, $2, $3, $4, $5)',
    [key.id, key.customerId, key.hash, key.start, key.name ?? null],
  )

const API_KEY_COLUMNS = 'id, customer_id, name, key_start, created_at, last_used_at, revoked_at'

/** A customer's keys, newest first; the hash never leaves the database layer. */
export const listApiKeys = (db: Queryable, customerId: string) =>
  db.query<ApiKeyRow>(
    `SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE customer_id = $1 ORDER BY created_at DESC, id`,
    [customerId],
  )

export const findApiKey = async (db: Queryable, customerId: string, keyId: string) =>
  (
    await db.query<ApiKeyRow>(
      `SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE customer_id = $1 AND id = $2`,
      [customerId, keyId],
    )
  )[0]

/** Revokes a key of this customer; undefined when it was unknown or already revoked. */
export const revokeApiKey = async (db: Queryable, customerId: string, keyId: string) =>
  (
    await db.query<ApiKeyRow>(
      `UPDATE api_keys SET revoked_at = now()
        WHERE customer_id = $1 AND id = $2 AND revoked_at IS NULL
       RETURNING ${API_KEY_COLUMNS}`,
      [customerId, keyId],
    )
  )[0]

/** One indexed lookup per request: the key and its customer's status together. */
export const findKeyByHash = async (db: Queryable, hash: string) =>
  (
    await db.query<KeyAuthRow>(
      `SELECT k.id AS key_id, k.customer_id, c.status AS customer_status, k.revoked_at
         FROM api_keys k JOIN customers c ON c.id = k.customer_id
        WHERE k.key_hash = $1`,
      [hash],
    )
  )[0]

/** Throttled to once a minute per key so authentication does not write on every request. */
export const touchApiKey = (db: Queryable, keyId: string) =>
  db.query(
    `UPDATE api_keys SET last_used_at = now()
      WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`,
    [keyId],
  )

export const upsertNetlifyToken = (
  db: Queryable,
  t: { customerId: string; ciphertext: string; keyId: string; last4: string },
) =>
  db.query(
    `INSERT INTO netlify_tokens (customer_id, ciphertext, key_id, last4) VALUES ($1, $2, $3, $4)
     ON CONFLICT (customer_id) DO UPDATE
       SET ciphertext = EXCLUDED.ciphertext, key_id = EXCLUDED.key_id, last4 = EXCLUDED.last4,
           updated_at = now(), revoked_at = NULL`,
    [t.customerId, t.ciphertext, t.keyId, t.last4],
  )

export const findNetlifyToken = async (db: Queryable, customerId: string) =>
  (await db.query<TokenRow>('SELECT * FROM netlify_tokens WHERE customer_id = $1', [customerId]))[0]

/** Destroys the ciphertext and marks the token revoked; undefined when none was live. */
export const revokeNetlifyToken = async (db: Queryable, customerId: string) =>
  (
    await db.query<TokenRow>(
      `UPDATE netlify_tokens SET ciphertext = NULL, key_id = NULL, revoked_at = now(), updated_at = now()
        WHERE customer_id = $1 AND revoked_at IS NULL RETURNING *`,
      [customerId],
    )
  )[0]

/** Key ids that live ciphertexts use, with how many each (vault status, startup check). */
export const tokenKeyIds = (db: Queryable) =>
  db.query<{ key_id: string; tokens: number }>(
    `SELECT key_id, count(*)::int AS tokens FROM netlify_tokens
      WHERE key_id IS NOT NULL GROUP BY key_id ORDER BY key_id`,
  )

/** The next batch of live tokens not sealed with `activeKeyId`, in customer id order. */
export const tokensToRewrap = (
  db: Queryable,
  activeKeyId: string,
  afterCustomerId: string,
  limit: number,
) =>
  db.query<{ customer_id: string; ciphertext: string; key_id: string }>(
    `SELECT customer_id, ciphertext, key_id FROM netlify_tokens
      WHERE key_id IS NOT NULL AND key_id <> $1 AND customer_id > $2
      ORDER BY customer_id LIMIT $3`,
    [activeKeyId, afterCustomerId, limit],
  )

/**
 * Replaces a ciphertext only if it is still the one that was read: a token set or revoked
 * meanwhile wins, and re-encryption never resurrects an old token.
 */
export const rewrapToken = async (
  db: Queryable,
  customerId: string,
  previous: string,
  next: { ciphertext: string; keyId: string },
) =>
  (
    await db.query(
      `UPDATE netlify_tokens SET ciphertext = $3, key_id = $4
        WHERE customer_id = $1 AND ciphertext = $2 RETURNING 1`,
      [customerId, previous, next.ciphertext, next.keyId],
    )
  ).length > 0

export const insertProject = async (
  db: Queryable,
  p: { id: string; customerId: string; name: string; siteId: string },
) =>
  (
    await db.query<ProjectRow>(
      `INSERT INTO projects (id, customer_id, name, site_id) VALUES ($1, $2, $3, $4)
       RETURNING id, customer_id, name, site_id, created_at`,
      [p.id, p.customerId, p.name, p.siteId],
    )
  )[0]!

/** A customer's live projects, oldest first. */
export const listProjects = (db: Queryable, customerId: string) =>
  db.query<ProjectRow>(
    `SELECT id, customer_id, name, site_id, created_at FROM projects
      WHERE customer_id = $1 AND removed_at IS NULL ORDER BY created_at, id`,
    [customerId],
  )

/** Marks a live project removed (its pushes stay); false when it was not live. */
export const removeProject = async (db: Queryable, customerId: string, projectId: string) =>
  (
    await db.query(
      `UPDATE projects SET removed_at = now()
        WHERE customer_id = $1 AND id = $2 AND removed_at IS NULL RETURNING 1`,
      [customerId, projectId],
    )
  ).length > 0

/** A customer's live project by id or by name; other tenants' projects are simply not found. */
export const findProject = async (db: Queryable, customerId: string, idOrName: string) =>
  (
    await db.query<ProjectRow>(
      `SELECT id, customer_id, name, site_id, created_at FROM projects
        WHERE customer_id = $1 AND (id = $2 OR name = $2) AND removed_at IS NULL
        ORDER BY (id = $2) DESC LIMIT 1`,
      [customerId, idOrName],
    )
  )[0]
