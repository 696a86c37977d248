// A local fake of the part of GitHub's REST API the Action calls, for end-to-end tests that run
// the bundled Action with GITHUB_API_URL pointing here. It behaves like GitHub where the Action
// depends on it: tokens in `Authorization`, `per_page`/`page` pagination with `Link` headers,
// `GET /user` refused for installation tokens, 403 for permissions a token lacks, comments only
// editable by their author. Every request is recorded, unknown routes answer 404 and are kept in
// `unexpected`.
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** Who a token acts as, and what it may not do. */
export interface FakeToken {
  /** The login its comments and deployments are created as. */
  login: string
  /**
   * `installation`: like an Actions GITHUB_TOKEN, `GET /user` answers 403. `user`: a personal
   * token, `GET /user` answers the login.
   */
  kind: 'installation' | 'user'
  /** Scopes answered with 403 "Resource not accessible by integration". */
  deny?: ('comments' | 'deployments' | 'pulls')[]
}

export interface FakeComment {
  id: number
  body: string
  user: { login: string; type: 'User' | 'Bot' }
  html_url: string
  created_at: string
  updated_at: string
}

export interface FakeDeployment {
  id: number
  ref: string
  environment: string
  description: string | null
  transient_environment: boolean
  production_environment: boolean
  payload: unknown
  creator: string
  statuses: FakeDeploymentStatus[]
}

export interface FakeDeploymentStatus {
  state: string
  environment_url?: string
  log_url?: string
  description?: string
  auto_inactive?: boolean
}

export interface RecordedCall {
  method: string
  path: string
  query: Record<string, string>
  body: unknown
  /** The token sent, or undefined without an `Authorization` header. */
  token: string | undefined
  status: number
}

const STATES = ['error', 'failure', 'inactive', 'in_progress', 'queued', 'pending', 'success']

/** The fake; `start()` listens on a free loopback port, `url` is then its API root. */
export class FakeGitHub {
  readonly calls: RecordedCall[] = []
  readonly unexpected: RecordedCall[] = []
  readonly comments = new Map<number, FakeComment[]>()
  readonly deployments: FakeDeployment[] = []
  readonly pulls = new Map<number, { headSha: string }>()
  url = ''
  readonly #tokens: Record<string, FakeToken>
  readonly #repo: string
  #server: Server | undefined
  #nextId = 1000

  constructor(options: { repository: string; tokens: Record<string, FakeToken> }) {
    this.#repo = options.repository
    this.#tokens = options.tokens
  }

