import { newId } from '../lib/ids.ts'
import type { Queryable } from './db.ts'

export interface PricingVersion {
  version: number
  cents_per_deploy: number
  cents_per_gb: number
  effective_from: Date
  created_at: Date
}

export interface InvoiceRow {
  id: string
  customer_id: string
  customer_name: string
  month: string
  status: 'draft' | 'finalized'
  deploys: number
  bytes: number
  total_cents: number
  updated_at: Date
  finalized_at: Date | null
}

export interface InvoiceLine {
  invoice_id: string
  pricing_version: number
  cents_per_deploy: number
  cents_per_gb: number
  deploys: number
  bytes: number
  amount_cents: number
}

export const listPricing = (db: Queryable) =>
  db.query<PricingVersion>('SELECT * FROM pricing_versions ORDER BY effective_from, version')

/** Adds a price version; the version number is the next one, decided under the insert. */
export const insertPricing = async (
  db: Queryable,
  p: { centsPerDeploy: number; centsPerGb: number; effectiveFrom: Date },
) =>
  (
    await db.query<PricingVersion>(
      `INSERT INTO pricing_versions (version, cents_per_deploy, cents_per_gb, effective_from)
       SELECT coalesce(max(version), 0) + 1, $1, $2, $3 FROM pricing_versions
       RETURNING *`,
      [p.centsPerDeploy, p.centsPerGb, p.effectiveFrom],
    )
  )[0]!

/** The price in force at `at`, and what a deploy of `bytes` would cost under it. */
export const quote = async (db: Queryable, at: Date, bytes: number) =>
  (
    await db.query<{ version: number; cost_cents: number }>(
      `SELECT version,
              cents_per_deploy + ceil($2::numeric * cents_per_gb / 1000000000)::bigint AS cost_cents
         FROM pricing_versions WHERE effective_from <= $1
        ORDER BY effective_from DESC, version DESC LIMIT 1`,
      [at, bytes],
    )
  )[0]

/**
 * Locks the invoice row of (customer, month), creating the draft if needed, and answers its
 * status. Event writers and the finalizer both take this lock, so an invoice is never
 * finalized while an event for it is being written.
 */
async function lockInvoice(db: Queryable, customerId: string, month: string) {
  await db.query(
    `INSERT INTO invoices (id, customer_id, month) VALUES ($1, $2, $3)
     ON CONFLICT (customer_id, month) DO NOTHING`,
    [newId('inv'), customerId, month],
  )
  return (
    await db.query<{ id: string; status: 'draft' | 'finalized' }>(
      'SELECT id, status FROM invoices WHERE customer_id = $1 AND month = $2 FOR UPDATE',
      [customerId, month],
    )
  )[0]!
}

/**
 * Writes a ready push's usage event, priced with the version in force at `now`. The UNIQUE
 * push_id turns a second finalization (a retry, or two workers racing) into a no-op, so a deploy
 * bills once. It bills the push's month, unless that month's invoice is already finalized; then
 * the current month, so a finalized invoice never changes.
 * Cost = cents per deploy + bytes × cents per GB (10^9 bytes), rounded up to a whole cent.
 */
export async function recordUsageEvent(
  db: Queryable,
  pushId: string,
  now: Date,
  currentMonth: string,
) {
  const push = (
    await db.query<{ customer_id: string; billing_month: string }>(
      'SELECT customer_id, billing_month FROM pushes WHERE id = $1',
      [pushId],
    )
  )[0]
  if (!push) return
  let month = push.billing_month
  if ((await lockInvoice(db, push.customer_id, month)).status === 'finalized') {
    month = currentMonth
    await lockInvoice(db, push.customer_id, month)
  }
  await db.query(
    `INSERT INTO push_usage_events (customer_id, project_id, push_id, deploys, bytes, pricing_version,
                                    cost_cents, occurred_at, billing_month)
     SELECT p.customer_id, p.project_id, p.id, 1, p.bytes_uploaded, v.version,
            v.cents_per_deploy + ceil(p.bytes_uploaded::numeric * v.cents_per_gb / 1000000000)::bigint,
            $2, $3
       FROM pushes p,
            LATERAL (SELECT * FROM pricing_versions WHERE effective_from <= $2
                      ORDER BY effective_from DESC, version DESC LIMIT 1) v
      WHERE p.id = $1
     ON CONFLICT (push_id) DO NOTHING`,
    [pushId, now, month],
  )
}

