import type { Queryable } from './db.ts'

/** Where a zip push stands (migration 0013); null for a digest push. */
export type ZipState = 'staging' | 'sending' | 'sent' | 'fallback' | 'done'

/** One entry of the archive: a path of the push and the content it holds. */
export interface ZipEntry {
  path: string
  sha1: string
  size: number
}

/**
 * Makes a push a zip push, in init's transaction: every distinct SHA-1 becomes required (the
 * archive needs every file, not only those Netlify lacks), and gets its staging row, which keeps
 * Netlify's own answer for a fallback. Answers the distinct SHA-1s the client must now send.
 */
export async function startStaging(
  db: Queryable,
  pushId: string,
  netlifyRequired: readonly string[],
): Promise<string[]> {
  const staged = await db.query<{ sha1: string }>(
    `INSERT INTO push_staged_files (push_id, sha1, size, netlify_required)
     SELECT $1, sha1, max(size), sha1 = ANY($2::text[]) FROM push_files
      WHERE push_id = $1 GROUP BY sha1
     RETURNING sha1`,
    [pushId, netlifyRequired],
  )
  await db.query('UPDATE push_files SET required = true WHERE push_id = $1 AND NOT required', [
    pushId,
  ])
  await db.query(`UPDATE pushes SET zip_state = 'staging', files_required = $2 WHERE id = $1`, [
    pushId,
    staged.length,
  ])
  return staged.map((r) => r.sha1).sort()
}

/**
 * Keeps received contents (already verified against their SHA-1): their bytes in the row when
 * given, else only the mark (the bytes are a file, see services/file-staging.ts). One statement
 * for any number of files; a content kept before stays as it was.
 */
export const markStaged = (
  db: Queryable,
  pushId: string,
  files: readonly { sha1: string; data: Buffer | null }[],
) =>
  db.query(
    `UPDATE push_staged_files s SET data = x.data, staged_at = now()
       FROM unnest($2::text[], $3::bytea[]) AS x(sha1, data)
      WHERE s.push_id = $1 AND s.sha1 = x.sha1 AND s.staged_at IS NULL`,
    [pushId, files.map((f) => f.sha1), files.map((f) => f.data)],
  )

/** The bytes of some kept contents (Postgres rows), keyed by SHA-1. */
export async function stagedData(db: Queryable, pushId: string, shas: readonly string[]) {
  const rows = await db.query<{ sha1: string; data: Uint8Array }>(
    `SELECT sha1, data FROM push_staged_files
      WHERE push_id = $1 AND sha1 = ANY($2::text[]) AND data IS NOT NULL`,
    [pushId, shas],
  )
  return new Map(
    rows.map((r) => [r.sha1, Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength)]),
  )
}

/** Every path of the push, in archive order, with its content's size. */
export const zipEntries = async (db: Queryable, pushId: string) =>
  (
    await db.query<ZipEntry>(
      `SELECT path, sha1, size FROM push_files WHERE push_id = $1 ORDER BY path`,
      [pushId],
    )
  ).map((e) => ({ ...e, size: Number(e.size) }))

/** SHA-1s of the push whose bytes were never kept (an archive cannot be built without them). */
export const unstagedShas = async (db: Queryable, pushId: string) =>
  (
    await db.query<{ sha1: string }>(
      `SELECT sha1 FROM push_staged_files WHERE push_id = $1 AND staged_at IS NULL ORDER BY sha1`,
      [pushId],
    )
  ).map((r) => r.sha1)

/** What a fallback still has to PUT to the digest deploy: Netlify's required, not yet sent. */
export const fallbackPending = async (db: Queryable, pushId: string) =>
  (
    await db.query<{ sha1: string; size: number; path: string }>(
      `SELECT s.sha1, s.size,
              (SELECT min(f.path) FROM push_files f WHERE f.push_id = s.push_id AND f.sha1 = s.sha1) AS path
         FROM push_staged_files s
        WHERE s.push_id = $1 AND s.netlify_required AND s.sent_at IS NULL ORDER BY s.sha1`,
      [pushId],
    )
  ).map((r) => ({ ...r, size: Number(r.size) }))

export const markSent = (db: Queryable, pushId: string, shas: readonly string[]) =>
  db.query(
    'UPDATE push_staged_files SET sent_at = now() WHERE push_id = $1 AND sha1 = ANY($2::text[])',
    [pushId, shas],
  )

/** Moves a finalizing push's zip state `from` → `to`; false when it had moved on already. */
export const moveZipState = async (
  db: Queryable,
  pushId: string,
  from: readonly ZipState[],
  to: ZipState,
) =>
  (
    await db.query(
      `UPDATE pushes SET zip_state = $3, updated_at = now()
        WHERE id = $1 AND zip_state = ANY($2::text[]) RETURNING id`,
      [pushId, from, to],
    )
  ).length > 0

/**
 * The zip deploy exists: the push follows it from now on, and the digest deploy is remembered
 * (to cancel it). False when the push had moved on (another attempt got there first).
 */
export const adoptZipDeploy = async (
  db: Queryable,
  pushId: string,
  deploy: { deployId: string; netlifyState: string },
) =>
  (
    await db.query(
      `UPDATE pushes SET digest_deploy_id = deploy_id, deploy_id = $2, netlify_state = $3,
              zip_state = 'sent', updated_at = now()
        WHERE id = $1 AND zip_state = 'sending' AND state = 'finalizing' RETURNING id`,
      [pushId, deploy.deployId, deploy.netlifyState],
    )
  ).length > 0

/** Forgets a push's kept contents (their files, if any, are the caller's to remove). */
export const deleteStaged = (db: Queryable, pushId: string) =>
  db.query('DELETE FROM push_staged_files WHERE push_id = $1', [pushId])

/**
 * Zip pushes whose kept contents are no longer needed: the push ended, or its zip deploy (or
 * its fallback) has everything. The hourly cleanup drops what an interrupted job left.
 */
export const pushesWithLeftovers = (db: Queryable, limit: number) =>
  db.query<{ id: string }>(
    `SELECT p.id FROM pushes p
      WHERE p.zip_state IS NOT NULL
        AND (p.state IN ('ready', 'error', 'cancelled', 'expired') OR p.zip_state IN ('sent', 'done'))
        AND EXISTS (SELECT 1 FROM push_staged_files s WHERE s.push_id = p.id)
      LIMIT $1`,
    [limit],
  )

/** Which of these Netlify deploy ids a push of the project has (its deploy, or its digest one). */
export async function knownDeployIds(db: Queryable, projectId: string, ids: readonly string[]) {
  const rows = await db.query<{ id: string }>(
    `SELECT unnest(ARRAY[deploy_id, digest_deploy_id]) AS id FROM pushes
      WHERE project_id = $1 AND (deploy_id = ANY($2::text[]) OR digest_deploy_id = ANY($2::text[]))`,
    [projectId, ids],
  )
  return new Set(rows.map((r) => r.id))
}
