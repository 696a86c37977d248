import { ErrorCode } from 'kaixu-contract'
import { GatewayError, getErrorMessage } from './errors.ts'
import type { Reporter } from './deploy.ts'
import type { PushState } from 'kaixu-contract'
import type { GatewayClient } from './gateway-client.ts'

/** A cancelling run has seconds, not minutes: a runner kills a post step that takes too long. */
const CANCEL_TIMEOUT_MS = 15_000

/**
 * Cancels a push its run is abandoning (a cancelled or timed-out job, Ctrl-C), so it holds no
 * deploy or bytes of the month and Netlify publishes nothing half-uploaded. Answers the push's
 * state afterwards (`cancelled`, or what it already was), undefined when the gateway could not
 * be asked. Never throws: an abandoned push also expires at the gateway on its own.
 */
export async function cancelPush(
  client: Pick<GatewayClient, 'cancel'>,
  pushId: string,
  reporter: Reporter,
): Promise<PushState | undefined> {
  try {
    const record = await client.cancel(pushId, AbortSignal.timeout(CANCEL_TIMEOUT_MS))
    reporter.info(`Push ${pushId} cancelled; its reservation is returned`)
    return record.state
  } catch (error) {
    if (error instanceof GatewayError && error.code === ErrorCode.InvalidState) {
      const state = (error.details as { state?: PushState } | undefined)?.state
      reporter.info(`Push ${pushId} is ${state ?? 'past uploading'}; it was not cancelled`)
      return state
    }
    reporter.warning(`Could not cancel push ${pushId}: ${getErrorMessage(error)}`)
    return undefined
  }
}
