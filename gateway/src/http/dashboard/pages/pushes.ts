import type { Router } from 'express'
import { z } from 'zod'
import { ERRORS } from '../../../errors.ts'
import type { AppServices } from '../../../services/index.ts'
import { PUSH_STATES } from 'kaixu-contract'
import { parse } from '../../validate.ts'
import { fmtBytes, fmtCents, fmtDuration, fmtInt, fmtTime } from '../format.ts'
import { html } from '../html.ts'
import { badge, filterForm, monthInput, pager, select, table } from '../views.ts'
import { chunkTable, id, month, opt, page, PAGE, safeUrl } from './page.ts'

const pushesQuery = z.object({
  customer: opt(id),
  project: opt(id),
  month: opt(month),
  state: opt(z.enum(PUSH_STATES)),
  before: opt(z.string().regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z_[\w.:-]{1,128}$/)),
})

/** Deploy history and one push's page: its steps, chunked files and files. */
export function pushPages(router: Router, deps: Pick<AppServices, 'reporting' | 'accounts'>) {
  const { reporting, accounts } = deps
  // Deploy history with filters, keyset-paged on (created_at, id).
  router.get('/pushes', async (req, res) => {
    const q = parse(pushesQuery, req.query, 'query')
    const sep = q.before?.indexOf('Z_') ?? -1
    const before = q.before
      ? { at: q.before.slice(0, sep + 1), id: q.before.slice(sep + 2) }
      : undefined
    const [rows, customers, projects] = await Promise.all([
      reporting.pushes({
        customerId: q.customer,
        projectId: q.project,
        month: q.month ? `${q.month}-01` : undefined,
        state: q.state,
        before,
        limit: PAGE + 1,
      }),
      reporting.customerNames(),
      reporting.projectNames(q.customer),
    ])
    const shown = rows.slice(0, PAGE)
    const last = shown.at(-1)
    page(
      res,
      'Deploy history',
      'pushes',
      html`${filterForm('/admin/pushes', [
        select(
          'customer',
          'Customer',
          customers.map((c) => ({ value: c.id, label: c.name })),
          q.customer,
        ),
        select(
          'project',
          'Project',
          projects.map((p) => ({
            value: p.id,
            label: p.removed_at ? `${p.name} (removed)` : p.name,
          })),
          q.project,
        ),
        monthInput(q.month),
        select(
          'state',
          'State',
          PUSH_STATES.map((s) => ({ value: s, label: s })),
          q.state,
        ),
      ])}
      ${table(
        [
          'Created',
          'Customer',
          'Project',
          'State',
          'Netlify',
          'Files',
          'Bytes',
          'Cost',
          'Took',
          'URL / error',
        ],
        shown.map((p) => [
          html`<a href="/admin/pushes/${p.id}">${fmtTime(p.created_at)}</a>`,
          p.customer_name,
          p.project_name,
          badge(p.state),
          p.netlify_state ?? '—',
          `${fmtInt(p.files_required)} / ${fmtInt(p.files_total)}`,
          fmtBytes(p.bytes_uploaded),
          p.cost_cents === null ? '—' : fmtCents(p.cost_cents),
          fmtDuration(p.created_at, p.finished_at),
          p.error_message
            ? html`<span class="error">${p.error_message}</span>`
            : p.deploy_ssl_url
              ? html`<a href="${safeUrl(p.deploy_ssl_url)}">${p.deploy_ssl_url}</a>`
              : '—',
        ]),
        'No pushes match.',
      )}
      ${pager('/admin/pushes', { customer: q.customer, project: q.project, month: q.month, state: q.state, before: q.before }, rows.length > PAGE && last ? `${last.cursor_at}_${last.id}` : undefined)}`,
    )
  })

  router.get('/pushes/:id', async (req, res) => {
    const pushId = parse(z.object({ id }), req.params, 'path').id
    const detail = await reporting.pushDetail(pushId)
    if (!detail) throw ERRORS.notFound(`Push '${pushId}'`)
    const { push: p, steps, files, chunks, filesShown } = detail
    const customer = await accounts.getCustomer(p.customer_id)
    page(
      res,
      `Push ${p.id}`,
      'pushes',
      html`<dl class="facts">
          <dt>Customer</dt>
          <dd><a href="/admin/customers/${customer.id}">${customer.name}</a></dd>
          <dt>Project</dt>
          <dd>${p.project_name} (site <code>${p.site_id}</code>)</dd>
          <dt>State</dt>
          <dd>${badge(p.state)} Netlify: ${p.netlify_state ?? '—'}</dd>
          <dt>Netlify deploy</dt>
          <dd><code>${p.deploy_id ?? '—'}</code></dd>
          <dt>Files</dt>
          <dd>
            ${fmtInt(p.files_total)} in the manifest, ${fmtInt(p.files_required)} required,
            ${fmtInt(p.files_uploaded)} uploaded
          </dd>
          <dt>Bytes</dt>
          <dd>${fmtBytes(p.bytes_uploaded)} uploaded (${fmtInt(p.bytes_uploaded)} B)</dd>
          <dt>Cost</dt>
          <dd>${p.cost_cents === null ? '— (not billed)' : fmtCents(p.cost_cents)}</dd>
          <dt>Created</dt>
          <dd>${fmtTime(p.created_at)}</dd>
          <dt>Completed</dt>
          <dd>${fmtTime(p.completed_at)}</dd>
          <dt>Finished</dt>
          <dd>${fmtTime(p.finished_at)} (${fmtDuration(p.created_at, p.finished_at)})</dd>
          <dt>Deploy URL</dt>
          <dd>
            ${p.deploy_ssl_url ? html`<a href="${safeUrl(p.deploy_ssl_url)}">${p.deploy_ssl_url}</a>` : '—'}
          </dd>
          <dt>Site URL</dt>
          <dd>${p.ssl_url ? html`<a href="${safeUrl(p.ssl_url)}">${p.ssl_url}</a>` : '—'}</dd>
          <dt>Error</dt>
          <dd>${p.error_message ?? '—'}</dd>
        </dl>
        <h2>Steps</h2>
        ${table(
          ['When', 'Step', 'Status', 'Bytes', 'Actor', 'Request id'],
          steps.map((s) => [
            fmtTime(s.at),
            s.action,
            badge(s.status),
            s.bytes === null ? '' : fmtBytes(s.bytes),
            s.actor,
            html`<code>${s.request_id ?? ''}</code>`,
          ]),
          'No audited steps.',
        )}
        <h2>Chunked files</h2>
        ${chunkTable(chunks)}
        <h2>Files${files.length === filesShown ? ` (first ${filesShown})` : ''}</h2>
        ${table(
          ['Path', 'SHA-1', 'Size', 'Required', 'Uploaded'],
          files.map((f) => [
            f.path,
            html`<code>${f.sha1}</code>`,
            f.size === null ? '—' : fmtBytes(f.size),
            f.required ? 'yes' : 'no',
            fmtTime(f.uploaded_at),
          ]),
          'No files.',
        )}`,
    )
  })
}
