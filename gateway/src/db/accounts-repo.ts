import type { Queryable } from './db.ts'

export interface CustomerRow {
  id: string
  name: string
  status: 'active' | 'suspended'
  created_at: Date
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

export interface TokenRow {
  customer_id: string
  ciphertext: string
  key_id: string
  last4: string
  updated_at: Date
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

export const insertApiKey = (
  db: Queryable,
  key: { id: string; customerId: string; hash: string; start: string },
) =>
  db.query('INSERT INTO api_keys (id, customer_id, key_hash, key_start) VALUES ($1, $2, $3, $4)', [
    key.id,
    key.customerId,
    key.hash,
    key.start,
  ])

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
           updated_at = now()`,
    [t.customerId, t.ciphertext, t.keyId, t.last4],
  )

export const findNetlifyToken = async (db: Queryable, customerId: string) =>
  (await db.query<TokenRow>('SELECT * FROM netlify_tokens WHERE customer_id = $1', [customerId]))[0]

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
