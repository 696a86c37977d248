import { onboardingCreateSchema, onboardingListQuery } from '../http/onboarding/schemas.ts'
import { parse } from '../http/validate.ts'
import type { OnboardingLinkView } from '../services/onboarding.ts'
import { optionReaders, type CommandContext } from './cli-accounts.ts'

/** Help lines for the onboarding commands (merged into the CLI's usage). */
export const ONBOARDING_USAGE = `  onboarding create --customer ID [--hours N] [--note TEXT]
                                          a one-time link for the customer to register its own
                                          Netlify token and get its key; prints the URL once
  onboarding list [--customer ID] [--limit N]
                                          links, their state (open, used, revoked, expired)
  onboarding revoke --id LINK_ID          withdraw an unused link`

export const ONBOARDING_OPTIONS = {
  hours: { type: 'string' },
  note: { type: 'string' },
} as const

type Dated = Date | string | null
const when = (d: Dated) => (d ? new Date(d).toISOString() : '-')

const linkLine = (l: OnboardingLinkView) =>
  `${l.id}  ${l.state.padEnd(7)}  ${l.customerId}  ${l.customerName}  expires ${when(l.expiresAt)}${
    l.usedAt ? `  used ${when(l.usedAt)} → ${l.apiKeyId}` : ''
  }${l.note ? `  (${l.note})` : ''}`

/** Runs an `onboarding …` command; false when `command` is not one of them. */
export async function runOnboardingCommand(command: string, ctx: CommandContext): Promise<boolean> {
  const { print, run } = ctx
  const { opt, need } = optionReaders(ctx)
  const seg = encodeURIComponent

  switch (command) {
    case 'onboarding create': {
      const customerId = need('customer')
      // The same checks as the admin API, on both paths.
      const body = parse(
        onboardingCreateSchema,
        {
          ...(opt('note') ? { note: opt('note') } : {}),
          ...(opt('hours') ? { expiresInHours: opt('hours') } : {}),
        },
        'options',
      )
      const link = await run(
        (s) =>
          s.onboarding.create(customerId, body, 'cli', `http://${s.config.host}:${s.config.port}`),
        (a) =>
          a.post<OnboardingLinkView & { url: string }>(
            `/customers/${seg(customerId)}/onboarding-links`,
            body,
          ),
      )
      print(
        { ...link },
        `Created ${linkLine(link)}\nSend this link to the customer (shown once): ${link.url}`,
      )
      return true
    }
    case 'onboarding list': {
      const q = parse(
        onboardingListQuery,
        {
          ...(opt('customer') ? { customer: opt('customer') } : {}),
          ...(opt('limit') ? { limit: opt('limit') } : {}),
        },
        'options',
      )
      const { links } = await run(
        (s) => s.onboarding.list({ customerId: q.customer, limit: q.limit }),
        (a) =>
          a.get<{ links: OnboardingLinkView[] }>(
            `/onboarding-links?${new URLSearchParams({
              ...(q.customer ? { customer: q.customer } : {}),
              limit: String(q.limit),
            }).toString()}`,
          ),
      )
      print({ links }, links.map(linkLine).join('\n') || 'No onboarding links.')
      return true
    }
    case 'onboarding revoke': {
      const id = need('id')
      const link = await run(
        (s) => s.onboarding.revoke(id, 'cli'),
        (a) => a.delete<OnboardingLinkView>(`/onboarding-links/${seg(id)}`),
      )
      print(
        { ...link },
        `${link.state === 'revoked' ? 'Withdrawn' : 'Unchanged'}: ${linkLine(link)}`,
      )
      return true
    }
    default:
      return false
  }
}
