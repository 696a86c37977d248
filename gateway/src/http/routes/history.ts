import { Router } from 'express'
import { ERRORS } from '../../errors.ts'
import type { PushService } from '../../services/pushes.ts'
import type { Reporting } from '../../services/reporting.ts'
import { pushDetailQuery, pushListQuery, pushParams } from 'kaixu-contract'
import { parse } from '../validate.ts'
import { renderPush } from './push.ts'

/** Pushes per history page unless `limit` says otherwise. */
const DEFAULT_PAGE = 20
/** Files per page of a push's detail unless `filesLimit` says otherwise. */
const DEFAULT_FILES_PAGE = 200

/**
 * A customer's own deploy history with their key: `GET /v1/pushes` and `GET /v1/pushes/:id`.
 * The list is the dashboard's keyset query with the customer pinned to the key's, so the two
 * views page the same way and a customer can only ever name their own pushes.
 */
export function historyRoutes(deps: { reporting: Reporting; pushes: PushService }): Router {
  const { reporting, pushes } = deps
  const router = Router()

  router.get('/pushes', async (req, res) => {
    const q = parse(pushListQuery, req.query, 'query')
    const customerId = req.caller!.customerId
    const limit = q.limit ?? DEFAULT_PAGE
    // Removed projects keep their history, so the filter looks among them too (a live one wins).
    let projectId: string | undefined
    if (q.project) {
      const all = await reporting.projectNames(customerId)
      const found =
        all.find((p) => p.id === q.project) ??
        all.find((p) => p.name === q.project && !p.removed_at) ??
        all.find((p) => p.name === q.project)
      if (!found) throw ERRORS.projectNotFound(q.project)
      projectId = found.id
    }
    const rows = await reporting.pushes({
      customerId,
      projectId,
      month: q.month ? `${q.month}-01` : undefined,
      state: q.state,
      before: q.before,
      limit: limit + 1,
    })
    const page = rows.slice(0, limit)
    const last = page.at(-1)
    res.json({
      pushes: page.map((p) => ({
        pushId: p.id,
        project: { id: p.project_id, name: p.project_name },
        state: p.state,
        netlifyState: p.netlify_state,
        files: { total: p.files_total, required: p.files_required },
        bytesUploaded: p.bytes_uploaded,
        costCents: p.cost_cents,
        ssl_url: p.ssl_url,
        deploy_ssl_url: p.deploy_ssl_url,
        error_message: p.error_message,
        createdAt: p.created_at,
        finishedAt: p.finished_at,
      })),
      // One more row than the page was read: only then is there an older page to ask for.
      next: rows.length > limit && last ? `${last.cursor_at}_${last.id}` : null,
    })
  })

  router.get('/pushes/:id', async (req, res) => {
    const { id } = parse(pushParams, req.params, 'path')
    const q = parse(pushDetailQuery, req.query, 'query')
    // The push-status read: another customer's push is not found, a moving one is refreshed.
    const push = await pushes.status(req.caller!, id)
    const filesLimit = q.filesLimit ?? DEFAULT_FILES_PAGE
    const files = await reporting.pushFiles(push.id, q.filesAfter, filesLimit + 1)
    const shown = files.slice(0, filesLimit)
    res.json({
      ...renderPush(push),
      title: push.title,
      bytesReserved: push.bytes_reserved,
      timings: {
        createdAt: push.created_at,
        completedAt: push.completed_at,
        finishedAt: push.finished_at,
        durationMs: push.finished_at
          ? push.finished_at.getTime() - push.created_at.getTime()
          : null,
      },
      fileList: shown.map((f) => ({
        path: f.path,
        sha1: f.sha1,
        size: f.size,
        required: f.required,
        uploadedAt: f.uploaded_at,
      })),
      filesNext: files.length > filesLimit ? (shown.at(-1)?.path ?? null) : null,
    })
  })

  return router
}
