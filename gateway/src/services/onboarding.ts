import { createHash } from 'node:crypto'
import { insertAudit } from '../db/audit-repo.ts'
import type { Db } from '../db/db.ts'
import * as repo from '../db/onboarding-repo.ts'
import { blockedFor, recordFailure, type ThrottleWindow } from '../db/throttle-repo.ts'
import { AppError, ERRORS, ErrorCode } from '../errors.ts'
import { randomBase62 } from '../lib/ids.ts'
import { issueApiKey, storeNetlifyToken, type AccountService } from './accounts.ts'
import { auditActor, type ActorRef } from './audit.ts'
import type { Vault } from './vault.ts'

/** `kxo_` + 43 base62 characters: about 256 random bits, and recognisable if it leaks. */
const SECRET_PREFIX = 'kxo_'
const SECRET = /^kxo_[0-9A-Za-z]{43}$/

/**
 * Refused redemptions allowed in a quarter of an hour: per client address (guessing links) and
 * per link (guessing, or fumbling, the token of a link one holds).
 */
export const ONBOARDING_THROTTLE = {
  address: { limit: 10, seconds: 15 * 60 },
  link: { limit: 5, seconds: 15 * 60 },
} as const satisfies Record<string, ThrottleWindow>

export type OnboardingLinkState = 'open' | 'used' | 'revoked' | 'expired'

/** A link as the operator sees it: never its secret (which exists only in the URL handed out). */
export interface OnboardingLinkView {
  id: string
  customerId: string
  customerName: string
  state: OnboardingLinkState
  note: string | null
  createdBy: string
  createdAt: Date
  expiresAt: Date
  usedAt: Date | null
  apiKeyId: string | null
  revokedAt: Date | null
}

/** Who is redeeming: the client's address (for the throttle) and the request id (for the audit). */
export interface Visitor {
  address: string
  requestId?: string | undefined
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')

const stateOf = (r: repo.OnboardingLinkRow): OnboardingLinkState =>
  r.used_at ? 'used' : r.revoked_at ? 'revoked' : r.expired ? 'expired' : 'open'

const view = (r: repo.OnboardingLinkRow): OnboardingLinkView => ({
  id: r.id,
  customerId: r.customer_id,
  customerName: r.customer_name,
  state: stateOf(r),
  note: r.note,
  createdBy: r.created_by,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  usedAt: r.used_at,
  apiKeyId: r.api_key_id,
  revokedAt: r.revoked_at,
})

/** Keyset cursor of the list: `<created_at to the µs>_<link id>`. */
const CURSOR = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)_(onb_[0-9A-Za-z]{20})$/

/**
 * One-time onboarding links. The operator creates one for a customer and hands its URL over; the
 * customer opens it, pastes its own Netlify token (checked with Netlify exactly as `tokens set`
 * checks it) and receives its Kaixu key once. The link is single use (a conditional UPDATE decides
 * between two redemptions at once), expires, and only its SHA-256 is stored. Refused attempts are
 * audited and throttled per address and per link, in the database, so every process counts alike.
 */
