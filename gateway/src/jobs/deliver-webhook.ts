import type { Config } from '../config.ts'
import { WEBHOOK_QUEUE, type Webhooks } from '../services/webhooks.ts'
import type { JobDefinition } from './queue.ts'

/**
 * Sends one webhook delivery. Each run is one attempt (recorded by the service); a failed attempt
 * throws and pg-boss runs it again with exponential backoff until the configured attempts are
 * used. Delivery is at least once: a crash after the receiver answered sends the event again,
 * and receivers dedupe by the event id.
 */
export function deliverWebhookJob(
  webhooks: Webhooks,
  config: Config,
): JobDefinition<{ deliveryId: string }> {
  return {
    name: WEBHOOK_QUEUE,
    options: {
      retryLimit: config.webhooks.attempts - 1,
      retryDelay: config.webhooks.retryDelaySeconds,
      retryBackoff: true,
      retryDelayMax: 6 * 3600,
      // An attempt is bounded by the timeout; the margin covers the bookkeeping around it.
      expireInSeconds: Math.ceil(config.webhooks.timeoutMs / 1000) + 60,
    },
    handle: ({ deliveryId }, job) => webhooks.deliver(deliveryId, job.retryCount),
  }
}
