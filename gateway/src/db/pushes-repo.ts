import type { Queryable } from './db.ts'
import type { ZipState } from './zip-repo.ts'

// The states are part of the wire contract: a push record carries them.
import type { PushState } from 'kaixu-contract'
export type { PushState }

/** How a push that never became ready ends: failed, cancelled by its client, or expired idle. */
export type EndState = 'error' | 'cancelled' | 'expired'

export interface PushRow {
  id: string
  customer_id: string
  project_id: string
  project_name: string
  api_key_id: string | null
  site_id: string
  deploy_id: string | null
  state: PushState
  netlify_state: string | null
  draft: boolean
  alias: string | null
  title: string | null
  files_total: number
  files_required: number
  files_uploaded: number
  bytes_uploaded: number
  url: string | null
  ssl_url: string | null
  deploy_url: string | null
  deploy_ssl_url: string | null
  error_message: string | null
  cost_cents: number | null
  billing_month: string
  bytes_reserved: number
  reservation: 'held' | 'settled' | 'released'
  created_at: Date
  updated_at: Date
  /** The client's last init or upload for this push: idle pushes expire from here. */
  active_at: Date
  completed_at: Date | null
  finished_at: Date | null
  /** How the push's files reach Netlify as one zip (migration 0013); null: one PUT each. */
  zip_state: ZipState | null
  /** A zip push's first (digest) deploy, cancelled once the zip deploy exists. */
  digest_deploy_id: string | null
}

export interface NewPush {
  id: string
  customerId: string
  projectId: string
  apiKeyId: string
  siteId: string
  draft: boolean
  alias: string | undefined
  title: string | undefined
  filesTotal: number
  /** `YYYY-MM-01`: the month whose caps this push counts against and whose invoice bills it. */
  billingMonth: string
  /** Now, on the gateway's clock: the push's first activity. */
  activeAt: Date
}

export interface DeployUrls {
  netlifyState: string
  url?: string | null | undefined
  sslUrl?: string | null | undefined
  deployUrl?: string | null | undefined
  deploySslUrl?: string | null | undefined
}

// files_uploaded counts distinct required SHA-1s uploaded, which is what the client sent.
const PUSH_SELECT = `
  SELECT p.*, pr.name AS project_name, u.cost_cents,
         (SELECT count(DISTINCT f.sha1)::int FROM push_files f
           WHERE f.push_id = p.id AND f.required AND f.uploaded_at IS NOT NULL) AS files_uploaded
    FROM pushes p
    JOIN projects pr ON pr.id = p.project_id
    LEFT JOIN push_usage_events u ON u.push_id = p.id`

export const insertPush = (db: Queryable, p: NewPush) =>
  db.query(
    `INSERT INTO pushes (id, customer_id, project_id, api_key_id, site_id, state, draft, alias,
                         title, files_total, billing_month, active_at)
     VALUES ($1, $2, $3, $4, $5, 'uploading', $6, $7, $8, $9, $10, $11)`,
    [
      p.id,
      p.customerId,
      p.projectId,
      p.apiKeyId,
      p.siteId,
      p.draft,
      p.alias ?? null,
      p.title ?? null,
      p.filesTotal,
      p.billingMonth,
      p.activeAt,
    ],
  )

/** Records every path of the manifest in one statement, whatever its size. */
export const insertPushFiles = (
  db: Queryable,
  pushId: string,
  files: { paths: string[]; shas: string[]; sizes: (number | null)[] },
) =>
  db.query(
    `INSERT INTO push_files (push_id, path, sha1, size)
     SELECT $1, t.path, t.sha1, t.size FROM unnest($2::text[], $3::text[], $4::bigint[]) AS t(path, sha1, size)`,
    [pushId, files.paths, files.shas, files.sizes],
  )

/**
 * Stores what Netlify answered at creation: its deploy id and which SHA-1s it needs. False when
 * the push ended meanwhile (expired while Netlify took too long): the deploy is then unwanted.
 */
