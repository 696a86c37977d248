import type { Router } from 'express'
import { z } from 'zod'
import { invoicesToCsv } from '../../../services/billing.ts'
import type { AppServices } from '../../../services/index.ts'
import { monthOf } from '../../../services/metering.ts'
import { parse } from '../../validate.ts'
import { fmtBytes, fmtCents, fmtInt, fmtTime } from '../format.ts'
import { html } from '../html.ts'
import { badge, filterForm, monthInput, pager, select, table } from '../views.ts'
import { id, month, opt, page, PAGE, toMonth } from './page.ts'

const invoicesQuery = z.object({ month: opt(month), customer: opt(id), after: opt(id) })

/** Every invoice figure comes from billing: the page and its CSV are the same invoices. */
export function invoicePages(
  router: Router,
  deps: Pick<AppServices, 'billing' | 'reporting' | 'clock'>,
) {
  const { billing, reporting, clock } = deps
  // Invoices of a month, a page of customers at a time; CSV of the same selection.
  router.get('/invoices', async (req, res) => {
    const q = parse(invoicesQuery, req.query, 'query')
    const m = toMonth(q.month, monthOf(clock.now()))
    const [{ invoices, next }, customers] = await Promise.all([
      billing.invoicePage(m, { customerId: q.customer, after: q.after, limit: PAGE }),
      reporting.customerNames(),
    ])
    const csvQuery = new URLSearchParams({
      month: m.slice(0, 7),
      ...(q.customer ? { customer: q.customer } : {}),
    })
    page(
      res,
      `Invoices · ${m.slice(0, 7)}`,
      'invoices',
      html`${filterForm('/admin/invoices', [
          monthInput(m.slice(0, 7)),
          select(
            'customer',
            'Customer',
            customers.map((c) => ({ value: c.id, label: c.name })),
            q.customer,
          ),
        ])}
        <p><a href="/admin/invoices.csv?${csvQuery.toString()}" download>Download CSV</a></p>
        ${
          invoices.length === 0
            ? html`<p class="empty">No invoices for this month.</p>`
            : invoices.map(
                (i) =>
                  html`<section class="invoice" data-customer="${i.customerId}">
                    <h2>${i.customerName} · ${badge(i.status)}</h2>
                    <dl class="facts">
                      <dt>Invoice</dt>
                      <dd><code>${i.id ?? '(draft not written yet)'}</code></dd>
                      <dt>Deploys</dt>
                      <dd class="inv-deploys">${fmtInt(i.deploys)}</dd>
                      <dt>Bytes</dt>
                      <dd>${fmtBytes(i.bytes)} (${fmtInt(i.bytes)} B)</dd>
                      <dt>Total</dt>
                      <dd class="inv-total">${fmtCents(i.totalCents)}</dd>
                      <dt>Finalized</dt>
                      <dd>${fmtTime(i.finalizedAt)}</dd>
                    </dl>
                    ${table(
                      ['Pricing version', 'Per deploy', 'Per GB', 'Deploys', 'Bytes', 'Amount'],
                      i.lines.map((l) => [
                        l.pricingVersion,
                        fmtCents(l.centsPerDeploy),
                        fmtCents(l.centsPerGb),
                        fmtInt(l.deploys),
                        fmtBytes(l.bytes),
                        fmtCents(l.amountCents),
                      ]),
                      'No usage: nothing to bill.',
                    )}
                  </section>`,
              )
        }
        ${q.customer ? '' : pager('/admin/invoices', { month: m.slice(0, 7), after: q.after }, next ? `after:${next}` : undefined)}`,
    )
  })

  router.get('/invoices.csv', async (req, res) => {
    const q = parse(invoicesQuery, req.query, 'query')
    const m = toMonth(q.month, monthOf(clock.now()))
    const invoices = await billing.invoices(m, q.customer)
    res.setHeader(
      'Content-Disposition',
      `attachment; filename="invoices-${m.slice(0, 7)}${q.customer ? `-${q.customer}` : ''}.csv"`,
    )
    res.type('text/csv').send(invoicesToCsv(invoices))
  })
}
