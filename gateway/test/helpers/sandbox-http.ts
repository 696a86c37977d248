import { expect } from '@jest/globals'
import { sha1 } from './pushes.ts'
import { sendRaw, type Answer } from './raw-http.ts'

export { sha1 }
export type { Answer }

/**
 * A raw HTTP client for a sandbox on `port`: the path goes on the wire exactly as given, and the
 * Host header can name `*.localhost`, which Node cannot resolve.
 */
export function sandboxClient(port: number, token = 'token-a') {
  const send = (
    method: string,
    path: string,
    options: { json?: unknown; body?: Buffer | string; host?: string; auth?: boolean } = {},
  ): Promise<Answer> =>
    sendRaw(port, method, path, { ...options, token: options.auth === false ? undefined : token })

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
