import type { Queryable } from './db.ts'

export type ChunkUploadState = 'receiving' | 'assembling' | 'uploaded' | 'failed' | 'expired'

export interface ChunkUploadRow {
  push_id: string
  sha1: string
  path: string
  chunk_count: number
  file_size: number
  state: ChunkUploadState
  error: string | null
  created_at: Date
  updated_at: Date
  expires_at: Date
  /** Who is sending the file to Netlify, until when (see takeAssemblyLease). */
  lease_owner: string | null
  lease_until: Date | null
}

export interface ChunkStatus extends ChunkUploadRow {
  received: number[]
  bytes_received: number
}

/** Opens the upload of one file in chunks, or answers the one already open (`created` says which). */
export async function openChunkUpload(
  db: Queryable,
  u: {
    pushId: string
    sha1: string
    path: string
    chunkCount: number
    fileSize: number
    retentionHours: number
  },
): Promise<ChunkUploadRow & { created: boolean }> {
  const inserted = await db.query(
    `INSERT INTO chunk_uploads (push_id, sha1, path, chunk_count, file_size, expires_at)
     VALUES ($1, $2, $3, $4, $5, now() + make_interval(hours => $6))
     ON CONFLICT (push_id, sha1) DO NOTHING RETURNING 1`,
    [u.pushId, u.sha1, u.path, u.chunkCount, u.fileSize, u.retentionHours],
  )
  return { ...(await findChunkUpload(db, u.pushId, u.sha1, true))!, created: inserted.length > 0 }
}

export const findChunkUpload = async (db: Queryable, pushId: string, sha1: string, lock = false) =>
  (
    await db.query<ChunkUploadRow>(
      `SELECT * FROM chunk_uploads WHERE push_id = $1 AND sha1 = $2${lock ? ' FOR UPDATE' : ''}`,
      [pushId, sha1],
    )
  )[0]

/** The upload with the indexes received so far (for resume). */
export async function chunkStatus(
  db: Queryable,
  pushId: string,
  sha1: string,
): Promise<ChunkStatus | undefined> {
  const upload = await findChunkUpload(db, pushId, sha1)
  if (!upload) return undefined
  const rows = await db.query<{ idx: number; size: number }>(
    'SELECT idx, size FROM push_chunks WHERE push_id = $1 AND sha1 = $2 ORDER BY idx',
    [pushId, sha1],
  )
  return {
    ...upload,
    received: rows.map((r) => r.idx),
    bytes_received: rows.reduce((n, r) => n + r.size, 0),
  }
}

/**
 * Stores a chunk unless its index is already there. Answers `stored`, or the SHA-1 of the chunk
 * already stored at that index (the caller compares: same is a no-op, different a conflict).
 */
export async function insertChunk(
  db: Queryable,
  c: {
    pushId: string
    sha1: string
    idx: number
    chunkSha1: string
    size: number
    data: Buffer | null
  },
): Promise<{ stored: true } | { stored: false; existingSha1: string }> {
  const inserted = await db.query(
    `INSERT INTO push_chunks (push_id, sha1, idx, chunk_sha1, size, data) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (push_id, sha1, idx) DO NOTHING RETURNING 1`,
    [c.pushId, c.sha1, c.idx, c.chunkSha1, c.size, c.data],
  )
  if (inserted.length) return { stored: true }
  const existing = await db.query<{ chunk_sha1: string }>(
    'SELECT chunk_sha1 FROM push_chunks WHERE push_id = $1 AND sha1 = $2 AND idx = $3',
    [c.pushId, c.sha1, c.idx],
  )
  return { stored: false, existingSha1: existing[0]!.chunk_sha1 }
}

export const chunkTotals = async (db: Queryable, pushId: string, sha1: string) =>
  (
    await db.query<{ count: number; bytes: number }>(
      `SELECT count(*)::int AS count, coalesce(sum(size), 0)::bigint AS bytes
         FROM push_chunks WHERE push_id = $1 AND sha1 = $2`,
      [pushId, sha1],
    )
  )[0]!

/**
 * One chunk: its SHA-1 and, on Postgres, its bytes. Assembly reads them one at a time, so memory
 * stays one chunk deep.
 */
