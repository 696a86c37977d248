import type { Logger } from 'pino'
import * as repo from '../db/accounts-repo.ts'
import { insertAudit } from '../db/audit-repo.ts'
import type { Db, Queryable } from '../db/db.ts'
import { upsertLimits, type LimitOverrides } from '../db/metering-repo.ts'
import { ERRORS } from '../errors.ts'
import { newId } from '../lib/ids.ts'
import { NetlifyApiError, type NetlifyClient } from '../netlify/client.ts'
import { generateApiKey, hashApiKey, isWellFormedApiKey } from './api-keys.ts'
import { auditActor, type ActorRef } from './audit.ts'
import type { Metering } from './metering.ts'
import { toAppError } from './pushes.ts'
import type { Vault } from './vault.ts'

export interface AccountServiceDeps {
  db: Db
  netlify: NetlifyClient
  vault: Vault
  logger: Logger
  metering: Metering
}

/** What the operator and the customer see of a Netlify token: never the token itself. */
export interface NetlifyTokenView {
  state: 'active' | 'revoked'
  last4: string
  /** The vault key the ciphertext is sealed with (null once revoked). */
  vaultKeyId: string | null
  updatedAt: Date
  revokedAt: Date | null
}

export interface CustomerView {
  id: string
  name: string
  status: repo.CustomerStatus
  createdAt: Date
  updatedAt: Date
  netlifyToken: NetlifyTokenView | null
  activeKeys: number
  projects: number
}

/** A key as listed: its prefix and when it was last used, never the key or its hash. */
export interface ApiKeyView {
  id: string
  name: string | null
  prefix: string
  createdAt: Date
  lastUsedAt: Date | null
  revokedAt: Date | null
}

export interface ProjectView {
  id: string
  name: string
  siteId: string
  createdAt: Date
}

const customerView = (r: repo.CustomerSummaryRow): CustomerView => ({
  id: r.id,
  name: r.name,
  status: r.status,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  netlifyToken:
    r.token_last4 === null
      ? null
      : {
          state: r.token_revoked_at ? 'revoked' : 'active',
          last4: r.token_last4,
          vaultKeyId: r.token_key_id,
          updatedAt: r.token_updated_at!,
          revokedAt: r.token_revoked_at,
        },
  activeKeys: r.active_keys,
  projects: r.projects,
})

const tokenView = (r: repo.TokenRow): NetlifyTokenView => ({
  state: r.revoked_at ? 'revoked' : 'active',
  last4: r.last4,
  vaultKeyId: r.key_id,
  updatedAt: r.updated_at,
  revokedAt: r.revoked_at,
})

const keyView = (r: repo.ApiKeyRow): ApiKeyView => ({
  id: r.id,
  name: r.name,
  prefix: r.key_start,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
  revokedAt: r.revoked_at,
})

const projectView = (r: repo.ProjectRow): ProjectView => ({
  id: r.id,
  name: r.name,
  siteId: r.site_id,
  createdAt: r.created_at,
})

/** Sites checked against Netlify at once when a token is verified against every project. */
const SITE_CHECKS_IN_FLIGHT = 4

/** Customers, their API keys, their vaulted Netlify token and their projects. */
const TOUCH_EVERY_MS = 60_000