export const setDeployCreated = async (
  db: Queryable,
  pushId: string,
  deploy: { deployId: string; netlifyState: string; required: string[] },
) =>
  (
    await db.query(
      `WITH target AS (
         SELECT id FROM pushes WHERE id = $1 AND state = 'uploading' AND deploy_id IS NULL),
       flagged AS (
         UPDATE push_files SET required = true
          WHERE push_id IN (SELECT id FROM target) AND sha1 = ANY($4::text[]) RETURNING sha1)
       UPDATE pushes SET deploy_id = $2, netlify_state = $3,
              files_required = (SELECT count(DISTINCT sha1) FROM flagged), updated_at = now()
        WHERE id IN (SELECT id FROM target) RETURNING id`,
      [pushId, deploy.deployId, deploy.netlifyState, deploy.required],
    )
  ).length > 0

/** The push as its owner sees it; another customer's push is not found. */
export const findPush = async (db: Queryable, customerId: string, pushId: string) =>
  (
    await db.query<PushRow>(`${PUSH_SELECT} WHERE p.id = $1 AND p.customer_id = $2`, [
      pushId,
      customerId,
    ])
  )[0]

export const findPushById = async (db: Queryable, pushId: string) =>
  (await db.query<PushRow>(`${PUSH_SELECT} WHERE p.id = $1`, [pushId]))[0]

export interface UploadTarget {
  path: string
  required: boolean
  uploaded: boolean
  size: number | null
  reserved_bytes: number | null
}

/** The one path Netlify gets a SHA-1 under; any path with that content satisfies the deploy. */
export const findUploadTarget = async (db: Queryable, pushId: string, sha1: string) =>
  (
    await db.query<UploadTarget>(
      `SELECT path, required, uploaded_at IS NOT NULL AS uploaded, size, reserved_bytes FROM push_files
        WHERE push_id = $1 AND sha1 = $2 ORDER BY required DESC, path LIMIT 1`,
      [pushId, sha1],
    )
  )[0]

/** findUploadTarget for many SHA-1s at once (a batch upload), keyed by SHA-1. */
export async function findUploadTargets(db: Queryable, pushId: string, shas: readonly string[]) {
  const rows = await db.query<UploadTarget & { sha1: string }>(
    `SELECT DISTINCT ON (sha1) sha1, path, required, uploaded_at IS NOT NULL AS uploaded, size,
            reserved_bytes
       FROM push_files WHERE push_id = $1 AND sha1 = ANY($2::text[])
      ORDER BY sha1, required DESC, path`,
    [pushId, shas],
  )
  return new Map(rows.map((r) => [r.sha1, r]))
}

/**
 * Takes a hold on each path's byte reservation, reserving `bytes` where none exists yet (which
 * the caller must then count against the monthly cap). Answers, per path, the size reserved (an
 * earlier reservation wins: the caller refuses a body of another length) and whether it is new.
 * A path already uploaded is left out. Rows are locked in path order, so concurrent callers
 * cannot deadlock.
 */
export async function holdPathsBytes(
  db: Queryable,
  pushId: string,
  items: readonly { path: string; bytes: number }[],
) {
  // Joined to the request's paths inside `old`, then updated by primary key: each statement is
  // index lookups per path, whatever the planner believes of a table without statistics (a
  // fresh push's rows on PGlite), never a scan per path.
  const rows = await db.query<{ path: string; size: number; fresh: boolean }>(
    `WITH old AS (
       SELECT f.path, f.reserved_bytes, x.bytes FROM push_files f
         JOIN unnest($2::text[], $3::bigint[]) AS x(path, bytes) ON x.path = f.path
        WHERE f.push_id = $1 AND f.uploaded_at IS NULL
        ORDER BY f.path FOR UPDATE OF f)
     UPDATE push_files f
        SET reserved_bytes = coalesce(old.reserved_bytes, old.bytes),
            reserve_holders = f.reserve_holders + 1
       FROM old
      WHERE f.push_id = $1 AND f.path = old.path
     RETURNING f.path, f.reserved_bytes AS size, old.reserved_bytes IS NULL AS fresh`,
    [pushId, items.map((i) => i.path), items.map((i) => i.bytes)],
  )
  return new Map(rows.map((r) => [r.path, { size: Number(r.size), fresh: r.fresh }]))
}