export const readChunk = async (db: Queryable, pushId: string, sha1: string, idx: number) =>
  (
    await db.query<{ chunk_sha1: string; data: Uint8Array | null }>(
      'SELECT chunk_sha1, data FROM push_chunks WHERE push_id = $1 AND sha1 = $2 AND idx = $3',
      [pushId, sha1, idx],
    )
  )[0]

/** Moves an upload between states only from the expected one: the row state is the lock. */
export const transitionChunkUpload = async (
  db: Queryable,
  pushId: string,
  sha1: string,
  from: ChunkUploadState[],
  to: ChunkUploadState,
  error: string | null = null,
) =>
  (
    await db.query(
      `UPDATE chunk_uploads SET state = $4, error = $5, updated_at = now()
        WHERE push_id = $1 AND sha1 = $2 AND state = ANY($3::text[]) RETURNING 1`,
      [pushId, sha1, from, to, error],
    )
  ).length > 0

/**
 * Takes (or renews) the lease to send a file to Netlify, while the upload is in one of `states`
 * and nobody else holds an unexpired lease. Database time decides expiry, so processes agree.
 * Answers the upload row when the lease is ours.
 */
export const takeAssemblyLease = async (
  db: Queryable,
  pushId: string,
  sha1: string,
  owner: string,
  states: ChunkUploadState[],
  leaseMs: number,
) =>
  (
    await db.query<ChunkUploadRow>(
      `UPDATE chunk_uploads
          SET lease_owner = $3, lease_until = now() + make_interval(secs => $5::double precision / 1000)
        WHERE push_id = $1 AND sha1 = $2 AND state = ANY($4::text[])
          AND (lease_owner IS NULL OR lease_owner = $3 OR lease_until < now())
        RETURNING *`,
      [pushId, sha1, owner, states, leaseMs],
    )
  )[0]

/** Gives the lease back (only if it is still ours). */
export const releaseAssemblyLease = (db: Queryable, pushId: string, sha1: string, owner: string) =>
  db.query(
    `UPDATE chunk_uploads SET lease_owner = NULL, lease_until = NULL
      WHERE push_id = $1 AND sha1 = $2 AND lease_owner = $3`,
    [pushId, sha1, owner],
  )

export const deleteChunkUpload = (db: Queryable, pushId: string, sha1: string) =>
  db.query('DELETE FROM chunk_uploads WHERE push_id = $1 AND sha1 = $2', [pushId, sha1])

export const deleteChunks = (db: Queryable, pushId: string, sha1: string) =>
  db.query('DELETE FROM push_chunks WHERE push_id = $1 AND sha1 = $2', [pushId, sha1])

/** Uploads of a push still being assembled (push-complete and finalization wait for them). */
export const pendingAssemblies = async (db: Queryable, pushId: string) =>
  await db.query<{ sha1: string; state: ChunkUploadState; error: string | null }>(
    `SELECT sha1, state, error FROM chunk_uploads WHERE push_id = $1 AND state IN ('assembling', 'failed')`,
    [pushId],
  )

/** Uploads in 'assembling', with their customer (to re-queue after a crash). */
export const assemblingUploads = (db: Queryable) =>
  db.query<{ push_id: string; sha1: string; customer_id: string }>(
    `SELECT cu.push_id, cu.sha1, p.customer_id FROM chunk_uploads cu
       JOIN pushes p ON p.id = cu.push_id WHERE cu.state = 'assembling'`,
  )

/**
 * Marks expired, and drops the chunks of, every upload that will never complete: past its
 * retention in any unfinished state (`assembling` included: its job died or keeps failing), or
 * whose push no longer takes files. Answers the uploads expired.
 */
export async function expireChunkUploads(db: Queryable, now: Date) {
  const expired = await db.query<{ push_id: string; sha1: string }>(
    `UPDATE chunk_uploads cu SET state = 'expired', updated_at = now()
       FROM pushes p
      WHERE p.id = cu.push_id AND cu.state IN ('receiving', 'assembling', 'failed')
        AND (cu.expires_at <= $1 OR p.state NOT IN ('uploading', 'finalizing'))
      RETURNING cu.push_id, cu.sha1`,
    [now],
  )
  for (const u of expired) await deleteChunks(db, u.push_id, u.sha1)
  return expired
}