/** Recomputes a draft invoice from its month's events: one line per pricing version. */
async function recompute(db: Queryable, invoiceId: string, customerId: string, month: string) {
  await db.query('DELETE FROM invoice_lines WHERE invoice_id = $1', [invoiceId])
  await db.query(
    `INSERT INTO invoice_lines (invoice_id, pricing_version, cents_per_deploy, cents_per_gb, deploys,
                                bytes, amount_cents)
     SELECT $1, e.pricing_version, v.cents_per_deploy, v.cents_per_gb, sum(e.deploys), sum(e.bytes),
            sum(e.cost_cents)
       FROM push_usage_events e JOIN pricing_versions v ON v.version = e.pricing_version
      WHERE e.customer_id = $2 AND e.billing_month = $3
      GROUP BY e.pricing_version, v.cents_per_deploy, v.cents_per_gb`,
    [invoiceId, customerId, month],
  )
  await db.query(
    `UPDATE invoices i SET deploys = coalesce(t.deploys, 0), bytes = coalesce(t.bytes, 0),
            total_cents = coalesce(t.amount, 0), updated_at = now()
       FROM (SELECT sum(deploys) AS deploys, sum(bytes) AS bytes, sum(amount_cents) AS amount
               FROM invoice_lines WHERE invoice_id = $1) t
      WHERE i.id = $1`,
    [invoiceId],
  )
}

/** Brings a draft up to date (a finalized invoice is left exactly as it is). */
export async function refreshInvoice(db: Queryable, customerId: string, month: string) {
  const invoice = await lockInvoice(db, customerId, month)
  if (invoice.status === 'draft') await recompute(db, invoice.id, customerId, month)
}

/** Recomputes and freezes an invoice; false when it was already final. */
export async function finalizeInvoice(db: Queryable, customerId: string, month: string) {
  const invoice = await lockInvoice(db, customerId, month)
  if (invoice.status === 'finalized') return false
  await recompute(db, invoice.id, customerId, month)
  await db.query(
    "UPDATE invoices SET status = 'finalized', finalized_at = now(), updated_at = now() WHERE id = $1",
    [invoice.id],
  )
  return true
}

/** Customers with something to bill in a month: events, or an invoice row already. */
export const customersToBill = async (db: Queryable, month: string, customerId?: string) =>
  (
    await db.query<{ customer_id: string }>(
      `SELECT customer_id FROM push_usage_events WHERE billing_month = $1 AND ($2::text IS NULL OR customer_id = $2)
       UNION SELECT customer_id FROM invoices WHERE month = $1 AND ($2::text IS NULL OR customer_id = $2)
       ORDER BY customer_id`,
      [month, customerId ?? null],
    )
  ).map((r) => r.customer_id)

/** Months before `before` that still have draft invoices (for the scheduled finalization). */
export const openMonthsBefore = async (db: Queryable, before: string) =>
  (
    await db.query<{ month: string }>(
      `SELECT DISTINCT month FROM invoices WHERE status = 'draft' AND month < $1
       UNION SELECT DISTINCT billing_month FROM push_usage_events e
        WHERE billing_month < $1 AND NOT EXISTS (
          SELECT 1 FROM invoices i WHERE i.customer_id = e.customer_id AND i.month = e.billing_month)
       ORDER BY 1`,
      [before],
    )
  ).map((r) => r.month)

export const listInvoices = (db: Queryable, month: string, customerId?: string) =>
  db.query<InvoiceRow>(
    `SELECT i.*, c.name AS customer_name FROM invoices i JOIN customers c ON c.id = i.customer_id
      WHERE i.month = $1 AND ($2::text IS NULL OR i.customer_id = $2)
      ORDER BY c.name, i.customer_id`,
    [month, customerId ?? null],
  )

export const linesOf = (db: Queryable, invoiceIds: string[]) =>
  db.query<InvoiceLine>(
    'SELECT * FROM invoice_lines WHERE invoice_id = ANY($1::text[]) ORDER BY invoice_id, pricing_version',
    [invoiceIds],
  )

/** A month's events for one customer, summed (for cross-checking and the usage API). */
export const eventTotals = async (db: Queryable, customerId: string, month: string) =>
  (
    await db.query<{ deploys: number; bytes: number; cost_cents: number }>(
      `SELECT coalesce(sum(deploys), 0)::int AS deploys, coalesce(sum(bytes), 0)::bigint AS bytes,
              coalesce(sum(cost_cents), 0)::bigint AS cost_cents
         FROM push_usage_events WHERE customer_id = $1 AND billing_month = $2`,
      [customerId, month],
    )
  )[0]!
