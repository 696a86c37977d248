import type { Billing } from '../services/billing.ts'
import type { JobDefinition } from './queue.ts'

/**
 * Finalizes every closed month's draft invoices. Scheduled daily at 00:10 UTC, so a month is
 * finalized within minutes of closing; pg-boss's cron sends one job however many gateways run.
 */
export function finalizeInvoicesJob(billing: Billing): JobDefinition<object> {
  return {
    name: 'invoices-finalize',
    options: { retryLimit: 5, retryDelay: 60, retryBackoff: true },
    schedule: '10 0 * * *',
    handle: async () => {
      await billing.finalizeClosedMonths()
    },
  }
}
