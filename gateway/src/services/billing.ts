import * as repo from '../db/billing-repo.ts'
import { findCustomer } from '../db/accounts-repo.ts'
import { insertAudit } from '../db/audit-repo.ts'
import type { Db, Queryable } from '../db/db.ts'
import { ERRORS } from '../errors.ts'
import { auditActor, type ActorRef } from './audit.ts'
import { monthOf, type Clock, type Metering } from './metering.ts'

export interface InvoiceView {
  id: string
  customerId: string
  customerName: string
  month: string
  status: 'draft' | 'finalized'
  deploys: number
  bytes: number
  totalCents: number
  finalizedAt: Date | null
  lines: {
    pricingVersion: number
    centsPerDeploy: number
    centsPerGb: number
    deploys: number
    bytes: number
    amountCents: number
  }[]
}

/** A draft not yet written has no invoice row, so no id. */
export type InvoicePageView = Omit<InvoiceView, 'id'> & { id: string | null }

const lineView = (l: Omit<repo.InvoiceLine, 'invoice_id'>) => ({
  pricingVersion: l.pricing_version,
  centsPerDeploy: l.cents_per_deploy,
  centsPerGb: l.cents_per_gb,
  deploys: l.deploys,
  bytes: l.bytes,
  amountCents: l.amount_cents,
})

