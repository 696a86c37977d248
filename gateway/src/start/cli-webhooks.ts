import { adminWebhookBodySchema, deliveryListQuery } from '../http/schemas.ts'
import { parse } from '../http/validate.ts'
import type { DeliveryView, EndpointView } from '../services/webhooks.ts'
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
  const { print, run } = ctx
  const { opt, need } = optionReaders(ctx)
  const seg = encodeURIComponent

  switch (command) {
    case 'webhooks add': {
      // The same checks as the admin API, so a bad URL is refused before anything is stored.
      const body = parse(
        adminWebhookBodySchema,
        {
          url: need('url'),
          ...(opt('customer') ? { customerId: opt('customer') } : {}),
          ...(opt('events')
            ? {
                events: opt('events')!
                  .split(',')
                  .map((e) => e.trim()),
              }
            : {}),
        },
        'options',
      )
      const created = await run(
        (s) =>
          s.webhooks.createEndpoint(
            { customerId: body.customerId ?? null },
            { url: body.url, events: body.events },
            'cli',
          ),
        (a) => a.post<{ endpoint: EndpointView; secret: string }>('/webhooks', body),
      )
      print(
        { ...created },
        `Added ${endpointLine(created.endpoint)}\nSigning secret (shown once): ${created.secret}`,
      )
      return true
    }
    case 'webhooks list': {
      const customer = opt('customer')
      const all = await run(
        (s) => s.webhooks.listEndpoints(undefined),
        async (a) => (await a.get<{ endpoints: EndpointView[] }>('/webhooks')).endpoints,
      )
      const endpoints = customer ? all.filter((e) => e.customerId === customer) : all
      print({ endpoints }, endpoints.map(endpointLine).join('\n') || 'No webhook endpoints.')
      return true
    }
    case 'webhooks remove': {
      const id = need('id')
      await run(
        (s) => s.webhooks.removeEndpoint(id, undefined, 'cli'),
        (a) => a.delete(`/webhooks/${seg(id)}`),
      )
      print({ removed: id }, `Removed ${id}`)
      return true
    }
    case 'webhooks enable': {
      const id = need('id')
      const endpoint = await run(
        (s) => s.webhooks.enableEndpoint(id, undefined, 'cli'),
        (a) => a.post<EndpointView>(`/webhooks/${seg(id)}/enable`),
      )
      print({ ...endpoint }, `Enabled ${endpointLine(endpoint)}`)
      return true
    }
    case 'webhooks deliveries': {
      const query = parse(
        deliveryListQuery,
        {
          ...(opt('endpoint') ? { endpointId: opt('endpoint') } : {}),
          ...(opt('limit') ? { limit: opt('limit') } : {}),
        },
        'options',
      )
      const deliveries = await run(
        (s) => s.webhooks.listDeliveries(undefined, query),
        async (a) =>
          (
            await a.get<{ deliveries: DeliveryView[] }>(
              `/webhook-deliveries?${new URLSearchParams({
                ...(query.endpointId ? { endpointId: query.endpointId } : {}),
                limit: String(query.limit),
              }).toString()}`,
            )
          ).deliveries,
      )
      print({ deliveries }, deliveries.map(deliveryLine).join('\n') || 'No deliveries.')
      return true
    }
    case 'webhooks resend': {
      const id = need('id')
      await run(
        (s) => s.webhooks.resend(id, undefined, 'cli'),
        (a) => a.post(`/webhook-deliveries/${seg(id)}/resend`),
      )
      print({ resent: id }, `Queued ${id} again`)
      return true
    }
    default:
      return false
  }
}
