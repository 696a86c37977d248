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
  const { print, use } = ctx
  const { opt, need } = optionReaders(ctx)

  switch (command) {
    case 'onboarding create': {
      const id = need('customer')
      const note = opt('note')
      const hours = opt('hours')
      const link = await use((a) =>
        a.onboardingCreate({
          id,
          ...(note ? { note } : {}),
          ...(hours ? { expiresInHours: hours } : {}),
        }),
      )
      print(
        { ...link },
        `Created ${linkLine(link)}\nSend this link to the customer (shown once): ${link.url}`,
      )
      return true
    }
    case 'onboarding list': {
      const customer = opt('customer')
      const limit = opt('limit')
      const { links } = await use((a) =>
        a.onboardingList({ ...(customer ? { customer } : {}), ...(limit ? { limit } : {}) }),
      )
      print({ links }, links.map(linkLine).join('\n') || 'No onboarding links.')
      return true
    }
    case 'onboarding revoke': {
      const id = need('id')
      const link = await use((a) => a.onboardingRevoke({ id }))
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
