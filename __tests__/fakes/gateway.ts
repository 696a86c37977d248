// A local stand-in for a Kaixu gateway that answers what a test tells it to: a hostile or
// compromised gateway, for the Action's trust-boundary tests. By default it behaves: every file
// is required, uploads (whole or in chunks) are taken, and the push ends `ready` with sandbox-like
// loopback URLs. Each answer can be replaced; every request is recorded.
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** A reply the test chose: a status and a JSON body. */
export interface FakeReply {
  status: number
  body: unknown
}

/** What the fake answers; each field replaces one default answer. */
export interface FakeGatewayScript {
  /** The `upload` block of `push-init`. */
  upload?: Record<string, unknown>
  /** Fields merged over the default push record (push-complete and push-status). */
  record?: Record<string, unknown>
  /** Replies to `push-init` served first, in order, before the default answer. */
  initReplies?: FakeReply[]
}

export interface FakeGatewayRequest {
  method: string
  path: string
  headers: IncomingMessage['headers']
  body: Buffer
}

export class FakeGateway {
  readonly requests: FakeGatewayRequest[] = []
  script: FakeGatewayScript = {}
  url = ''
  #server: Server | undefined

  async start(): Promise<this> {
    this.#server = createServer((req, res) => {
      void this.#handle(req, res).catch((error: unknown) => {
        res.writeHead(500, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ error: { code: 'fake_crash', message: String(error) } }))
      })
    })
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve))
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`
    return this
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()) ?? resolve())
  }

  /** Forgets the requests and the script. */
  reset(script: FakeGatewayScript = {}): void {
    this.requests.length = 0
    this.script = { ...script, initReplies: [...(script.initReplies ?? [])] }
  }

  /** The JSON body of the last `push-init`. */
  lastInit(): Record<string, unknown> | undefined {
    const init = this.requests.filter((r) => r.path === '/v1/push-init').at(-1)
    return init && (JSON.parse(init.body.toString()) as Record<string, unknown>)
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const url = new URL(req.url ?? '/', this.url)
    const body = Buffer.concat(chunks)
    const method = req.method ?? 'GET'
    this.requests.push({ method, path: url.pathname, headers: req.headers, body })
    const send = (status: number, data: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(data))
    }
    const sha1 = String(req.headers['x-content-sha1'] ?? '')

    switch (`${method} ${url.pathname}`) {
      case 'POST /v1/push-init': {
        const scripted = this.script.initReplies?.shift()
        if (scripted) return send(scripted.status, scripted.body)
        const files = (JSON.parse(body.toString()) as { files: Record<string, string> }).files
        return send(201, {
          pushId: 'push_fake',
          deployId: 'dep_fake',
          state: 'uploading',
          required: [...new Set(Object.values(files))],
          upload: this.script.upload ?? { inlineMaxBytes: 1_000_000, chunkBytes: 65_536 },
        })
      }
      case 'PUT /v1/push-upload':
        return send(200, { sha1, bytes: body.length, skipped: false })
      case 'GET /v1/push-upload-chunk':
        return send(404, { error: { code: 'not_found', message: 'No chunked upload' } })
      case 'PUT /v1/push-upload-chunk':
        return send(200, {
          sha1,
          index: Number(req.headers['x-chunk-index']),
          skipped: false,
          stored: true,
        })
      case 'POST /v1/push-complete':
      case 'GET /v1/push-status':
        return send(200, {
          pushId: 'push_fake',
          deployId: 'dep_fake',
          state: 'ready',
          netlifyState: 'ready',
          deploy_ssl_url: `${this.url}/deploys/dep_fake`,
          site_url: `${this.url}/sites/fake`,
          error_message: null,
          ...this.script.record,
        })
      default:
        return send(404, { error: { code: 'not_found', message: `No route ${url.pathname}` } })
    }
  }
}
