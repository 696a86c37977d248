import type { Queryable } from './db.ts'

/** Pushes still moving, by state (served by the partial index pushes_state). */
export const inFlightPushes = (db: Queryable) =>
  db.query<{ state: string; n: number }>(
    `SELECT state, count(*)::int AS n FROM pushes
      WHERE state IN ('uploading', 'finalizing') GROUP BY state`,
  )

export const customersByStatus = (db: Queryable) =>
  db.query<{ status: string; n: number }>(
    'SELECT status, count(*)::int AS n FROM customers GROUP BY status',
  )

/** The cheapest round trip: is the database there at all? */
export const ping = (db: Queryable) => db.query('SELECT 1')