export function createAccountService(deps: AccountServiceDeps) {
  const { db, netlify, vault, metering } = deps
  // last_used_at is kept to the minute, so this process asks the database to touch a key at most
  // once a minute instead of on every request (measured: a round trip per push-status otherwise).
  const touchedAt = new Map<string, number>()
  const touch = (keyId: string) => {
    const now = Date.now()
    if (now - (touchedAt.get(keyId) ?? 0) < TOUCH_EVERY_MS) return
    if (touchedAt.size > 10_000) touchedAt.clear()
    touchedAt.set(keyId, now)
    void repo.touchApiKey(db, keyId).catch(() => {})
  }

  async function requireCustomer(customerId: string) {
    const customer = await repo.findCustomer(db, customerId)
    if (!customer) throw ERRORS.notFound(`Customer '${customerId}'`)
    return customer
  }

  async function summary(customerId: string): Promise<CustomerView> {
    const row = await repo.findCustomerSummary(db, customerId)
    if (!row) throw ERRORS.notFound(`Customer '${customerId}'`)
    return customerView(row)
  }

  /** Netlify's own answer on a token: 401/403 means it is no good; 5xx/429 means try later. */
  async function verifyToken(token: string): Promise<void> {
    try {
      await netlify.getCurrentUser(token)
    } catch (error) {
      if (error instanceof NetlifyApiError && (error.status === 401 || error.status === 403)) {
        throw ERRORS.netlifyTokenInvalid(error.status)
      }
      throw toAppError(error)
    }
  }

  /** The sites `token` cannot reach; transient Netlify failures abort the whole check. */
  async function unreachable(token: string, sites: { siteId: string; project?: string }[]) {
    const out: { siteId: string; project?: string; netlifyStatus: number }[] = []
    for (let i = 0; i < sites.length; i += SITE_CHECKS_IN_FLIGHT) {
      await Promise.all(
        sites.slice(i, i + SITE_CHECKS_IN_FLIGHT).map(async (site) => {
          try {
            await netlify.getSite(token, site.siteId)
          } catch (error) {
            if (!(error instanceof NetlifyApiError) || error.transient) throw toAppError(error)
            out.push({ ...site, netlifyStatus: error.status })
          }
        }),
      )
    }
    return out
  }

  /**
   * What setting a token checks before storing it: Netlify accepts it, and it reaches every site
   * the customer has projects on (another Netlify account would strand them).
   */
  async function checkNetlifyToken(customerId: string, token: string) {
    await verifyToken(token)
    const projects = await repo.listProjects(db, customerId)
    const missing = await unreachable(
      token,
      projects.map((p) => ({ siteId: p.site_id, project: p.name })),
    )
    if (missing.length > 0) {
      throw ERRORS.siteUnreachable(
        `This token cannot reach ${missing.length} of the customer's sites (another Netlify account?); nothing was stored.`,
        missing,
      )
    }
    return { sitesChecked: projects.length }
  }

  /** The customer's live token, or the precise reason there is none. */
  async function liveToken(customerId: string): Promise<string> {
    const row = await repo.findNetlifyToken(db, customerId)
    if (!row) throw ERRORS.netlifyTokenMissing()
    if (!row.ciphertext) throw ERRORS.netlifyTokenRevoked()
    return vault.open(customerId, row.ciphertext)
  }

  return {
    async createCustomer(name: string, actor: ActorRef): Promise<CustomerView> {
      const id = await db.transaction(async (tx) => {
        const customer = await repo.insertCustomer(tx, newId('cus'), name)
        await insertAudit(tx, {
          ...auditActor(actor),
          action: 'customer.create',
          status: 'ok',
          customerId: customer.id,
          details: { name },
        })
        return customer.id
      })
      return summary(id)
    },

    listCustomers: async (status?: repo.CustomerStatus) =>
      (await repo.listCustomers(db, status)).map(customerView),

    getCustomer: summary,

    /**
     * Suspends or reactivates. A suspended customer's keys answer 403 from the next request on;
     * pushes already finalizing still finish (their deploy is reserved and on its way).
     */
    async setCustomerStatus(
      customerId: string,
      status: repo.CustomerStatus,
      actor: ActorRef,
    ): Promise<CustomerView> {
      await db.transaction(async (tx) => {
        const row = await repo.setCustomerStatus(tx, customerId, status)
        if (!row) throw ERRORS.notFound(`Customer '${customerId}'`)
        if (row.previous === status) return
        await insertAudit(tx, {
          ...auditActor(actor),
          action: status === 'suspended' ? 'customer.suspend' : 'customer.reactivate',
          status: 'ok',
          customerId,
          details: { previous: row.previous },
        })
      })
      return summary(customerId)
    },

    /** Issues a key; the key itself is returned here once and never stored. */
    async createApiKey(customerId: string, actor: ActorRef, options: { name?: string } = {}) {
      await requireCustomer(customerId)
      return db.transaction((tx) => issueApiKey(tx, customerId, actor, options.name))
    },

    async listApiKeys(customerId: string): Promise<ApiKeyView[]> {
      await requireCustomer(customerId)
      return (await repo.listApiKeys(db, customerId)).map(keyView)
    },

    /** Revokes a key; the very next request with it is refused (every request reads the row). */
    async revokeApiKey(customerId: string, keyId: string, actor: ActorRef): Promise<ApiKeyView> {
      await requireCustomer(customerId)
      const revoked = await db.transaction(async (tx) => {
        const row = await repo.revokeApiKey(tx, customerId, keyId)
        if (row) {
          await insertAudit(tx, {
            ...auditActor(actor),
            action: 'key.revoke',
            status: 'ok',
            customerId,
            apiKeyId: keyId,
            details: { prefix: row.key_start },
          })
        }
        return row
      })
      if (revoked) return keyView(revoked)
      // Unknown (or another customer's) key: 404; already revoked: the same answer again.
      const existing = await repo.findApiKey(db, customerId, keyId)
      if (!existing) throw ERRORS.notFound(`API key '${keyId}'`)
      return keyView(existing)
    },

    /**
     * Resolves a presented key. Malformed keys (bad prefix or checksum) are refused before any
     * database work, so garbage cannot be used to load the database.
     */
    async authenticate(presented: string | undefined) {
      if (!presented || !isWellFormedApiKey(presented)) throw ERRORS.unauthorized()
      const row = await repo.findKeyByHash(db, hashApiKey(presented))
      if (!row || row.revoked_at) throw ERRORS.unauthorized()
      if (row.customer_status !== 'active') throw ERRORS.customerSuspended()
      touch(row.key_id)
      return { customerId: row.customer_id, apiKeyId: row.key_id }
    },

    /**
     * Registers or replaces the customer's Netlify token. Netlify must accept it and it must
     * reach every site the customer has projects on; only then is it sealed and stored, in one
     * statement, so there is never a moment without a working token. Pushes in flight read the
     * token at each Netlify call and move to the new one at once. `rotate` insists that a live
     * token exists (a rotation, not a first registration).
     */
    async setNetlifyToken(
      customerId: string,
      token: string,
      actor: ActorRef,
      options: { rotate?: boolean } = {},
    ) {
      await requireCustomer(customerId)
      const previous = await repo.findNetlifyToken(db, customerId)
      if (options.rotate) {
        if (!previous) throw ERRORS.netlifyTokenMissing()
        if (!previous.ciphertext) throw ERRORS.netlifyTokenRevoked()
      }
      const { sitesChecked } = await checkNetlifyToken(customerId, token)
      const last4 = await db.transaction((tx) =>
        storeNetlifyToken(tx, vault, { customerId, token, actor, sitesChecked }),
      )
      const row = (await repo.findNetlifyToken(db, customerId))!
      return { customerId, ...tokenView(row), last4, sitesChecked }
    },

    checkNetlifyToken,

    /**
     * Revokes the customer's token in the gateway: the ciphertext is destroyed, new pushes are
     * refused with `netlify_token_revoked`, and in-flight pushes fail with that message at their
     * next Netlify call. (Revoke it in Netlify too: the gateway cannot.)
     */
    async revokeNetlifyToken(customerId: string, actor: ActorRef) {
      await requireCustomer(customerId)
      const revoked = await db.transaction(async (tx) => {
        const row = await repo.revokeNetlifyToken(tx, customerId)
        if (row) {
          await insertAudit(tx, {
            ...auditActor(actor),
            action: 'netlify_token.revoke',
            status: 'ok',
            customerId,
            details: { last4: row.last4 },
          })
        }
        return row
      })
      const row = revoked ?? (await repo.findNetlifyToken(db, customerId))
      if (!row) throw ERRORS.notFound(`Netlify token of customer '${customerId}'`)
      return { customerId, ...tokenView(row) }
    },

    async netlifyTokenInfo(customerId: string) {
      await requireCustomer(customerId)
      const row = await repo.findNetlifyToken(db, customerId)
      if (!row) throw ERRORS.notFound(`Netlify token of customer '${customerId}'`)
      return { customerId, ...tokenView(row) }
    },

    /** Registers a Netlify site as a project, after checking the customer's token can reach it. */
    async addProject(
      customerId: string,
      input: { siteId: string; name: string },
      actor: ActorRef,
    ): Promise<ProjectView> {
      await requireCustomer(customerId)
      if (await repo.findProject(db, customerId, input.name)) {
        throw ERRORS.conflict(`A project named '${input.name}' already exists.`)
      }
      const missing = await unreachable(await liveToken(customerId), [{ siteId: input.siteId }])
      if (missing.length > 0) {
        throw ERRORS.siteUnreachable(
          `Netlify site '${input.siteId}' is not reachable with this customer's token.`,
          missing,
        )
      }
      return db.transaction(async (tx) => {
        const project = await repo.insertProject(tx, { id: newId('prj'), customerId, ...input })
        await insertAudit(tx, {
          ...auditActor(actor),
          action: 'project.add',
          status: 'ok',
          customerId,
          projectId: project.id,
          details: { siteId: input.siteId, name: input.name },
        })
        return projectView(project)
      })
    },

    async listProjects(customerId: string): Promise<ProjectView[]> {
      await requireCustomer(customerId)
      return (await repo.listProjects(db, customerId)).map(projectView)
    },

    /** Removes a project (by id or name): new pushes to it are refused; its history stays. */
    async removeProject(customerId: string, project: string, actor: ActorRef) {
      await requireCustomer(customerId)
      const row = await repo.findProject(db, customerId, project)
      if (!row) throw ERRORS.projectNotFound(project)
      await db.transaction(async (tx) => {
        if (!(await repo.removeProject(tx, customerId, row.id))) return
        await insertAudit(tx, {
          ...auditActor(actor),
          action: 'project.remove',
          status: 'ok',
          customerId,
          projectId: row.id,
          details: { siteId: row.site_id, name: row.name },
        })
      })
      return { ...projectView(row), removed: true }
    },

    limitsReport: (customerId: string) => metering.report(db, customerId),

    /** Sets a customer's limit overrides (null: back to the default); answers the effective ones. */
    async setLimits(customerId: string, overrides: LimitOverrides, actor: ActorRef) {
      await requireCustomer(customerId)
      await db.transaction(async (tx) => {
        await upsertLimits(tx, customerId, overrides)
        await insertAudit(tx, {
          ...auditActor(actor),
          action: 'limits.set',
          status: 'ok',
          customerId,
          details: { ...overrides },
        })
      })
      return metering.report(db, customerId)
    },
  }
}

