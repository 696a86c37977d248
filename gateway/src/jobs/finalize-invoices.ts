import type { Config } from '../config.ts'
import { jobKind } from './job.ts'

export const finalizeInvoices = jobKind<object>({
  name: 'invoices-finalize',
  options: { retryLimit: 5, retryDelay: 60, retryBackoff: true },
  schedule: '10 0 * * *',
})

/**
 * Finalizes every closed month's draft invoices. Scheduled daily at 00:10 UTC, so a month is
 * finalized within minutes of closing; pg-boss's cron sends one job however many gateways run.
 */
export function finalizeInvoicesJob(
  billing: { finalizeClosedMonths(): Promise<unknown> },
  config: Config,
) {
  return finalizeInvoices.definition(config, async () => {
    await billing.finalizeClosedMonths()
  })
}
