import type { Router } from 'express'
import { z } from 'zod'
import { ERRORS } from '../../../errors.ts'
import type { AppServices } from '../../../services/index.ts'
import { parse } from '../../validate.ts'
import { sessionOf } from '../auth.ts'
import { fmtTime } from '../format.ts'
import { html } from '../html.ts'
import { badge, filterForm, select, table, textInput } from '../views.ts'
import { chunkTable, id, opt, page, PAGE } from './page.ts'

/** The form's job states → pg-boss's. */
const JOB_STATES = {
  pending: 'created',
  failed: 'retry',
  running: 'active',
  dead: 'failed',
} as const
const CHUNK_STATES = ['receiving', 'assembling', 'uploaded', 'failed', 'expired'] as const

/** Keyset cursor of the chunked-upload list: `<created_at to the µs>_<push id>_<file sha1>`. */
const CHUNK_CURSOR = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)_([\w.:-]{1,128})_([0-9a-f]{40})$/
const jobsQuery = z.object({
  state: opt(z.enum(['pending', 'running', 'failed', 'dead', 'completed'])),
  queue: opt(z.string().regex(/^[\w-]{1,64}$/)),
  chunkState: opt(z.enum(CHUNK_STATES)),
  chunksBefore: opt(z.string().regex(CHUNK_CURSOR)),
  retried: opt(id),
})
const jobParams = z.object({ queue: z.string().regex(/^[\w-]{1,64}$/), id: z.uuid() })

function chunkCursor(text: string | undefined) {
  const m = text ? CHUNK_CURSOR.exec(text) : null
  return m ? { at: m[1]!, pushId: m[2]!, sha1: m[3]! } : undefined
}

/** Background jobs (pg-boss) and chunked uploads, with a retry button on dead jobs. */
export function jobPages(router: Router, deps: Pick<AppServices, 'reporting' | 'operations'>) {
  const { reporting, operations } = deps
  router.get('/jobs', async (req, res) => {
    const q = parse(jobsQuery, req.query, 'query')
    const states =
      q.state === 'completed' ? ['completed' as const] : q.state ? [JOB_STATES[q.state]] : undefined
    const [jobs, chunks] = await Promise.all([
      operations.listJobs({ states, queue: q.queue, limit: PAGE }),
      reporting.chunkUploads({
        state: q.chunkState,
        before: chunkCursor(q.chunksBefore),
        limit: PAGE + 1,
      }),
    ])
    const lastChunk = chunks.length > PAGE ? chunks[PAGE - 1] : undefined
    const olderChunks = lastChunk
      ? `/admin/jobs?${new URLSearchParams({
          ...(q.state ? { state: q.state } : {}),
          ...(q.queue ? { queue: q.queue } : {}),
          ...(q.chunkState ? { chunkState: q.chunkState } : {}),
          chunksBefore: `${lastChunk.cursor_at}_${lastChunk.push_id}_${lastChunk.sha1}`,
        }).toString()}`
      : undefined
    const label = (s: string) =>
      (Object.entries(JOB_STATES).find(([, v]) => v === s)?.[0] ?? s) as string
    const csrf = sessionOf(res).csrf
    page(
      res,
      'Jobs',
      'jobs',
      html`${q.retried ? html`<p class="notice" role="status">Job <code>${q.retried}</code> was queued again.</p>` : ''}
        ${filterForm('/admin/jobs', [
          select(
            'state',
            'Job state',
            ['pending', 'running', 'failed', 'dead', 'completed'].map((s) => ({
              value: s,
              label: s,
            })),
            q.state,
          ),
          textInput('queue', 'Queue', q.queue),
          select(
            'chunkState',
            'Chunked upload state',
            CHUNK_STATES.map((s) => ({ value: s, label: s })),
            q.chunkState,
          ),
        ])}
        <h2>Background jobs (latest ${PAGE})</h2>
        ${table(
          ['Created', 'Queue', 'State', 'Attempts', 'Data', 'Error', ''],
          jobs.map((j) => [
            fmtTime(j.createdAt),
            j.queue,
            badge(label(j.state)),
            `${j.attempts} / ${j.maxAttempts}`,
            typeof j.data['pushId'] === 'string'
              ? html`<a class="mono" href="/admin/pushes/${j.data['pushId']}"
                  >${JSON.stringify(j.data)}</a
                >`
              : html`<code>${JSON.stringify(j.data)}</code>`,
            j.error,
            j.state === 'failed'
              ? html`<form
                  method="post"
                  action="/admin/jobs/${j.queue}/${j.id}/retry"
                  class="inline"
                >
                  <input type="hidden" name="_csrf" value="${csrf}" /><button type="submit">
                    Retry
                  </button>
                </form>`
              : '',
          ]),
          'No jobs match.',
        )}
        <h2>Chunked uploads${q.chunksBefore ? ' (older)' : ''}</h2>
        ${chunkTable(chunks.slice(0, PAGE))}
        <nav class="pager">
          ${q.chunksBefore ? html`<a href="/admin/jobs">First page</a>` : ''}
          ${olderChunks ? html`<a rel="next" href="${olderChunks}">Older chunked uploads →</a>` : ''}
        </nav>`,
    )
  })

  router.post('/jobs/:queue/:id/retry', async (req, res) => {
    const { queue, id: jobId } = parse(jobParams, req.params, 'path')
    const admin = { name: 'admin', requestId: String(req.id) }
    if (!(await operations.retryJob(queue, jobId, admin, 'dashboard'))) {
      throw ERRORS.notFound(`Dead job '${jobId}' in ${queue}`)
    }
    res.redirect(303, `/admin/jobs?retried=${encodeURIComponent(jobId)}`)
  })
}