/**
 * Lets go of holdPathsBytes' holds. A path whose last holder leaves without having uploaded it
 * has its reservation cleared; answers the bytes cleared, to give back to the month.
 */
export async function releasePathsBytes(
  db: Queryable,
  pushId: string,
  paths: readonly string[],
): Promise<number> {
  const rows = await db.query<{ bytes: number | null }>(
    `WITH old AS (
       SELECT path, reserved_bytes, reserve_holders FROM push_files
        WHERE push_id = $1 AND path = ANY($2::text[]) ORDER BY path FOR UPDATE),
     released AS (
       UPDATE push_files f
          SET reserve_holders = greatest(old.reserve_holders - 1, 0),
              reserved_bytes = CASE WHEN old.reserve_holders <= 1 AND f.uploaded_at IS NULL
                                    THEN NULL ELSE old.reserved_bytes END
         FROM old
        WHERE f.push_id = $1 AND f.path = old.path
       RETURNING CASE WHEN f.reserved_bytes IS NULL THEN old.reserved_bytes ELSE 0 END AS bytes),
     cleared AS (SELECT coalesce(sum(bytes), 0)::bigint AS bytes FROM released)
     UPDATE pushes SET bytes_reserved = bytes_reserved - (SELECT bytes FROM cleared)
      WHERE id = $1
     RETURNING (SELECT bytes FROM cleared) AS bytes`,
    [pushId, paths],
  )
  return Number(rows[0]?.bytes ?? 0)
}

/**
 * markUploaded for many SHA-1s in one statement: each content's bytes count once, however many
 * paths share it and however many uploads of it race.
 */
export async function markUploadedMany(
  db: Queryable,
  pushId: string,
  items: readonly { sha1: string; bytes: number }[],
) {
  await db.query(
    `WITH marked AS (
       UPDATE push_files SET uploaded_at = now()
        WHERE push_id = $1 AND sha1 = ANY($2::text[]) AND required AND uploaded_at IS NULL
       RETURNING sha1),
     counted AS (
       SELECT coalesce(sum(x.bytes), 0) AS bytes FROM unnest($2::text[], $3::bigint[]) AS x(sha1, bytes)
        WHERE x.sha1 IN (SELECT sha1 FROM marked))
     UPDATE pushes SET bytes_uploaded = bytes_uploaded + (SELECT bytes FROM counted), updated_at = now()
      WHERE id = $1 AND EXISTS (SELECT 1 FROM marked)`,
    [pushId, items.map((i) => i.sha1), items.map((i) => i.bytes)],
  )
}

/**
 * Marks a SHA-1 uploaded and counts its bytes once. Two concurrent uploads of the same content
 * both reach Netlify (harmless), but only the first to commit adds bytes.
 */
export const markUploaded = async (db: Queryable, pushId: string, sha1: string, bytes: number) => {
  const rows = await db.query<{ n: number }>(
    `WITH marked AS (
       UPDATE push_files SET uploaded_at = now()
        WHERE push_id = $1 AND sha1 = $2 AND required AND uploaded_at IS NULL RETURNING 1)
     UPDATE pushes SET bytes_uploaded = bytes_uploaded + $3, updated_at = now()
      WHERE id = $1 AND EXISTS (SELECT 1 FROM marked)
     RETURNING 1 AS n`,
    [pushId, sha1, bytes],
  )
  return rows.length > 0
}

export const missingRequiredShas = async (db: Queryable, pushId: string) =>
  (
    await db.query<{ sha1: string }>(
      `SELECT DISTINCT sha1 FROM push_files WHERE push_id = $1 AND required AND uploaded_at IS NULL
        ORDER BY sha1`,
      [pushId],
    )
  ).map((r) => r.sha1)

