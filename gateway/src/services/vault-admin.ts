import type { Logger } from 'pino'
import { rewrapToken, tokenKeyIds, tokensToRewrap } from '../db/accounts-repo.ts'
import { insertAudit } from '../db/audit-repo.ts'
import { rewrapSecret, secretKeyIds, secretsToRewrap } from '../db/webhooks-repo.ts'
import type { Db } from '../db/db.ts'
import { auditActor, type ActorRef } from './audit.ts'
import type { Vault } from './vault.ts'

export interface VaultStatus {
  /** The key new ciphertexts are sealed with (the first of KAIXU_VAULT_KEYS). */
  activeKeyId: string
  keyIds: readonly string[]
  /** Live tokens per key id. */
  tokensByKey: Record<string, number>
  /** Webhook signing secrets per key id. */
  webhookSecretsByKey: Record<string, number>
  /** Live tokens and webhook secrets not yet sealed with the active key. */
  pending: number
}

export interface VaultRotation {
  activeKeyId: string
  rotated: number
  /** Tokens changed (set, rotated, revoked) while being re-encrypted: the newer write won. */
  skipped: number
  /** Customers whose token did not open (key missing here, or tampered); left as they were. */
  failed: { customerId: string; reason: string }[]
  /** What still is not on the active key afterwards (0 when every process shares this keyring). */
  status: VaultStatus
}

const BATCH = 100

/**
 * Key rotation for the vault, runbook-style: put the new key first in KAIXU_VAULT_KEYS on every
 * process (old keys stay, so everything still decrypts), run `rotate`, and drop an old key once
 * `tokensByKey` shows it unused. Each row is re-encrypted with a compare-and-set on its old
 * ciphertext, so the gateway keeps serving and a token rotated meanwhile is never overwritten.
 */
export function createVaultAdmin(deps: { db: Db; vault: Vault; logger: Logger }) {
  const { db, vault, logger } = deps

  async function status(): Promise<VaultStatus> {
    const rows = await tokenKeyIds(db)
    const secrets = await secretKeyIds(db)
    const tokensByKey = Object.fromEntries(rows.map((r) => [r.key_id, r.tokens]))
    const webhookSecretsByKey = Object.fromEntries(secrets.map((r) => [r.key_id, r.secrets]))
    const pending = [
      ...rows.map((r) => ({ key_id: r.key_id, n: r.tokens })),
      ...secrets.map((r) => ({ key_id: r.key_id, n: r.secrets })),
    ]
      .filter((r) => r.key_id !== vault.activeKeyId)
      .reduce((n, r) => n + r.n, 0)
    return {
      activeKeyId: vault.activeKeyId,
      keyIds: vault.keyIds,
      tokensByKey,
      webhookSecretsByKey,
      pending,
    }
  }

  return {
    status,

    async rotate(actor: ActorRef): Promise<VaultRotation> {
      const who = auditActor(actor)
      let rotated = 0
      let skipped = 0
      const failed: VaultRotation['failed'] = []
      let after = ''
      for (;;) {
        const rows = await tokensToRewrap(db, vault.activeKeyId, after, BATCH)
        if (rows.length === 0) break
        const done: string[] = []
        for (const row of rows) {
          after = row.customer_id
          let plaintext: string
          try {
            plaintext = vault.open(row.customer_id, row.ciphertext)
          } catch (error) {
            logger.error(
              { err: error, customerId: row.customer_id },
              'vault rotation: token does not open',
            )
            failed.push({ customerId: row.customer_id, reason: (error as Error).message })
            continue
          }
          const sealed = vault.seal(row.customer_id, plaintext)
          if (await rewrapToken(db, row.customer_id, row.ciphertext, sealed)) {
            rotated++
            done.push(row.customer_id)
          } else {
            skipped++
          }
        }
        if (done.length > 0) {
          await insertAudit(db, {
            ...who,
            action: 'vault.rotate.batch',
            status: 'ok',
            details: { activeKeyId: vault.activeKeyId, customers: done },
          })
        }
      }
      // Webhook signing secrets, the same way (the vault binds each to its endpoint id).
      let afterEndpoint = ''
      for (;;) {
        const rows = await secretsToRewrap(db, vault.activeKeyId, afterEndpoint, BATCH)
        if (rows.length === 0) break
        for (const row of rows) {
          afterEndpoint = row.id
          const owner = `webhook:${row.id}`
          let plaintext: string
          try {
            plaintext = vault.open(owner, row.ciphertext)
          } catch (error) {
            logger.error({ err: error, endpointId: row.id }, 'vault rotation: secret does not open')
            failed.push({ customerId: owner, reason: (error as Error).message })
            continue
          }
          if (await rewrapSecret(db, row.id, row.ciphertext, vault.seal(owner, plaintext))) {
            rotated++
          } else {
            skipped++
          }
        }
      }
      const result = {
        activeKeyId: vault.activeKeyId,
        rotated,
        skipped,
        failed,
        status: await status(),
      }
      await insertAudit(db, {
        ...who,
        action: 'vault.rotate',
        status: failed.length ? 'error' : 'ok',
        details: {
          activeKeyId: vault.activeKeyId,
          rotated,
          skipped,
          failed: failed.map((f) => f.customerId),
          pending: result.status.pending,
        },
      })
      return result
    },
  }
}

export type VaultAdmin = ReturnType<typeof createVaultAdmin>
