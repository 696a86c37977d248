import type { DeliveryView, EndpointView, WebhookEventType } from '../services/webhooks.ts'
import { optionReaders, type CommandContext } from './cli-accounts.ts'

/** Help lines for the webhook commands (merged into the CLI's usage). */
export const WEBHOOK_USAGE = `  webhooks add --url URL [--customer ID] [--events push.ready,push.failed,…]
                                          register an endpoint (without --customer: the operator's,
                                          hearing every customer); prints its signing secret once
  webhooks list [--customer ID]           endpoints, enabled or disabled (and why)
  webhooks remove --id ENDPOINT_ID
  webhooks enable --id ENDPOINT_ID        turn a disabled endpoint back on
  webhooks deliveries [--endpoint ENDPOINT_ID] [--limit N]
                                          latest deliveries, their state and attempts
  webhooks resend --id DELIVERY_ID        send a delivery again`

export const WEBHOOK_OPTIONS = {
  url: { type: 'string' },
  events: { type: 'string' },
  endpoint: { type: 'string' },
} as const

type Dated = Date | string | null
const when = (d: Dated) => (d ? new Date(d).toISOString() : '-')

const endpointLine = (e: EndpointView) =>
  `${e.id}  ${e.enabled ? 'enabled ' : 'DISABLED'}  ${e.customerId ?? 'operator'}  ${e.url}  events:${
    e.events?.join(',') ?? 'all'
  }${e.enabled ? '' : `  (${when(e.disabledAt)}: ${e.disabledReason})`}`

const deliveryLine = (d: DeliveryView) =>
  `${d.id}  ${when(d.createdAt)}  ${d.eventType}  ${d.status.padEnd(9)}  attempts:${d.attempts}  ${
    d.lastError ?? (d.lastStatusCode ? `HTTP ${d.lastStatusCode}` : '-')
  }  → ${d.endpointId}`

/** Runs a `webhooks …` command; false when `command` is not one of them. */
export async function runWebhookCommand(command: string, ctx: CommandContext): Promise<boolean> {
  const { print, use } = ctx
  const { opt, need } = optionReaders(ctx)

  switch (command) {
    case 'webhooks add': {
      const customerId = opt('customer')
      const events = opt('events')
      const created = await use((a) =>
        a.webhooksAdd({
          url: need('url'),
          ...(customerId ? { customerId } : {}),
          // The schema checks each name, so a bad one is refused before anything is stored.
          ...(events
            ? { events: events.split(',').map((e) => e.trim()) as WebhookEventType[] }
            : {}),
        }),
      )
      print(
        { ...created },
        `Added ${endpointLine(created.endpoint)}\nSigning secret (shown once): ${created.secret}`,
      )
      return true
    }
    case 'webhooks list': {
      const customer = opt('customer')
      const all = (await use((a) => a.webhooksList({}))).endpoints
      const endpoints = customer ? all.filter((e) => e.customerId === customer) : all
      print({ endpoints }, endpoints.map(endpointLine).join('\n') || 'No webhook endpoints.')
      return true
    }
    case 'webhooks remove': {
      const id = need('id')
      const removed = await use((a) => a.webhooksRemove({ id }))
      print(removed, `Removed ${id}`)
      return true
    }
    case 'webhooks enable': {
      const id = need('id')
      const endpoint = await use((a) => a.webhooksEnable({ id }))
      print({ ...endpoint }, `Enabled ${endpointLine(endpoint)}`)
      return true
    }
    case 'webhooks deliveries': {
      const endpointId = opt('endpoint')
      const limit = opt('limit')
      const { deliveries } = await use((a) =>
        a.deliveriesList({ ...(endpointId ? { endpointId } : {}), ...(limit ? { limit } : {}) }),
      )
      print({ deliveries }, deliveries.map(deliveryLine).join('\n') || 'No deliveries.')
      return true
    }
    case 'webhooks resend': {
      const id = need('id')
      const resent = await use((a) => a.deliveriesResend({ id }))
      print(resent, `Queued ${id} again`)
      return true
    }
    default:
      return false
  }
}
