import type { Queryable } from './db.ts'

// Onboarding links: the operator's one-time links that let a customer register its own Netlify
// token and receive its key. Only the SHA-256 of a link's secret is ever stored or looked up.

export interface OnboardingLinkRow {
  id: string
  customer_id: string
  customer_name: string
  customer_status: 'active' | 'suspended'
  note: string | null
  created_by: string
  created_at: Date
  expires_at: Date
  used_at: Date | null
  api_key_id: string | null
  revoked_at: Date | null
  /** Whether `now()` is past `expires_at`, by the database's clock (every process agrees). */
  expired: boolean
  /** created_at to the microsecond, for the keyset cursor. */
  cursor_at: string
}

const SELECT = `SELECT l.id, l.customer_id, c.name AS customer_name, c.status AS customer_status,
                       l.note, l.created_by, l.created_at, l.expires_at, l.used_at, l.api_key_id,
                       l.revoked_at, l.expires_at <= now() AS expired,
                       to_char(l.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_at
                  FROM onboarding_links l JOIN customers c ON c.id = l.customer_id`

export async function insertLink(
  db: Queryable,
  link: {
    id: string
    customerId: string
    secretHash: string
    note: string | null
    createdBy: string
    ttlSeconds: number
  },
): Promise<void> {
  await db.query(
    `INSERT INTO onboarding_links (id, customer_id, secret_hash, note, created_by, expires_at)
     VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))`,
    [link.id, link.customerId, link.secretHash, link.note, link.createdBy, link.ttlSeconds],
  )
}

export const findLinkById = async (db: Queryable, id: string) =>
  (await db.query<OnboardingLinkRow>(`${SELECT} WHERE l.id = $1`, [id]))[0]

export const findLinkBySecretHash = async (db: Queryable, secretHash: string) =>
  (await db.query<OnboardingLinkRow>(`${SELECT} WHERE l.secret_hash = $1`, [secretHash]))[0]

/** Newest first, keyset-paged by (created_at, id); one customer's or everyone's. */
export const listLinks = (
  db: Queryable,
  f: { customerId?: string | undefined; before?: { at: string; id: string }; limit: number },
) =>
  db.query<OnboardingLinkRow>(
    `${SELECT}
      WHERE ($1::text IS NULL OR l.customer_id = $1)
        AND ($2::timestamptz IS NULL OR (l.created_at, l.id) < ($2::timestamptz, $3::text))
      ORDER BY l.created_at DESC, l.id DESC LIMIT $4`,
    [f.customerId ?? null, f.before?.at ?? null, f.before?.id ?? null, f.limit],
  )

/**
 * Marks a live link used by `apiKeyId`, or answers false when it is not live any more (used,
 * revoked or expired). Of two redemptions at once, the second waits on the row lock and then
 * finds `used_at` set: exactly one wins.
 */
export async function markUsed(db: Queryable, id: string, apiKeyId: string): Promise<boolean> {
  const rows = await db.query(
    `UPDATE onboarding_links SET used_at = now(), api_key_id = $2
      WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now()
      RETURNING id`,
    [id, apiKeyId],
  )
  return rows.length > 0
}

/** Revokes an unused link; false when it was used or revoked already. */
export async function revokeLink(db: Queryable, id: string): Promise<boolean> {
  const rows = await db.query(
    `UPDATE onboarding_links SET revoked_at = now()
      WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL RETURNING id`,
    [id],
  )
  return rows.length > 0
}