/** Pricing versions, monthly invoices (draft → finalized) and usage figures. */
export function createBilling(deps: {
  db: Db
  metering: Metering
  clock: Clock
  /** Told inside the finalizing transaction (webhooks: `invoice.finalized`). */
  onInvoiceFinalized?: (tx: Queryable, customerId: string, month: string) => Promise<void>
}) {
  const { db, metering, clock } = deps

  async function invoices(month: string, customerId?: string): Promise<InvoiceView[]> {
    // Drafts are recomputed on read, so they always equal the month's events so far.
    for (const id of await repo.customersToBill(db, month, { customerId })) {
      await db.transaction((tx) => repo.refreshInvoice(tx, id, month))
    }
    const rows = await repo.listInvoices(db, month, customerId)
    const lines = await repo.linesOf(
      db,
      rows.map((r) => r.id),
    )
    return rows.map((r) => ({
      id: r.id,
      customerId: r.customer_id,
      customerName: r.customer_name,
      month: r.month.slice(0, 7),
      status: r.status,
      deploys: r.deploys,
      bytes: r.bytes,
      totalCents: r.total_cents,
      finalizedAt: r.finalized_at,
      lines: lines.filter((l) => l.invoice_id === r.id).map(lineView),
    }))
  }

  /**
   * One page of a month's invoices (`YYYY-MM-01`) for the dashboard: customers by id after
   * `after`, or one customer. Read-only: a draft is added up from its events by the same formula
   * that writes it, so the page, the CSV and the API agree; a draft never written has no id.
   */
  async function invoicePage(
    month: string,
    which: { customerId?: string | undefined; after?: string | undefined; limit: number },
  ): Promise<{ invoices: InvoicePageView[]; next: string | undefined }> {
    // One customer is shown even before it has anything to bill (an empty draft).
    const ids = which.customerId
      ? [which.customerId]
      : await repo.customersToBill(db, month, { after: which.after, limit: which.limit + 1 })
    const shown = ids.slice(0, which.limit)
    const { heads, lines } = await repo.invoicePage(db, month, shown)
    const invoices = heads.map((h) => {
      const mine = lines.filter((l) => l.customer_id === h.customer_id)
      return {
        id: h.id,
        customerId: h.customer_id,
        customerName: h.customer_name,
        month: month.slice(0, 7),
        status: h.status,
        finalizedAt: h.finalized_at,
        deploys: mine.reduce((s, l) => s + l.deploys, 0),
        bytes: mine.reduce((s, l) => s + l.bytes, 0),
        totalCents: mine.reduce((s, l) => s + l.amount_cents, 0),
        lines: mine.map(lineView),
      }
    })
    return { invoices, next: ids.length > which.limit ? shown.at(-1) : undefined }
  }

  return {
    invoices,
    invoicePage,

    /**
     * Finalizes a closed month's invoices (all customers, or one). The current month cannot be
     * finalized: its events are still arriving.
     */
    async finalize(month: string, actor: ActorRef, customerId?: string) {
      if (month >= monthOf(clock.now())) {
        throw ERRORS.invalidRequest(`Month ${month.slice(0, 7)} has not closed yet.`, {
          month: month.slice(0, 7),
        })
      }
      const finalized: string[] = []
      for (const id of await repo.customersToBill(db, month, { customerId })) {
        await db.transaction(async (tx) => {
          if (await repo.finalizeInvoice(tx, id, month)) {
            finalized.push(id)
            await insertAudit(tx, {
              ...auditActor(actor),
              action: 'invoice.finalize',
              status: 'ok',
              customerId: id,
              details: { month: month.slice(0, 7) },
            })
            await deps.onInvoiceFinalized?.(tx, id, month.slice(0, 7))
          }
        })
      }
      return { month: month.slice(0, 7), finalized }
    },

    /** The scheduled job: every closed month with a draft gets finalized. */
    async finalizeClosedMonths() {
      const results = []
      for (const month of await repo.openMonthsBefore(db, monthOf(clock.now()))) {
        results.push(await this.finalize(month, 'system'))
      }
      return results
    },

    /** A customer's own figures for a month: usage against limits, and the invoice so far. */
    async usage(customerId: string, month: string) {
      const [invoice] = await invoices(month, customerId)
      const limits = await metering.report(db, customerId, new Date(`${month}T00:00:00Z`))
      return {
        month: month.slice(0, 7),
        deploys: invoice?.deploys ?? 0,
        bytes: invoice?.bytes ?? 0,
        costCents: invoice?.totalCents ?? 0,
        limits,
        invoice: invoice ?? null,
      }
    },

    listPricing: () => repo.listPricing(db),

    /** Adds a price version; events already written keep the version they were priced with. */
    async setPricing(
      input: { centsPerDeploy: number; centsPerGb: number; effectiveFrom?: Date | undefined },
      actor: ActorRef,
    ) {
      const effectiveFrom = input.effectiveFrom ?? clock.now()
      return db.transaction(async (tx) => {
        const version = await repo.insertPricing(tx, { ...input, effectiveFrom })
        await insertAudit(tx, {
          ...auditActor(actor),
          action: 'pricing.set',
          status: 'ok',
          details: { version: version.version },
        })
        return version
      })
    },

    async requireCustomer(customerId: string) {
      if (!(await findCustomer(db, customerId))) throw ERRORS.notFound(`Customer '${customerId}'`)
    },
  }
}

export type Billing = ReturnType<typeof createBilling>

const csvCell = (v: string | number) =>
  /[",\n]/.test(String(v)) ? `"${String(v).replaceAll('"', '""')}"` : String(v)

/** One CSV row per invoice line (and one per empty invoice), amounts in cents. */
export function invoicesToCsv(invoices: InvoiceView[]): string {
  const header = [
    'month',
    'customer_id',
    'customer_name',
    'invoice_id',
    'status',
    'pricing_version',
    'cents_per_deploy',
    'cents_per_gb',
    'deploys',
    'bytes',
    'amount_cents',
    'invoice_total_cents',
  ]
  const rows = invoices.flatMap((i) =>
    (i.lines.length ? i.lines : [undefined]).map((l) => [
      i.month,
      i.customerId,
      i.customerName,
      i.id,
      i.status,
      l?.pricingVersion ?? '',
      l?.centsPerDeploy ?? '',
      l?.centsPerGb ?? '',
      l?.deploys ?? 0,
      l?.bytes ?? 0,
      l?.amountCents ?? 0,
      i.totalCents,
    ]),
  )
  return [header, ...rows].map((r) => r.map(csvCell).join(',')).join('\n') + '\n'
}
