import type { Request, Response, Router } from 'express'
import { z } from 'zod'
import type { Actor } from '../../../services/audit.ts'
import { WEBHOOK_EVENTS, type WebhookEventType, type Webhooks } from '../../../services/webhooks.ts'
import { customerIdSchema, deliveryParams, webhookParams, webhookUrlSchema } from '../../schemas.ts'
import { parse } from '../../validate.ts'
import { fmtTime } from '../format.ts'
import { html, type HtmlValue } from '../html.ts'
import { badge, table } from '../views.ts'
import { PAGE } from './page.ts'

const createForm = z.object({
  _csrf: z.string(),
  url: webhookUrlSchema,
  customerId: z.union([z.literal(''), customerIdSchema]).optional(),
  // A comma-separated list in the form; empty means every event.
  events: z
    .string()
    .max(500)
    .optional()
    .transform((s) =>
      (s ?? '')
        .split(',')
        .map((e) => e.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.enum(WEBHOOK_EVENTS))),
})
const listQuery = z.object({
  endpointId: webhookParams.shape.id.optional(),
  resent: deliveryParams.shape.id.optional(),
})

/**
 * The dashboard's webhooks page: every endpoint (disabled ones called out first), a form to add
 * one (the secret is shown once, on the page that answers the form, never in a URL), the latest
 * deliveries with their status and a Resend button. Mounted behind the dashboard's session and
 * CSRF checks.
 */
export function webhookPages(
  router: Router,
  deps: {
    webhooks: Webhooks
    page: (res: Response, title: string, active: string, body: HtmlValue) => void
    csrf: (res: Response) => string
  },
): void {
  const { webhooks } = deps
  const admin = (req: Request): Actor => ({ name: 'admin', requestId: String(req.id) })

  async function render(
    res: Response,
    opts: { endpointId?: string | undefined; notice?: HtmlValue } = {},
  ) {
    const [endpoints, deliveries] = await Promise.all([
      webhooks.listEndpoints(undefined),
      webhooks.listDeliveries(undefined, { endpointId: opts.endpointId, limit: PAGE }),
    ])
    const csrf = deps.csrf(res)
    const post = (action: string, label: string) =>
      html`<form method="post" action="${action}" class="inline">
        <input type="hidden" name="_csrf" value="${csrf}" /><button type="submit">${label}</button>
      </form>`
    const disabled = endpoints.filter((e) => !e.enabled)
    deps.page(
      res,
      'Webhooks',
      'webhooks',
      html`${opts.notice ?? ''}
        ${disabled.map(
          (e) =>
            html`<p class="error-box" role="alert">
              webhook.disabled: <code>${e.url}</code> (${e.customerId ?? 'operator'}) was disabled
              ${fmtTime(e.disabledAt)}: ${e.disabledReason}
            </p>`,
        )}
        <h2>Endpoints</h2>
        ${table(
          ['URL', 'For', 'Events', 'State', 'Failures in a row', 'Created', ''],
          endpoints.map((e) => [
            html`<a class="mono" href="/admin/webhooks?endpointId=${e.id}">${e.url}</a>`,
            e.customerId
              ? html`<a class="mono" href="/admin/customers/${e.customerId}">${e.customerId}</a>`
              : 'operator (all customers)',
            e.events?.join(', ') ?? 'all',
            badge(e.enabled ? 'enabled' : 'disabled'),
            String(e.consecutiveFailures),
            fmtTime(e.createdAt),
            html`${e.enabled ? '' : post(`/admin/webhooks/${e.id}/enable`, 'Enable')}
            ${post(`/admin/webhooks/${e.id}/remove`, 'Remove')}`,
          ]),
          'No webhook endpoints yet.',
        )}
        <h2>Add an endpoint</h2>
        <form method="post" action="/admin/webhooks" class="filters">
          <input type="hidden" name="_csrf" value="${csrf}" />
          <label>URL <input type="url" name="url" required placeholder="https://…" /></label>
          <label
            >Customer id (empty: the operator, all customers) <input type="text" name="customerId"
          /></label>
          <label
            >Events (comma-separated, empty: all)
            <input type="text" name="events" placeholder="${WEBHOOK_EVENTS.join(', ')}"
          /></label>
          <button type="submit">Add</button>
        </form>
        <h2>Deliveries (latest ${PAGE}${opts.endpointId ? ' of this endpoint' : ''})</h2>
        ${table(
          ['Created', 'Event', 'Customer', 'Endpoint', 'State', 'Attempts', 'Last answer', ''],
          deliveries.map((d) => [
            fmtTime(d.createdAt),
            html`${d.eventType} <code>${d.eventId}</code>`,
            d.customerId ?? '—',
            html`<code>${d.endpointId}</code>`,
            badge(d.status),
            String(d.attempts),
            d.lastError ?? (d.lastStatusCode ? `HTTP ${d.lastStatusCode}` : ''),
            post(`/admin/webhook-deliveries/${d.id}/resend`, 'Resend'),
          ]),
          'No deliveries yet.',
        )}`,
    )
  }

  router.get('/webhooks', async (req, res) => {
    const q = parse(listQuery, req.query, 'query')
    await render(res, {
      endpointId: q.endpointId,
      notice: q.resent
        ? html`<p class="notice" role="status">
            Delivery <code>${q.resent}</code> was queued again.
          </p>`
        : '',
    })
  })

  router.post('/webhooks', async (req, res) => {
    const body = parse(createForm, req.body ?? {}, 'body')
    const { endpoint, secret } = await webhooks.createEndpoint(
      { customerId: body.customerId || null },
      { url: body.url, events: body.events as WebhookEventType[] },
      admin(req),
    )
    res.status(201)
    await render(res, {
      notice: html`<p class="notice" role="status">
        Endpoint <code>${endpoint.id}</code> added. Its signing secret, shown only now:
        <code class="secret">${secret}</code>
      </p>`,
    })
  })

  router.post('/webhooks/:id/enable', async (req, res) => {
    const { id } = parse(webhookParams, req.params, 'path')
    await webhooks.enableEndpoint(id, undefined, admin(req))
    res.redirect(303, '/admin/webhooks')
  })

  router.post('/webhooks/:id/remove', async (req, res) => {
    const { id } = parse(webhookParams, req.params, 'path')
    await webhooks.removeEndpoint(id, undefined, admin(req))
    res.redirect(303, '/admin/webhooks')
  })

  router.post('/webhook-deliveries/:id/resend', async (req, res) => {
    const { id } = parse(deliveryParams, req.params, 'path')
    await webhooks.resend(id, undefined, admin(req))
    res.redirect(303, `/admin/webhooks?resent=${encodeURIComponent(id)}`)
  })
}
