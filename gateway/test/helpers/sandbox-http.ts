import { expect } from '@jest/globals'
import { createHash } from 'node:crypto'
import { request } from 'node:http'
import type { IncomingHttpHeaders } from 'node:http'

/** One HTTP answer, body read whole. */
export interface Answer {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
  /** The body as UTF-8 text. */
  text: () => string
}

export const sha1 = (content: string | Buffer): string =>
  createHash('sha1').update(content).digest('hex')

/**
 * A raw HTTP client for a sandbox on `port`: the path goes on the wire exactly as given, and the
 * Host header can name `*.localhost`, which Node cannot resolve.
 */
export function sandboxClient(port: number, token = 'token-a') {
  function send(
    method: string,
    path: string,
    options: { json?: unknown; body?: Buffer | string; host?: string; auth?: boolean } = {},
  ): Promise<Answer> {
    const headers: Record<string, string> = {}
    let payload: Buffer | undefined
    if (options.auth !== false) headers['authorization'] = `Bearer ${token}`
    if (options.json !== undefined) {
      payload = Buffer.from(JSON.stringify(options.json))
      headers['content-type'] = 'application/json'
    } else if (options.body !== undefined) {
      payload = Buffer.from(options.body)
      headers['content-type'] = 'application/octet-stream'
    }
    if (payload) headers['content-length'] = String(payload.length)
    if (options.host) headers['host'] = options.host
    return new Promise((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, method, path, headers, agent: false },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('error', reject)
          res.on('end', () => {
            const body = Buffer.concat(chunks)
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body,
              text: () => body.toString('utf8'),
            })
          })
        },
      )
      req.on('error', reject)
      req.end(payload)
    })
  }

  let siteCounter = 0

  return {
    send,

    /** GET (or HEAD) `path` of the site served at `<label>.localhost`. */
    site: (label: string, path = '/', method = 'GET'): Promise<Answer> =>
      send(method, path, { host: `${label}.localhost:${port}`, auth: false }),

    async createSite(): Promise<{ id: string; name: string }> {
      const name = `rules-${process.pid}-${++siteCounter}`
      const res = await send('POST', '/api/v1/sites', { json: { name } })
      expect(res.status).toBe(201)
      return JSON.parse(res.text()) as { id: string; name: string }
    },

    /** Deploys `files` to the site (uploading what is required) and waits until it is ready. */
    async deployFiles(
      siteId: string,
      files: Record<string, string | Buffer>,
      extra: Record<string, unknown> = {},
    ): Promise<{ id: string }> {
      const digest = Object.fromEntries(Object.entries(files).map(([p, c]) => [p, sha1(c)]))
      const created = await send('POST', `/api/v1/sites/${siteId}/deploys`, {
        json: { files: digest, ...extra },
      })
      expect(created.status).toBe(200)
      const deploy = JSON.parse(created.text()) as { id: string; required: string[] }
      for (const sha of deploy.required) {
        const path = Object.keys(files).find((p) => digest[p] === sha)!
        const put = await send('PUT', `/api/v1/deploys/${deploy.id}/files/${encodeURI(path)}`, {
          body: files[path],
        })
        expect(put.status).toBe(200)
      }
      const deadline = Date.now() + 5000
      for (;;) {
        const res = await send('GET', `/api/v1/deploys/${deploy.id}`)
        const { state } = JSON.parse(res.text()) as { state: string }
        if (state === 'ready') return deploy
        if (Date.now() > deadline) throw new Error(`deploy ${deploy.id} stuck in ${state}`)
        await new Promise((r) => setTimeout(r, 10))
      }
    },
  }
}
