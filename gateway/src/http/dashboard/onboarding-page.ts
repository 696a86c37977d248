import type { Request, Response, Router } from 'express'
import { z } from 'zod'
import type { AccountService } from '../../services/accounts.ts'
import type { Actor } from '../../services/audit.ts'
import type { Onboarding } from '../../services/onboarding.ts'
import { onboardingCreateSchema, onboardingParams } from '../onboarding/schemas.ts'
import { originOf } from '../origin.ts'
import { customerIdSchema } from '../schemas.ts'
import { parse } from '../validate.ts'
import { fmtTime } from './format.ts'
import { html, type HtmlValue } from './html.ts'
import { badge, pager, table } from './views.ts'

const PAGE = 50

/** Empty form fields mean "not given". */
const blank = (v: unknown) => (v === '' ? undefined : v)
const createForm = z.object({
  _csrf: z.string(),
  customerId: customerIdSchema,
  note: z.preprocess(blank, onboardingCreateSchema.shape.note),
  expiresInHours: z.preprocess(blank, onboardingCreateSchema.shape.expiresInHours),
})
const listQuery = z.object({
  before: z.string().max(100).optional(),
  revoked: onboardingParams.shape.id.optional(),
})

/**
 * The dashboard's onboarding page: a form that makes a one-time link for a customer (its URL is
 * shown once, on the page that answers the form, never in a URL of ours), and the links made so
 * far with their state and a Withdraw button. Mounted behind the dashboard's session and CSRF.
 */
export function onboardingPages(
  router: Router,
  deps: {
    onboarding: Onboarding
    accounts: AccountService
    page: (res: Response, title: string, active: string, body: HtmlValue) => void
    csrf: (res: Response) => string
  },
): void {
  const { onboarding, accounts } = deps
  const admin = (req: Request): Actor => ({ name: 'admin', requestId: String(req.id) })

  async function render(res: Response, opts: { before?: string | undefined; notice?: HtmlValue }) {
    const [{ links, nextBefore }, customers] = await Promise.all([
      onboarding.list({ limit: PAGE, ...(opts.before ? { before: opts.before } : {}) }),
      accounts.listCustomers('active'),
    ])
    const csrf = deps.csrf(res)
    deps.page(
      res,
      'Onboarding links',
      'onboarding',
      html`${opts.notice ?? ''}
        <h2>New link</h2>
        <p>
          The customer opens the link, pastes its own Netlify token and receives its Kaixu key: the
          token never passes through you. A link works once.
        </p>
        <form method="post" action="/admin/onboarding" class="filters">
          <input type="hidden" name="_csrf" value="${csrf}" />
          <label
            >Customer
            <select name="customerId" required>
              ${customers.map((c) => html`<option value="${c.id}">${c.name} (${c.id})</option>`)}
            </select></label
          >
          <label>Note (optional) <input type="text" name="note" maxlength="100" /></label>
          <label
            >Hours valid (empty: the default)
            <input type="number" name="expiresInHours" min="1" max="720"
          /></label>
          <button type="submit">Create link</button>
        </form>
        <h2>Links</h2>
        ${table(
          ['Created', 'Customer', 'Note', 'State', 'Expires', 'Used', 'Key', ''],
          links.map((l) => [
            fmtTime(l.createdAt),
            html`<a href="/admin/customers/${l.customerId}">${l.customerName}</a>`,
            l.note ?? '',
            badge(l.state),
            fmtTime(l.expiresAt),
            fmtTime(l.usedAt),
            l.apiKeyId ? html`<code>${l.apiKeyId}</code>` : '',
            l.state === 'open'
              ? html`<form method="post" action="/admin/onboarding/${l.id}/revoke" class="inline">
                  <input type="hidden" name="_csrf" value="${csrf}" /><button type="submit">
                    Withdraw
                  </button>
                </form>`
              : '',
          ]),
          'No onboarding links yet.',
        )}
        ${pager('/admin/onboarding', { before: opts.before }, nextBefore ?? undefined)}`,
    )
  }

  router.get('/onboarding', async (req, res) => {
    const q = parse(listQuery, req.query, 'query')
    await render(res, {
      before: q.before,
      notice: q.revoked
        ? html`<p class="notice" role="status">Link <code>${q.revoked}</code> was withdrawn.</p>`
        : '',
    })
  })

  router.post('/onboarding', async (req, res) => {
    const body = parse(createForm, req.body ?? {}, 'body')
    const link = await onboarding.create(
      body.customerId,
      { note: body.note, expiresInHours: body.expiresInHours },
      admin(req),
      originOf(req),
    )
    res.status(201)
    await render(res, {
      notice: html`<p class="notice" role="status">
        Link for ${link.customerName}, valid until ${fmtTime(link.expiresAt)}, shown only now:
        <code class="secret" id="onboarding-url">${link.url}</code>
      </p>`,
    })
  })

  router.post('/onboarding/:id/revoke', async (req, res) => {
    const { id } = parse(onboardingParams, req.params, 'path')
    await onboarding.revoke(id, admin(req))
    res.redirect(303, `/admin/onboarding?revoked=${encodeURIComponent(id)}`)
  })
}