/** uploading → finalizing, once: the row state is the lock, so two completes queue one job. */
export const startFinalizing = async (db: Queryable, pushId: string) =>
  (
    await db.query<{ id: string }>(
      `UPDATE pushes SET state = 'finalizing', completed_at = now(), updated_at = now()
        WHERE id = $1 AND state = 'uploading' RETURNING id`,
      [pushId],
    )
  ).length > 0

/**
 * Claims the next Netlify refresh of a push for status waiters: true for exactly one caller per
 * `intervalMs` (database time, so every process agrees), false for everyone else meanwhile.
 */
export const claimNetlifyRefresh = async (db: Queryable, pushId: string, intervalMs: number) =>
  (
    await db.query(
      `UPDATE pushes SET netlify_checked_at = now()
        WHERE id = $1 AND (netlify_checked_at IS NULL
          OR netlify_checked_at <= now() - make_interval(secs => $2::double precision / 1000))
        RETURNING 1`,
      [pushId, intervalMs],
    )
  ).length > 0

export const updateNetlifyState = (db: Queryable, pushId: string, urls: DeployUrls) =>
  db.query(
    `UPDATE pushes SET netlify_state = $2,
            url = coalesce($3, url), ssl_url = coalesce($4, ssl_url),
            deploy_url = coalesce($5, deploy_url), deploy_ssl_url = coalesce($6, deploy_ssl_url),
            updated_at = now()
      WHERE id = $1 AND state IN ('uploading', 'finalizing')`,
    [
      pushId,
      urls.netlifyState,
      urls.url ?? null,
      urls.sslUrl ?? null,
      urls.deployUrl ?? null,
      urls.deploySslUrl ?? null,
    ],
  )

/**
 * uploading or finalizing → ready; false when another worker got there first. Netlify publishes
 * a deploy once its last file arrives, `push-complete` or not, so an uploading push can be ready.
 */
export const markReady = async (db: Queryable, pushId: string, urls: DeployUrls) =>
  (
    await db.query(
      `UPDATE pushes SET state = 'ready', netlify_state = $2,
              url = coalesce($3, url), ssl_url = coalesce($4, ssl_url),
              deploy_url = coalesce($5, deploy_url), deploy_ssl_url = coalesce($6, deploy_ssl_url),
              finished_at = now(), updated_at = now()
        WHERE id = $1 AND state IN ('uploading', 'finalizing') RETURNING id`,
      [
        pushId,
        urls.netlifyState,
        urls.url ?? null,
        urls.sslUrl ?? null,
        urls.deployUrl ?? null,
        urls.deploySslUrl ?? null,
      ],
    )
  ).length > 0

/**
 * Ends a push that did not become ready: `error` from uploading or finalizing; `cancelled` and
 * `expired` only from uploading (a finalizing push is Netlify's to finish). False when it had
 * already moved on.
 */
export const markEnded = async (
  db: Queryable,
  pushId: string,
  to: EndState,
  message: string,
  netlifyState?: string,
) =>
  (
    await db.query(
      `UPDATE pushes SET state = $4, error_message = $2, netlify_state = coalesce($3, netlify_state),
              finished_at = now(), updated_at = now()
        WHERE id = $1 AND (state = 'uploading' OR (state = 'finalizing' AND $4 = 'error'))
        RETURNING id`,
      [pushId, message, netlifyState ?? null, to],
    )
  ).length > 0

/** An upload for this push landed: its idle clock starts again (never backwards). */
export const touchPush = (db: Queryable, pushId: string, at: Date) =>
  db.query(
    `UPDATE pushes SET active_at = greatest(active_at, $2) WHERE id = $1 AND state = 'uploading'`,
    [pushId, at],
  )

/**
 * Uploading pushes idle since before `before`, or still without a Netlify deploy since before
 * `creatingBefore` (the process creating it died), oldest first; one customer's with `customerId`.
 */
