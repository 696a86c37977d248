import * as repo from '../db/pushes-repo.ts'
import { AppError, ERRORS } from '../errors.ts'
import { CREATE_DEPLOY_TIMEOUT_MS, NetlifyApiError, type NetlifyDeploy } from '../netlify/client.ts'
import type { Caller, PushContext, PushServiceDeps } from './push-context.ts'

/** Pushes one sweep (or one admission) looks at, so a backlog is worked off minute by minute. */
const SWEEP_BATCH = 100

/**
 * How every push ends when its client does not finish it: cancelled on request, expired when
 * idle, billed when Netlify published it anyway. Nothing a client skips or abandons keeps
 * holding a deploy or bytes of its month, and no deploy Netlify published goes unbilled.
 */
export function createPushLifecycle(deps: PushServiceDeps, ctx: PushContext) {
  const { db, netlify, config, logger, clock } = deps
  const idleMs = config.pushIdleTimeoutSeconds * 1000
  // A push without a deploy id past the longest creation belongs to a process that died between
  // admission and Netlify's answer; it holds a reservation nobody will use.
  const creatingMs = Math.min(idleMs, CREATE_DEPLOY_TIMEOUT_MS + 60_000)

  /**
   * Cancels the push's Netlify deploy and answers what Netlify says it is now; undefined when
   * there is no deploy to stop or Netlify cannot be asked for it any more (no token, a deploy
   * Netlify no longer knows). Transient Netlify failures throw: the caller tries again later.
   */
  async function stopAtNetlify(push: repo.PushRow): Promise<NetlifyDeploy | undefined> {
    if (!push.deploy_id) return undefined
    let token: string
    try {
      token = await ctx.netlifyToken(push.customer_id)
    } catch (error) {
      // Without a token nothing more can happen at Netlify under this customer's account.
      if (error instanceof AppError) return undefined
      throw error
    }
    try {
      return await netlify.cancelDeploy(token, push.deploy_id)
    } catch (error) {
      if (!(error instanceof NetlifyApiError) || error.transient) throw error
    }
    // Netlify refused to cancel: most likely the deploy is already done. Read what it is.
    try {
      return await netlify.getDeploy(token, push.deploy_id)
    } catch (error) {
      if (error instanceof NetlifyApiError && !error.transient) return undefined
      throw error
    }
  }

  /**
   * Stops the push at Netlify, then ends it as `to`. A deploy that turns out ready is billed
   * instead (answers 'ready'): stopping a push never makes a published deploy free.
   */
  async function stop(
    push: repo.PushRow,
    to: 'cancelled' | 'expired',
    message: string,
    by?: Caller,
  ) {
    const deploy = await stopAtNetlify(push)
    if (deploy?.state === 'ready') {
      await ctx.settle(push, deploy)
      return 'ready' as const
    }
    const ended = await ctx.endPush(push, to, message, { netlifyState: deploy?.state, by })
    return ended ? to : ('moved' as const)
  }

  /**
   * Expires uploading pushes idle past the timeout (one customer's, or everyone's). Each is
   * handled on its own: a Netlify failure for one leaves it for the next sweep.
   */
  async function expireIdle(customerId?: string): Promise<number> {
    const now = clock.now().getTime()
    const idle = await repo.idlePushes(db, {
      before: new Date(now - idleMs),
      creatingBefore: new Date(now - creatingMs),
      customerId,
      limit: SWEEP_BATCH,
    })
    let expired = 0
    for (const push of idle) {
      try {
        const message = push.deploy_id
          ? `No upload for ${config.pushIdleTimeoutSeconds} s: the push expired.`
          : 'The gateway stopped before Netlify created the deploy: the push expired.'
        if ((await stop(push, 'expired', message)) === 'expired') expired++
      } catch (error) {
        logger.warn({ err: error, pushId: push.id }, 'expiring an idle push failed; next sweep')
      }
    }
    return expired
  }

  /** Bills fully uploaded pushes that Netlify published without their client completing them. */
  async function settlePublished(): Promise<void> {
    for (const push of await repo.fullyUploadedPushes(db, SWEEP_BATCH)) {
      try {
        const token = await ctx.netlifyToken(push.customer_id, push)
        await ctx.settle(push, await netlify.getDeploy(token, push.deploy_id!))
      } catch (error) {
        logger.warn({ err: error, pushId: push.id }, 'checking an uploaded push failed; next sweep')
      }
    }
  }

  return {
    expireIdle,

    /** The minute sweep: bill what Netlify published, then expire what sits idle. */
    async sweep() {
      await settlePublished()
      return { expired: await expireIdle() }
    },

    /**
     * `push-cancel`: stops the Netlify deploy, returns the reservation, state `cancelled`.
     * Idempotent; 409 once the push is finalizing or done (also when Netlify published it
     * before it could be stopped: it is then ready, and billed).
     */
    async cancel(caller: Caller, pushId: string): Promise<repo.PushRow> {
      const push = await ctx.loadPush(caller, pushId)
      if (push.state === 'uploading') {
        try {
          await stop(push, 'cancelled', 'Cancelled by the client.', caller)
        } catch (error) {
          if (error instanceof NetlifyApiError) {
            throw ERRORS.netlifyUnavailable(
              `Netlify could not cancel the deploy for now: ${error.message}`,
              error.retryAfter ?? 5,
            )
          }
          throw error
        }
      }
      const now = await ctx.loadPush(caller, pushId)
      if (now.state === 'cancelled') return now
      throw ERRORS.invalidState(
        `Push is ${now.state}; only an uploading push can be cancelled.`,
        now.state,
      )
    },
  }
}

export type PushLifecycle = ReturnType<typeof createPushLifecycle>
