import { tokenKeyIds } from '../db/accounts-repo.ts'
import * as repo from '../db/dashboard-repo.ts'
import type { Queryable } from '../db/db.ts'
import { findPushById } from '../db/pushes-repo.ts'
import { customersByStatus, inFlightPushes } from '../db/stats-repo.ts'

export type {
  ChunkUploadRow,
  MonthTotals,
  PushFileRow,
  PushFilter,
  PushListRow,
} from '../db/dashboard-repo.ts'

/** Rows of one push's detail page: its steps, chunked files and a first page of files. */
const DETAIL = { steps: 500, files: 200, chunks: 200 }

/**
 * The read model of the dashboard, the customer's deploy history and the metrics gauges:
 * read-only, keyset-paged queries (never OFFSET), so page 1000 costs what page 1 does. Invoice
 * figures are not here: they come from billing, the one place that computes them.
 */
export function createReporting(deps: { db: Queryable }) {
  const { db } = deps
  return {
    /** A month (`YYYY-MM-01`) at a glance: billed totals, per day, pushes by state, failures. */
    async overview(month: string, failures: number) {
      const [totals, days, states, recentFailures, chunks] = await Promise.all([
        repo.monthTotals(db, month),
        repo.dailyTotals(db, month),
        repo.pushStates(db, month),
        repo.recentFailures(db, failures),
        repo.chunkStates(db),
      ])
      return { totals, days, states, recentFailures, chunks }
    },

    customerPage: (after: { name: string; id: string } | undefined, limit: number) =>
      repo.listCustomerPage(db, after, limit),
    /** Id and name of every customer, for filter menus. */
    customerNames: () => repo.customerNames(db),
    /** Projects (live and removed), optionally of one customer. */
    projectNames: (customerId: string | undefined) => repo.projectNames(db, customerId),

    /** Deploy history, newest first, one page. */
    pushes: (filter: repo.PushFilter) => repo.listPushes(db, filter),
    /** A push's files, one page by path. */
    pushFiles: (pushId: string, afterPath: string | undefined, limit: number) =>
      repo.pushFiles(db, pushId, afterPath, limit),
    chunkUploads: (filter: Parameters<typeof repo.listChunkUploads>[1]) =>
      repo.listChunkUploads(db, filter),

    /** One push as the operator sees it, or undefined. */
    async pushDetail(pushId: string) {
      const push = await findPushById(db, pushId)
      if (!push) return undefined
      const [steps, files, chunks] = await Promise.all([
        repo.pushSteps(db, pushId, DETAIL.steps),
        repo.pushFiles(db, pushId, undefined, DETAIL.files),
        repo.listChunkUploads(db, { pushId, limit: DETAIL.chunks }),
      ])
      return { push, steps, files, chunks, filesShown: DETAIL.files }
    },

    /** Scrape-time figures for the metrics gauges, read from the database every process shares. */
    gauges: {
      pushesInFlight: () => inFlightPushes(db),
      customersByStatus: () => customersByStatus(db),
      tokensByVaultKey: () => tokenKeyIds(db),
    },
  }
}

export type Reporting = ReturnType<typeof createReporting>