export const idlePushes = (
  db: Queryable,
  o: { before: Date; creatingBefore: Date; customerId?: string | undefined; limit: number },
) =>
  db.query<PushRow>(
    `${PUSH_SELECT}
      WHERE p.state = 'uploading' AND ($3::text IS NULL OR p.customer_id = $3)
        AND (p.active_at < $1 OR (p.deploy_id IS NULL AND p.active_at < $2))
      ORDER BY p.active_at LIMIT $4`,
    [o.before, o.creatingBefore, o.customerId ?? null, o.limit],
  )

/**
 * Uploading pushes whose every required file is in: Netlify publishes those by itself, so the
 * sweep asks it whether they are ready (and bills them) even if their client never completes.
 */
export const fullyUploadedPushes = (db: Queryable, limit: number) =>
  db.query<PushRow>(
    `${PUSH_SELECT}
      WHERE p.state = 'uploading' AND p.deploy_id IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM push_files f
                         WHERE f.push_id = p.id AND f.required AND f.uploaded_at IS NULL)
        AND NOT EXISTS (SELECT 1 FROM push_functions fn
                         WHERE fn.push_id = p.id AND fn.required AND fn.uploaded_at IS NULL)
      ORDER BY p.active_at LIMIT $1`,
    [limit],
  )

/**
 * At init, when the manifest carries sizes: reserves each required SHA-1's size on the one path
 * it will be uploaded under (the same row findUploadTarget picks). Answers the bytes reserved.
 */
export async function reserveKnownSizes(db: Queryable, pushId: string): Promise<number> {
  // The first required path of each SHA-1 (by name), found by an index lookup per row: a
  // DISTINCT ON joined back by path was planned as a scan per row on a fresh push's rows
  // (6.7 s for 5 000 files on PGlite).
  const rows = await db.query<{ size: number }>(
    `UPDATE push_files f SET reserved_bytes = f.size, reserve_holders = 1
      WHERE f.push_id = $1 AND f.required AND f.size IS NOT NULL AND f.reserved_bytes IS NULL
        AND NOT EXISTS (SELECT 1 FROM push_files g
                         WHERE g.push_id = $1 AND g.sha1 = f.sha1 AND g.required AND g.path < f.path)
     RETURNING f.size`,
    [pushId],
  )
  const bytes = rows.reduce((n, r) => n + r.size, 0)
  if (bytes > 0) await addBytesReserved(db, pushId, bytes)
  return bytes
}

export const addBytesReserved = (db: Queryable, pushId: string, bytes: number) =>
  db.query('UPDATE pushes SET bytes_reserved = bytes_reserved + $2 WHERE id = $1', [pushId, bytes])

export interface Reservation {
  customer_id: string
  billing_month: string
  bytes_reserved: number
  bytes_uploaded: number
}

/**
 * Ends a push's reservation exactly once: `settled` (ready: keep what was used) or `released`
 * (failed: give it all back). Answers undefined when it had already ended.
 */
export const endReservation = async (db: Queryable, pushId: string, to: 'settled' | 'released') =>
  (
    await db.query<Reservation>(
      `UPDATE pushes SET reservation = $2 WHERE id = $1 AND reservation = 'held'
       RETURNING customer_id, billing_month, bytes_reserved, bytes_uploaded`,
      [pushId, to],
    )
  )[0]

/**
 * SHA-1s of a manifest that the project's latest ready deploy already had: Netlify keeps a
 * site's content, so these would not be required again (an estimate for dry runs).
 */
export const shasKnownToProject = async (db: Queryable, projectId: string, shas: string[]) =>
  new Set(
    (
      await db.query<{ sha1: string }>(
        `SELECT DISTINCT f.sha1 FROM push_files f
          WHERE f.push_id = (SELECT id FROM pushes WHERE project_id = $1 AND state = 'ready'
                              ORDER BY finished_at DESC LIMIT 1)
            AND f.sha1 = ANY($2::text[])`,
        [projectId, shas],
      )
    ).map((r) => r.sha1),
  )

/** Pushes waiting on their finalize job (the retry sweep checks each still has one). */
export const finalizingPushes = (db: Queryable) =>
  db.query<{ id: string; customer_id: string }>(
    "SELECT id, customer_id FROM pushes WHERE state = 'finalizing'",
  )