  async start(): Promise<this> {
    this.#server = createServer((req, res) => {
      void this.#handle(req, res).catch((error: unknown) => {
        res.writeHead(500, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ message: String(error) }))
      })
    })
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve))
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`
    return this
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()) ?? resolve())
  }

  /** Adds `count` comments to a PR, as if people and bots had written them. */
  seedComments(issue: number, count: number, login: string, body = 'Looks good to me'): void {
    for (let i = 0; i < count; i++) this.#addComment(issue, login, `${body} (${i + 1})`)
  }

  /** Every request whose method is not GET: what the Action changed on GitHub. */
  writes(): RecordedCall[] {
    return this.calls.filter((call) => call.method !== 'GET')
  }

  /** Forgets the recorded calls (state stays). */
  clearCalls(): void {
    this.calls.length = 0
    this.unexpected.length = 0
  }

  #addComment(issue: number, login: string, body: string): FakeComment {
    const id = this.#nextId++
    const now = new Date().toISOString()
    const comment: FakeComment = {
      id,
      body,
      user: { login, type: login.endsWith('[bot]') ? 'Bot' : 'User' },
      html_url: `https://github.com/${this.#repo}/pull/${issue}#issuecomment-${id}`,
      created_at: now,
      updated_at: now,
    }
    const list = this.comments.get(issue) ?? []
    list.push(comment)
    this.comments.set(issue, list)
    return comment
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url)
    const text = await readBody(req)
    let body: unknown = undefined
    if (text) {
      try {
        body = JSON.parse(text)
      } catch {
        return this.#send(res, req, url, undefined, text, 400, { message: 'Problems parsing JSON' })
      }
    }
    const auth = /^(?:token|bearer) (\S+)$/i.exec(req.headers.authorization ?? '')
    const tokenValue = auth?.[1]
    const token = tokenValue === undefined ? undefined : this.#tokens[tokenValue]
    const reply = (status: number, data: unknown, headers: Record<string, string> = {}) =>
      this.#send(res, req, url, tokenValue, body, status, data, headers)

    if (!token) {
      return reply(401, {
        message: tokenValue ? 'Bad credentials' : 'Requires authentication',
      })
    }
    const method = req.method ?? 'GET'
    const path = url.pathname
    // Answers 403 and true when the token lacks the permission.
    const denied = (scope: 'comments' | 'deployments' | 'pulls'): boolean => {
      if (!token.deny?.includes(scope)) return false
      reply(403, { message: 'Resource not accessible by integration' })
      return true
    }

    if (method === 'GET' && path === '/user') {
      if (token.kind === 'installation') {
        return reply(403, { message: 'Resource not accessible by integration' })
      }
      return reply(200, { login: token.login, type: 'User' })
    }

    const prefix = `/repos/${this.#repo}/`
    if (!path.startsWith(prefix)) return this.#notFound(reply, method, path, url, tokenValue, body)
    const rest = path.slice(prefix.length)
    let match: RegExpExecArray | null

    if ((match = /^issues\/(\d+)\/comments$/.exec(rest))) {
      const issue = Number(match[1])
      if (method === 'GET') {
        const all = this.comments.get(issue) ?? []
        const perPage = Math.min(100, Math.max(1, Number(url.searchParams.get('per_page') ?? 30)))
        const page = Math.max(1, Number(url.searchParams.get('page') ?? 1))
        const last = Math.max(1, Math.ceil(all.length / perPage))
        const slice = all.slice((page - 1) * perPage, page * perPage)
        return reply(200, slice, linkHeader(url, page, last, perPage))
      }
      if (method === 'POST') {
        if (denied('comments')) return
        const text = (body as { body?: unknown } | undefined)?.body
        if (typeof text !== 'string' || text === '') {
          return reply(422, { message: 'Validation Failed', errors: [{ field: 'body' }] })
        }
        return reply(201, this.#addComment(issue, token.login, text))
      }
    }

    if ((match = /^issues\/comments\/(\d+)$/.exec(rest)) && method === 'PATCH') {
      if (denied('comments')) return
      const id = Number(match[1])
      const comment = [...this.comments.values()].flat().find((c) => c.id === id)
      if (!comment) return reply(404, { message: 'Not Found' })
      // The fake is stricter than GitHub (where writers may edit anyone's comment): the Action
      // must only ever edit its own.
      if (comment.user.login !== token.login) {
        return reply(403, { message: 'Only the author may edit this comment (fake GitHub)' })
      }
      const text = (body as { body?: unknown } | undefined)?.body
      if (typeof text !== 'string' || text === '')
        return reply(422, { message: 'Validation Failed' })
      comment.body = text
      comment.updated_at = new Date().toISOString()
      return reply(200, comment)
    }

    if (rest === 'deployments' && method === 'POST') {
      if (denied('deployments')) return
      const spec = (body ?? {}) as Record<string, unknown>
      if (typeof spec['ref'] !== 'string' || spec['ref'] === '') {
        return reply(422, { message: 'Validation Failed', errors: [{ field: 'ref' }] })
      }
      const deployment: FakeDeployment = {
        id: this.#nextId++,
        ref: spec['ref'],
        environment: typeof spec['environment'] === 'string' ? spec['environment'] : 'production',
        description: typeof spec['description'] === 'string' ? spec['description'] : null,
        transient_environment: spec['transient_environment'] === true,
        production_environment: spec['production_environment'] === true,
        payload: spec['payload'] ?? {},
        creator: token.login,
        statuses: [],
      }
      this.deployments.push(deployment)
      return reply(201, { ...deployment, statuses: undefined, creator: { login: token.login } })
    }

    if ((match = /^deployments\/(\d+)\/statuses$/.exec(rest)) && method === 'POST') {
      if (denied('deployments')) return
      const deployment = this.deployments.find((d) => d.id === Number(match![1]))
      if (!deployment) return reply(404, { message: 'Not Found' })
      const status = (body ?? {}) as FakeDeploymentStatus
      if (!STATES.includes(status.state)) {
        return reply(422, { message: 'Validation Failed', errors: [{ field: 'state' }] })
      }
      if ((status.description?.length ?? 0) > 140) {
        return reply(422, { message: 'description is too long (maximum is 140 characters)' })
      }
      deployment.statuses.push(status)
      return reply(201, { id: this.#nextId++, ...status })
    }

    if ((match = /^pulls\/(\d+)$/.exec(rest)) && method === 'GET') {
      if (denied('pulls')) return
      const pull = this.pulls.get(Number(match[1]))
      if (!pull) return reply(404, { message: 'Not Found' })
      return reply(200, { number: Number(match[1]), head: { sha: pull.headSha } })
    }

    return this.#notFound(reply, method, path, url, tokenValue, body)
  }

  #notFound(
    reply: (status: number, data: unknown) => void,
    method: string,
    path: string,
    url: URL,
    token: string | undefined,
    body: unknown,
  ): void {
    this.unexpected.push({
      method,
      path,
      query: Object.fromEntries(url.searchParams),
      body,
      token,
      status: 404,
    })
    reply(404, { message: 'Not Found' })
  }

  #send(
    res: ServerResponse,
    req: IncomingMessage,
    url: URL,
    token: string | undefined,
    body: unknown,
    status: number,
    data: unknown,
    headers: Record<string, string> = {},
  ): void {
    this.calls.push({
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      body,
      token,
      status,
    })
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers })
    res.end(JSON.stringify(data))
  }
}

// GitHub's pagination header: absolute URLs for next/last (and prev/first past page 1).
function linkHeader(url: URL, page: number, last: number, perPage: number): Record<string, string> {
  const at = (n: number) => {
    const target = new URL(url)
    target.searchParams.set('per_page', String(perPage))
    target.searchParams.set('page', String(n))
    return target.href
  }
  const links: string[] = []
  if (page > 1) links.push(`<${at(page - 1)}>; rel="prev"`, `<${at(1)}>; rel="first"`)
  if (page < last) links.push(`<${at(page + 1)}>; rel="next"`, `<${at(last)}>; rel="last"`)
  return links.length > 0 ? { link: links.join(', ') } : {}
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}
