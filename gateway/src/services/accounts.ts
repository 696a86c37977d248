import type { Logger } from 'pino'
import * as repo from '../db/accounts-repo.ts'
import { insertAudit } from '../db/audit-repo.ts'
import type { Db } from '../db/db.ts'
import { AppError, ERRORS, ErrorCode } from '../errors.ts'
import { newId } from '../lib/ids.ts'
import { NetlifyApiError, type NetlifyClient } from '../netlify/client.ts'
import { generateApiKey, hashApiKey, isWellFormedApiKey } from './api-keys.ts'
import { toAppError } from './pushes.ts'
import type { Vault } from './vault.ts'
import type { Metering } from './metering.ts'
import { upsertLimits, type LimitOverrides } from '../db/metering-repo.ts'

export interface AccountServiceDeps {
  db: Db
  netlify: NetlifyClient
  vault: Vault
  logger: Logger
  metering: Metering
}

/** Customers, their API keys, their vaulted Netlify token and their projects. */
export function createAccountService(deps: AccountServiceDeps) {
  const { db, netlify, vault, metering } = deps

  async function requireCustomer(customerId: string) {
    const customer = await repo.findCustomer(db, customerId)
    if (!customer) throw ERRORS.notFound(`Customer '${customerId}'`)
    return customer
  }

  return {
    async createCustomer(name: string, actor: string) {
      return db.transaction(async (tx) => {
        const customer = await repo.insertCustomer(tx, newId('cus'), name)
        await insertAudit(tx, {
          actor,
          action: 'customer.create',
          status: 'ok',
          customerId: customer.id,
        })
        return customer
      })
    },

    /** Issues a key; the key itself is returned here once and never stored. */
    async createApiKey(customerId: string, actor: string) {
      await requireCustomer(customerId)
      const generated = generateApiKey()
      const id = newId('key')
      await db.transaction(async (tx) => {
        await repo.insertApiKey(tx, {
          id,
          customerId,
          hash: generated.hash,
          start: generated.start,
        })
        await insertAudit(tx, {
          actor,
          action: 'key.create',
          status: 'ok',
          customerId,
          apiKeyId: id,
        })
      })
      return { id, key: generated.key, start: generated.start }
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
      void repo.touchApiKey(db, row.key_id).catch(() => {})
      return { customerId: row.customer_id, apiKeyId: row.key_id }
    },

    /** Checks the token against Netlify, then stores it encrypted and bound to the customer. */
    async setNetlifyToken(customerId: string, token: string, actor: string) {
      await requireCustomer(customerId)
      try {
        await netlify.getCurrentUser(token)
      } catch (error) {
        if (error instanceof NetlifyApiError && (error.status === 401 || error.status === 403)) {
          throw new AppError(ErrorCode.InvalidRequest, 400, 'Netlify rejected this token.', {
            details: { netlifyStatus: error.status },
          })
        }
        throw toAppError(error)
      }
      const sealed = vault.seal(customerId, token)
      await db.transaction(async (tx) => {
        await repo.upsertNetlifyToken(tx, {
          customerId,
          ciphertext: sealed.ciphertext,
          keyId: sealed.keyId,
          last4: token.slice(-4),
        })
        await insertAudit(tx, { actor, action: 'netlify_token.set', status: 'ok', customerId })
      })
      return { customerId, last4: token.slice(-4) }
    },

    /** Registers a Netlify site as a project, after checking the customer's token can reach it. */
    async addProject(customerId: string, input: { siteId: string; name: string }, actor: string) {
      await requireCustomer(customerId)
      const row = await repo.findNetlifyToken(db, customerId)
      if (!row) throw ERRORS.netlifyTokenMissing()
      try {
        await netlify.getSite(vault.open(customerId, row.ciphertext), input.siteId)
      } catch (error) {
        if (error instanceof NetlifyApiError && !error.transient) {
          throw new AppError(
            ErrorCode.InvalidRequest,
            400,
            `Netlify site '${input.siteId}' is not reachable with this customer's token.`,
            {
              details: { netlifyStatus: error.status, netlifyMessage: error.message },
            },
          )
        }
        throw toAppError(error)
      }
      return db.transaction(async (tx) => {
        const project = await repo.insertProject(tx, { id: newId('prj'), customerId, ...input })
        await insertAudit(tx, {
          actor,
          action: 'project.add',
          status: 'ok',
          customerId,
          projectId: project.id,
          details: { siteId: input.siteId },
        })
        return project
      })
    },

    limitsReport: (customerId: string) => metering.report(db, customerId),

    /** Sets a customer's limit overrides (null: back to the default); answers the effective ones. */
    async setLimits(customerId: string, overrides: LimitOverrides, actor: string) {
      await requireCustomer(customerId)
      await db.transaction(async (tx) => {
        await upsertLimits(tx, customerId, overrides)
        await insertAudit(tx, {
          actor,
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