export type AccountService = ReturnType<typeof createAccountService>

/**
 * Seals and stores a checked token in one statement (so there is never a moment without a
 * working token) and audits it; inside the caller's transaction. Answers its last 4 characters.
 */
export async function storeNetlifyToken(
  tx: Queryable,
  vault: Vault,
  t: { customerId: string; token: string; actor: ActorRef; sitesChecked: number },
): Promise<string> {
  const previous = await repo.findNetlifyToken(tx, t.customerId)
  const sealed = vault.seal(t.customerId, t.token)
  const last4 = t.token.slice(-4)
  await repo.upsertNetlifyToken(tx, {
    customerId: t.customerId,
    ciphertext: sealed.ciphertext,
    keyId: sealed.keyId,
    last4,
  })
  await insertAudit(tx, {
    ...auditActor(t.actor),
    action: previous?.ciphertext ? 'netlify_token.rotate' : 'netlify_token.set',
    status: 'ok',
    customerId: t.customerId,
    details: {
      last4,
      previousLast4: previous?.last4 ?? null,
      vaultKeyId: sealed.keyId,
      sitesChecked: t.sitesChecked,
    },
  })
  return last4
}

/** Issues and audits a key inside the caller's transaction; the key is returned once, never stored. */
export async function issueApiKey(
  tx: Queryable,
  customerId: string,
  actor: ActorRef,
  name: string | undefined,
) {
  const generated = generateApiKey()
  const id = newId('key')
  await repo.insertApiKey(tx, {
    id,
    customerId,
    hash: generated.hash,
    start: generated.start,
    name,
  })
  await insertAudit(tx, {
    ...auditActor(actor),
    action: 'key.create',
    status: 'ok',
    customerId,
    apiKeyId: id,
    details: { prefix: generated.start, name: name ?? null },
  })
  return { id, key: generated.key, prefix: generated.start, name: name ?? null }
}
