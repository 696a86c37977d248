import type { Config } from '../config.ts'
import { jobKind } from './job.ts'

/** Each run is one attempt at one delivery; the attempts are the webhook settings'. */
export const deliverWebhook = jobKind<{ deliveryId: string }>({
  name: 'webhook-deliver',
  options: (config) => ({
    retryLimit: config.webhooks.attempts - 1,
    retryDelay: config.webhooks.retryDelaySeconds,
    retryBackoff: true,
    retryDelayMax: 6 * 3600,
    // An attempt is bounded by the timeout; the margin covers the bookkeeping around it.
    expireInSeconds: Math.ceil(config.webhooks.timeoutMs / 1000) + 60,
  }),
})

/**
 * Sends one webhook delivery. Each run is one attempt (recorded by the service); a failed attempt
 * throws and pg-boss runs it again with exponential backoff until the configured attempts are
 * used. Delivery is at least once: a crash after the receiver answered sends the event again,
 * and receivers dedupe by the event id.
 */
export function deliverWebhookJob(
  webhooks: { deliver(deliveryId: string, attemptIndex: number): Promise<void> },
  config: Config,
) {
  return deliverWebhook.definition(config, ({ deliveryId }, job) =>
    webhooks.deliver(deliveryId, job.retryCount),
  )
}