export function createOnboarding(deps: {
  db: Db
  vault: Vault
  accounts: AccountService
  settings: { ttlHours: number; publicUrl: string | undefined }
}) {
  const { db, vault, accounts, settings } = deps

  const audit = (
    visitor: Visitor,
    status: 'ok' | 'refused' | 'throttled',
    link: repo.OnboardingLinkRow | undefined,
    details: Record<string, unknown>,
  ) =>
    insertAudit(db, {
      actor: link ? `onboarding:${link.id}` : 'onboarding',
      action: 'onboarding.redeem',
      status,
      requestId: visitor.requestId,
      customerId: link?.customer_id,
      details: { linkId: link?.id ?? null, ip: visitor.address, ...details },
    })

  /** Records a refused attempt against the address (and the link, when there is one), audits it. */
  async function refuse(
    visitor: Visitor,
    link: repo.OnboardingLinkRow | undefined,
    reason: string,
    error: AppError,
  ): Promise<never> {
    await recordFailure(
      db,
      'onboarding.address',
      visitor.address,
      ONBOARDING_THROTTLE.address.seconds,
    )
    if (link) {
      await recordFailure(db, 'onboarding.link', link.id, ONBOARDING_THROTTLE.link.seconds)
    }
    await audit(visitor, 'refused', link, { reason, code: error.code })
    throw error
  }

  async function throttle(visitor: Visitor, link: repo.OnboardingLinkRow | undefined) {
    const wait = link
      ? await blockedFor(db, 'onboarding.link', link.id, ONBOARDING_THROTTLE.link)
      : await blockedFor(db, 'onboarding.address', visitor.address, ONBOARDING_THROTTLE.address)
    if (wait === undefined) return
    await audit(visitor, 'throttled', link, { per: link ? 'link' : 'address' })
    throw ERRORS.onboardingThrottled(wait)
  }

  /**
   * The live link a secret names, after the throttles; anything else (malformed, unknown, used,
   * withdrawn, expired) is one refused attempt with one answer.
   */
  async function liveLink(secret: string, visitor: Visitor): Promise<repo.OnboardingLinkRow> {
    await throttle(visitor, undefined)
    const link = SECRET.test(secret)
      ? await repo.findLinkBySecretHash(db, sha256(secret))
      : undefined
    if (link) await throttle(visitor, link)
    const state = link ? stateOf(link) : 'unknown'
    if (!link || state !== 'open') return refuse(visitor, link, state, ERRORS.onboardingLinkGone())
    if (link.customer_status !== 'active') {
      return refuse(visitor, link, 'suspended', ERRORS.customerSuspended())
    }
    return link
  }

  return {
    async create(
      customerId: string,
      input: { note?: string | undefined; expiresInHours?: number | undefined },
      actor: ActorRef,
      /** Where the caller reached this gateway; `KAIXU_PUBLIC_URL` wins when set. */
      origin: string,
    ): Promise<OnboardingLinkView & { url: string }> {
      const hours = input.expiresInHours ?? settings.ttlHours
      if (hours > settings.ttlHours) {
        throw ERRORS.invalidRequest(
          `A link may live at most ${settings.ttlHours} hour(s) here (KAIXU_ONBOARDING_TTL_HOURS).`,
          { maxHours: settings.ttlHours },
        )
      }
      await accounts.getCustomer(customerId)
      const secret = SECRET_PREFIX + randomBase62(43)
      const id = `onb_${randomBase62(20)}`
      const who = auditActor(actor)
      await db.transaction(async (tx) => {
        await repo.insertLink(tx, {
          id,
          customerId,
          secretHash: sha256(secret),
          note: input.note ?? null,
          createdBy: who.actor,
          ttlSeconds: hours * 3600,
        })
        await insertAudit(tx, {
          ...who,
          action: 'onboarding.create',
          status: 'ok',
          customerId,
          details: { linkId: id, hours },
        })
      })
      const row = (await repo.findLinkById(db, id))!
      const base = settings.publicUrl ?? origin.replace(/\/+$/, '')
      return { ...view(row), url: `${base}/onboard?link=${secret}` }
    },

    async list(filter: { customerId?: string | undefined; before?: string; limit: number }) {
      const m = filter.before ? CURSOR.exec(filter.before) : null
      if (filter.before && !m) throw ERRORS.invalidRequest('Invalid cursor: before')
      const rows = await repo.listLinks(db, {
        customerId: filter.customerId,
        ...(m ? { before: { at: m[1]!, id: m[2]! } } : {}),
        limit: filter.limit + 1,
      })
      const last = rows.length > filter.limit ? rows[filter.limit - 1] : undefined
      return {
        links: rows.slice(0, filter.limit).map(view),
        nextBefore: last ? `${last.cursor_at}_${last.id}` : null,
      }
    },

    /** Withdraws an unused link; a used or withdrawn one answers as it is. */
    async revoke(id: string, actor: ActorRef): Promise<OnboardingLinkView> {
      await db.transaction(async (tx) => {
        if (!(await repo.revokeLink(tx, id))) return
        const row = (await repo.findLinkById(tx, id))!
        await insertAudit(tx, {
          ...auditActor(actor),
          action: 'onboarding.revoke',
          status: 'ok',
          customerId: row.customer_id,
          details: { linkId: id },
        })
      })
      const row = await repo.findLinkById(db, id)
      if (!row) throw ERRORS.notFound(`Onboarding link '${id}'`)
      return view(row)
    },

    /** What the client's page shows before the form: whose link this is, and until when. */
    async open(secret: string, visitor: Visitor) {
      const link = await liveLink(secret, visitor)
      return { customerName: link.customer_name, expiresAt: link.expires_at }
    },

    /**
     * Registers the client's Netlify token and issues its key, once. The token is checked with
     * Netlify first (a refusal leaves the link usable); then one transaction issues the key,
     * marks the link used (or finds it was used meanwhile, and rolls everything back) and stores
     * the sealed token.
     */
    async redeem(secret: string, netlifyToken: string, visitor: Visitor) {
      const link = await liveLink(secret, visitor)
      const actor = { name: `onboarding:${link.id}`, requestId: visitor.requestId }
      let sitesChecked: number
      try {
        ;({ sitesChecked } = await accounts.checkNetlifyToken(link.customer_id, netlifyToken))
      } catch (error) {
        // Netlify refusing the token is the client's mistake (counted); Netlify being down is not.
        if (
          error instanceof AppError &&
          (error.code === ErrorCode.NetlifyTokenInvalid || error.code === ErrorCode.SiteUnreachable)
        ) {
          return refuse(visitor, link, 'netlify_token', error)
        }
        throw error
      }
      let key: Awaited<ReturnType<typeof issueApiKey>>
      let last4: string
      try {
        ;({ key, last4 } = await db.transaction(async (tx) => {
          const issued = await issueApiKey(tx, link.customer_id, actor, 'onboarding')
          if (!(await repo.markUsed(tx, link.id, issued.id))) throw ERRORS.onboardingLinkGone()
          const stored = await storeNetlifyToken(tx, vault, {
            customerId: link.customer_id,
            token: netlifyToken,
            actor,
            sitesChecked,
          })
          return { key: issued, last4: stored }
        }))
      } catch (error) {
        if (error instanceof AppError && error.code === ErrorCode.OnboardingLinkGone) {
          return refuse(visitor, link, 'used', error)
        }
        throw error
      }
      await audit(visitor, 'ok', link, { apiKeyId: key.id, netlifyTokenLast4: last4 })
      return {
        customerId: link.customer_id,
        customerName: link.customer_name,
        keyId: key.id,
        key: key.key,
        prefix: key.prefix,
        netlifyTokenLast4: last4,
      }
    },
  }
}

export type Onboarding = ReturnType<typeof createOnboarding>
