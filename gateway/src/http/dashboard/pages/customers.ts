import type { Router } from 'express'
import { z } from 'zod'
import type { AppServices } from '../../../services/index.ts'
import { parse } from '../../validate.ts'
import { fmtBytes, fmtInt, fmtTime } from '../format.ts'
import { html } from '../html.ts'
import { badge, meter, pager, table } from '../views.ts'
import { id, opt, page, PAGE } from './page.ts'

const customersQuery = z.object({ after: opt(z.string().max(400)) })

/** Customers: status, token status, keys, projects, usage against caps; one page at a time. */
export function customerPages(router: Router, deps: Pick<AppServices, 'reporting' | 'accounts'>) {
  const { reporting, accounts } = deps
  router.get('/customers', async (req, res) => {
    const q = parse(customersQuery, req.query, 'query')
    const [afterName, afterId] = q.after ? q.after.split('\u0000') : []
    const rows = await reporting.customerPage(
      afterName !== undefined && afterId ? { name: afterName, id: afterId } : undefined,
      PAGE + 1,
    )
    const shown = rows.slice(0, PAGE)
    const details = await Promise.all(
      shown.map(async (c) => ({
        c: await accounts.getCustomer(c.id),
        limits: await accounts.limitsReport(c.id),
      })),
    )
    const last = shown.at(-1)
    page(
      res,
      'Customers',
      'customers',
      html`${table(
        [
          'Customer',
          'Status',
          'Netlify token',
          'Active keys',
          'Projects',
          'Deploys this month',
          'Bytes this month',
        ],
        details.map(({ c, limits }) => [
          html`<a href="/admin/customers/${c.id}">${c.name}</a><br /><code>${c.id}</code>`,
          badge(c.status),
          c.netlifyToken
            ? html`${badge(c.netlifyToken.state)} …${c.netlifyToken.last4}`
            : html`<span class="empty">not set</span>`,
          fmtInt(c.activeKeys),
          fmtInt(c.projects),
          meter(limits.deploys.used, limits.deploys.limit, fmtInt),
          meter(limits.bytes.used, limits.bytes.limit, fmtBytes),
        ]),
        'No customers yet.',
      )}
      ${pager('/admin/customers', { after: q.after }, rows.length > PAGE && last ? `after:${last.name}\u0000${last.id}` : undefined)}`,
    )
  })

  router.get('/customers/:id', async (req, res) => {
    const customerId = parse(z.object({ id }), req.params, 'path').id
    const c = await accounts.getCustomer(customerId)
    const [limits, keys, projects] = await Promise.all([
      accounts.limitsReport(customerId),
      accounts.listApiKeys(customerId),
      accounts.listProjects(customerId),
    ])
    const t = c.netlifyToken
    page(
      res,
      c.name,
      'customers',
      html`<dl class="facts">
          <dt>Id</dt>
          <dd><code>${c.id}</code></dd>
          <dt>Status</dt>
          <dd>${badge(c.status)}</dd>
          <dt>Created</dt>
          <dd>${fmtTime(c.createdAt)}</dd>
          <dt>Netlify token</dt>
          <dd>
            ${
              t
                ? html`${badge(t.state)} ending …${t.last4}; last set or rotated
                  ${fmtTime(t.updatedAt)}${t.revokedAt ? html`; revoked ${fmtTime(t.revokedAt)}` : ''}${t.vaultKeyId ? html`; vault key <code>${t.vaultKeyId}</code>` : ''}`
                : 'not set'
            }
          </dd>
          <dt>Deploys (${limits.month})</dt>
          <dd>${meter(limits.deploys.used, limits.deploys.limit, fmtInt)}</dd>
          <dt>Bytes (${limits.month})</dt>
          <dd>${meter(limits.bytes.used, limits.bytes.limit, fmtBytes)}</dd>
          <dt>Caps reset</dt>
          <dd>${fmtTime(limits.resetAt)}</dd>
        </dl>
        <p>
          <a href="/admin/pushes?customer=${c.id}">Deploy history</a> ·
          <a href="/admin/invoices?customer=${c.id}">Invoices</a> ·
          <a href="/admin/audit?customer=${c.id}">Audit log</a>
        </p>
        <h2>API keys</h2>
        ${table(
          ['Name', 'Prefix', 'Created', 'Last used', 'State'],
          keys.map((k) => [
            k.name ?? '—',
            html`<code>${k.prefix}…</code>`,
            fmtTime(k.createdAt),
            fmtTime(k.lastUsedAt),
            k.revokedAt ? html`${badge('revoked')} ${fmtTime(k.revokedAt)}` : badge('active'),
          ]),
          'No keys.',
        )}
        <h2>Projects</h2>
        ${table(
          ['Name', 'Netlify site', 'Created', ''],
          projects.map((p) => [
            p.name,
            html`<code>${p.siteId}</code>`,
            fmtTime(p.createdAt),
            html`<a href="/admin/pushes?customer=${c.id}&amp;project=${p.id}">deploys</a>`,
          ]),
          'No projects.',
        )}`,
    )
  })
}
