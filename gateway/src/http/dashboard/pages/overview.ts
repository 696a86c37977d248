import type { Router } from 'express'
import type { AppServices } from '../../../services/index.ts'
import { monthOf } from '../../../services/metering.ts'
import { fmtBytes, fmtCents, fmtInt, fmtTime } from '../format.ts'
import { html } from '../html.ts'
import { dailyChart, table } from '../views.ts'
import { page } from './page.ts'

/** Overview: this month's totals, a chart per day, and what needs attention. */
export function overviewPage(
  router: Router,
  deps: Pick<AppServices, 'reporting' | 'operations' | 'clock'>,
): void {
  const { reporting, operations, clock } = deps
  router.get('/', async (_req, res) => {
    const thisMonth = monthOf(clock.now())
    const [{ totals, days, states, recentFailures: failures, chunks }, dead, pending] =
      await Promise.all([
        reporting.overview(thisMonth, 10),
        operations.listJobs({ states: ['failed'], limit: 100 }),
        operations.listJobs({ states: ['created', 'retry', 'active'], limit: 100 }),
      ])
    const n = (s: string) => states.find((r) => r.state === s)?.n ?? 0
    const many = (list: unknown[]) => (list.length >= 100 ? '100+' : fmtInt(list.length))
    const card = (label: string, value: string, alert = false) =>
      html`<div class="card${alert ? ' alert' : ''}">
        <div class="label">${label}</div>
        <div class="value">${value}</div>
      </div>`
    const m = thisMonth.slice(0, 7)
    page(
      res,
      `Overview · ${m}`,
      'overview',
      html`<section class="cards" aria-label="This month">
          ${card('Deploys billed', fmtInt(totals.deploys))}
          ${card('Bytes deployed', fmtBytes(totals.bytes))}
          ${card('Revenue (draft)', fmtCents(totals.cents))}
          ${card('Pushes in flight', fmtInt(n('uploading') + n('finalizing')))}
          ${card('Failed pushes', fmtInt(n('error')), n('error') > 0)}
          ${card('Dead jobs', many(dead), dead.length > 0)} ${card('Queued jobs', many(pending))}
          ${card(
            'Chunked files failed',
            fmtInt(chunks.find((c) => c.state === 'failed')?.n ?? 0),
            chunks.some((c) => c.state === 'failed' && c.n > 0),
          )}
        </section>
        <h2>Deploys per day</h2>
        ${dailyChart(m, days)}
        <h2>Recent failing pushes</h2>
        ${table(
          ['When', 'Customer', 'Project', 'Push', 'Error'],
          failures.map((p) => [
            fmtTime(p.created_at),
            p.customer_name,
            p.project_name,
            html`<a class="mono" href="/admin/pushes/${p.id}">${p.id}</a>`,
            p.error_message,
          ]),
          'No failed pushes.',
        )}
        <p><a href="/admin/pushes?state=error">All failed pushes</a></p>
        <h2>Dead jobs</h2>
        ${table(
          ['Queue', 'Job', 'Failed', 'Error'],
          dead
            .slice(0, 10)
            .map((j) => [j.queue, html`<code>${j.id}</code>`, fmtTime(j.completedAt), j.error]),
          'No dead jobs.',
        )}
        <p><a href="/admin/jobs?state=dead">All dead jobs</a></p>`,
    )
  })
}
