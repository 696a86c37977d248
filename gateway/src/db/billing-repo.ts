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

/**
 * What a draft is: the lines its month's events add up to, one per (customer, pricing version).
 * The one formula, used to write a draft (recompute) and to read a page of them (invoicePage).
 * `month` and `customers` are SQL over the caller's parameters.
 */
const draftLines = (month: string, customers: string) =>
  `SELECT e.customer_id, e.pricing_version, v.cents_per_deploy, v.cents_per_gb,
          sum(e.deploys)::bigint AS deploys, sum(e.bytes)::bigint AS bytes,
          sum(e.cost_cents)::bigint AS amount_cents
     FROM push_usage_events e JOIN pricing_versions v ON v.version = e.pricing_version
    WHERE e.billing_month = ${month} AND ${customers}
    GROUP BY e.customer_id, e.pricing_version, v.cents_per_deploy, v.cents_per_gb`

/** Recomputes a draft invoice from its month's events: one line per pricing version. */
async function recompute(db: Queryable, invoiceId: string, customerId: string, month: string) {
  await db.query('DELETE FROM invoice_lines WHERE invoice_id = $1', [invoiceId])
  await db.query(
    `INSERT INTO invoice_lines (invoice_id, pricing_version, cents_per_deploy, cents_per_gb, deploys,
                                bytes, amount_cents)
     SELECT $1, pricing_version, cents_per_deploy, cents_per_gb, deploys, bytes, amount_cents
       FROM (${draftLines('$3', 'e.customer_id = $2')}) d`,
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

/**
 * Customers with something to bill in a month (events, or an invoice row already), by id: all,
 * one, or one page (`after`, `limit`).
 */
export const customersToBill = async (
  db: Queryable,
  month: string,
  which: { customerId?: string | undefined; after?: string | undefined; limit?: number } = {},
) =>
  (
    await db.query<{ customer_id: string }>(
      `SELECT customer_id FROM (
         SELECT customer_id FROM push_usage_events WHERE billing_month = $1
         UNION SELECT customer_id FROM invoices WHERE month = $1) t
        WHERE ($2::text IS NULL OR customer_id = $2) AND ($3::text IS NULL OR customer_id > $3)
        ORDER BY customer_id LIMIT $4`,
      [month, which.customerId ?? null, which.after ?? null, which.limit ?? null],
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

export interface InvoiceHeadRow {
  customer_id: string
  customer_name: string
  id: string | null
  status: 'draft' | 'finalized'
  finalized_at: Date | null
}

export type InvoicePageLine = Omit<InvoiceLine, 'invoice_id'> & { customer_id: string }

/**
 * A month's invoices of some customers, read-only and in two queries for the whole page: a
 * finalized invoice's stored lines, and for a draft the lines its events add up to now (the
 * draft formula above). Serving drafts by recomputing each in its own transaction would cost
 * a transaction per customer on every page view.
 */
export async function invoicePage(db: Queryable, month: string, customerIds: string[]) {
  const heads = await db.query<InvoiceHeadRow>(
    `SELECT c.id AS customer_id, c.name AS customer_name, i.id, coalesce(i.status, 'draft') AS status,
            i.finalized_at
       FROM customers c LEFT JOIN invoices i ON i.customer_id = c.id AND i.month = $1
      WHERE c.id = ANY($2::text[])
      ORDER BY c.name, c.id`,
    [month, customerIds],
  )
  const lines = await db.query<InvoicePageLine>(
    `SELECT i.customer_id, l.pricing_version, l.cents_per_deploy, l.cents_per_gb, l.deploys, l.bytes,
            l.amount_cents
       FROM invoices i JOIN invoice_lines l ON l.invoice_id = i.id
      WHERE i.month = $1 AND i.customer_id = ANY($2::text[]) AND i.status = 'finalized'
     UNION ALL
     SELECT d.* FROM (${draftLines('$1', 'e.customer_id = ANY($2::text[])')}) d
      WHERE NOT EXISTS (SELECT 1 FROM invoices i WHERE i.customer_id = d.customer_id
                           AND i.month = $1 AND i.status = 'finalized')
      ORDER BY 1, 2`,
    [month, customerIds],
  )
  return { heads, lines }
}
