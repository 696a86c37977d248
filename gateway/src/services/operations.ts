import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { tokenKeyIds } from '../db/accounts-repo.ts'
import { insertAudit } from '../db/audit-repo.ts'
import * as sessions from '../db/dashboard-repo.ts'
import type { Db } from '../db/db.ts'
import { pendingMigrations } from '../db/migrate.ts'
import { ping } from '../db/stats-repo.ts'
import type { JobQueue, JobState } from '../jobs/queue.ts'
import { auditActor, type ActorRef } from './audit.ts'

export type { JobInfo, JobState } from '../jobs/queue.ts'

/** Failed dashboard sign-ins an address may make in a quarter of an hour before a 429. */
const SIGN_IN_THROTTLE = { limit: 5, seconds: 15 * 60 }
const SESSION_HOURS = 12

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')
const randomToken = () => randomBytes(32).toString('base64url')

/** Constant-time equality of two strings (different lengths are simply unequal). */
export function sameSecret(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return false
  const da = createHash('sha256').update(a).digest()
  const db = createHash('sha256').update(b).digest()
  return timingSafeEqual(da, db)
}

/** The fingerprint of the admin token a session is bound to (never the token itself). */
export const sessionTokenHash = (adminToken: string) => sha256(`kaixu-admin-session:${adminToken}`)

/** A signed-in operator: the session's id hash (its row) and its CSRF token. */
export interface Session {
  idHash: string
  csrf: string
}

export type Readiness =
  | { ok: true; database: Db['kind'] }
  | { ok: false; reason: 'database unavailable' }
  | { ok: false; reason: 'migrations pending'; pending: string[] }
  | { ok: false; reason: 'vault keys missing'; keyIds: string[] }

/**
 * The operator's operations that are neither accounts nor billing: background jobs, readiness,
 * and dashboard sign-in with its sessions. Every door (admin API, dashboard, CLI) calls these,
 * so a dead-job retry or a sign-in is audited the same whichever way it came.
 */
export function createOperations(deps: {
  db: Db
  jobs: () => JobQueue
  /** KAIXU_ADMIN_TOKEN; without it nobody can sign in. */
  adminToken: string | undefined
  /** Vault key ids this process holds, to report a keyring that lacks a key in use. */
  vaultKeyIds: readonly string[]
}) {
  const { db } = deps
  const tokenHash = sessionTokenHash(deps.adminToken ?? '')

  return {
    /** Jobs of our queues, newest first; `failed` ones have used every attempt (dead). */
    listJobs: (filter: { states?: JobState[] | undefined; queue?: string; limit?: number }) =>
      deps.jobs().list(filter),

    /** Runs a dead job again; false when there is no dead job by that id in that queue. */
    async retryJob(queue: string, id: string, actor: ActorRef, via?: string): Promise<boolean> {
      if (!(await deps.jobs().retry(queue, id))) return false
      await insertAudit(db, {
        ...auditActor(actor),
        action: 'job.retry',
        status: 'ok',
        details: { queue, id, ...(via ? { via } : {}) },
      })
      return true
    },

    /** Whether this process should take traffic: database, migrations, vault keys in use. */
    async readiness(): Promise<Readiness> {
      try {
        await ping(db)
        const pending = await pendingMigrations(db)
        if (pending.length) return { ok: false, reason: 'migrations pending', pending }
        // Another process may have re-encrypted tokens with a key this one was not given.
        const keyIds = (await tokenKeyIds(db))
          .map((r) => r.key_id)
          .filter((k) => !deps.vaultKeyIds.includes(k))
        if (keyIds.length) return { ok: false, reason: 'vault keys missing', keyIds }
        return { ok: true, database: db.kind }
      } catch {
        return { ok: false, reason: 'database unavailable' }
      }
    },

    /**
     * Checks an admin token typed into the dashboard. Guessing is throttled per address, in the
     * database so every process counts alike; a throttled attempt is refused before the token
     * is even compared. Every attempt is audited.
     */
    async signIn(
      token: string,
      from: { address: string; requestId: string },
    ): Promise<{ ok: true } | { ok: false; retryAfterSeconds?: number }> {
      const { address } = from
      const blockedFor = await sessions.signInBlockedFor(db, address, SIGN_IN_THROTTLE)
      const ok = blockedFor === undefined && sameSecret(token, deps.adminToken)
      await insertAudit(db, {
        actor: 'admin',
        action: 'admin.sign_in',
        status: ok ? 'ok' : blockedFor !== undefined ? 'throttled' : 'refused',
        requestId: from.requestId,
        details: { via: 'dashboard', ip: address },
      })
      if (blockedFor !== undefined) return { ok: false, retryAfterSeconds: blockedFor }
      if (!ok) {
        await sessions.recordSignInFailure(db, address, SIGN_IN_THROTTLE.seconds)
        return { ok: false }
      }
      await sessions.clearSignInFailures(db, address)
      return { ok: true }
    },

    /**
     * Server-side admin sessions, so every gateway process recognises them. Each is bound to the
     * admin token it was signed in with (by a fingerprint), so replacing KAIXU_ADMIN_TOKEN ends
     * every session made with the old one. The database keeps only the id's SHA-256.
     */
    sessions: {
      hours: SESSION_HOURS,
      /** A new session: its id goes to the browser once, as a cookie. */
      async create(): Promise<{ id: string; session: Session }> {
        const id = randomToken()
        const session = { idHash: sha256(id), csrf: randomToken() }
        // Sessions that can never be used again go now: expired, or of a replaced token.
        await sessions.purgeSessions(db, tokenHash)
        await sessions.insertSession(db, {
          ...session,
          tokenHash,
          expiresAt: new Date(Date.now() + SESSION_HOURS * 3600_000),
        })
        return { id, session }
      },
      async load(id: string): Promise<Session | undefined> {
        const row = await sessions.findSession(db, sha256(id), tokenHash)
        return row ? { idHash: row.id_hash, csrf: row.csrf_token } : undefined
      },
      destroy: async (session: Session) => {
        await sessions.deleteSession(db, session.idHash)
      },
    },
  }
}

export type Operations = ReturnType<typeof createOperations>
