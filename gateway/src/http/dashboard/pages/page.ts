import type { Response } from 'express'
import { z } from 'zod'
import type { ChunkUploadRow } from '../../../services/reporting.ts'
import { csrfOf } from '../auth.ts'
import { fmtBytes, fmtInt, fmtTime } from '../format.ts'
import { html, type HtmlValue } from '../html.ts'
import { badge, layout, table } from '../views.ts'

// What every page shares: its shell, its page size and the pieces of its query schemas.

/** Rows per page on every list. */
export const PAGE = 50

export const month = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'must be YYYY-MM')
export const id = z.string().regex(/^[\w.:-]{1,128}$/, 'is not a valid id')
/** Empty form fields mean "no filter". */
export const opt = <T extends z.ZodType>(s: T) =>
  z.preprocess((v) => (v === '' ? undefined : v), s.optional())
/** `YYYY-MM` from a form → `YYYY-MM-01`, or the fallback. */
export const toMonth = (m: string | undefined, fallback: string) => (m ? `${m}-01` : fallback)

/** Sends a page in the dashboard's shell, with the session's CSRF token for its forms. */
export const page = (res: Response, title: string, active: string, body: HtmlValue) =>
  res.type('html').send(layout({ title, active, csrf: csrfOf(res), body }))

/** Only http(s) links become href: a stored URL can never be a `javascript:` link. */
export function safeUrl(url: string): string {
  return /^https?:\/\//i.test(url) ? url : '#'
}

/** Chunked uploads, as the jobs page and a push's page list them. */
export function chunkTable(chunks: ChunkUploadRow[]) {
  return table(
    ['Created', 'Customer', 'Push', 'Path', 'Chunks', 'Size', 'State', 'Expires', 'Error'],
    chunks.map((c) => [
      fmtTime(c.created_at),
      c.customer_name,
      html`<a class="mono" href="/admin/pushes/${c.push_id}">${c.push_id}</a>`,
      c.path,
      // Chunks are deleted once the file is assembled: count what arrived while receiving.
      c.state === 'receiving'
        ? `${fmtInt(c.chunks_in)} of ${fmtInt(c.chunk_count)} in`
        : fmtInt(c.chunk_count),
      fmtBytes(c.file_size),
      badge(c.state),
      fmtTime(c.expires_at),
      c.error,
    ]),
    'No chunked uploads.',
  )
}
