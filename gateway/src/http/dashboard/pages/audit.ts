import type { Router } from 'express'
import { z } from 'zod'
import type { AppServices } from '../../../services/index.ts'
import { parse } from '../../validate.ts'
import { fmtBytes, fmtTime } from '../format.ts'
import { html } from '../html.ts'
import { badge, filterForm, monthInput, pager, select, table, textInput } from '../views.ts'
import { id, month, opt, page, PAGE } from './page.ts'

const auditQuery = z.object({
  customer: opt(id),
  month: opt(month),
  action: opt(z.string().regex(/^[a-z_.]{1,64}$/, 'is not an action')),
  before: opt(z.coerce.number().int().positive()),
})

/** Audit log with filters, keyset-paged by id. */
export function auditPage(router: Router, deps: Pick<AppServices, 'auditLog' | 'reporting'>) {
  const { auditLog, reporting } = deps
  router.get('/audit', async (req, res) => {
    const q = parse(auditQuery, req.query, 'query')
    const [{ entries, nextBefore }, customers] = await Promise.all([
      auditLog.list({
        customerId: q.customer,
        month: q.month ? `${q.month}-01` : undefined,
        action: q.action,
        beforeId: q.before,
        limit: PAGE,
      }),
      reporting.customerNames(),
    ])
    const names = new Map(customers.map((c) => [c.id, c.name]))
    page(
      res,
      'Audit log',
      'audit',
      html`${filterForm('/admin/audit', [
        select(
          'customer',
          'Customer',
          customers.map((c) => ({ value: c.id, label: c.name })),
          q.customer,
        ),
        monthInput(q.month),
        textInput('action', 'Action (e.g. push or push.init)', q.action),
      ])}
      ${table(
        ['When', 'Action', 'Status', 'Actor', 'Customer', 'Push', 'Bytes', 'Request id', 'Details'],
        entries.map((e) => [
          fmtTime(e.at),
          e.action,
          badge(e.status),
          e.actor,
          e.customerId ? (names.get(e.customerId) ?? e.customerId) : '',
          e.pushId ? html`<a class="mono" href="/admin/pushes/${e.pushId}">${e.pushId}</a>` : '',
          e.bytes === null ? '' : fmtBytes(e.bytes),
          html`<code>${e.requestId ?? ''}</code>`,
          e.details ? html`<code>${JSON.stringify(e.details)}</code>` : '',
        ]),
        'No entries match.',
      )}
      ${pager('/admin/audit', { customer: q.customer, month: q.month, action: q.action, before: q.before ? String(q.before) : undefined }, nextBefore ? String(nextBefore) : undefined)}`,
    )
  })
}
