/**
 * Netlify's redirect, rewrite and header rules for the sandbox's site server: `_redirects`,
 * `_headers` and the `[[redirects]]`/`[[headers]]` of `netlify.toml` at the deploy root.
 *
 * Parsing is Netlify's own (`@netlify/redirect-parser`, `@netlify/headers-parser`, the libraries
 * netlify-cli uses); matching follows Netlify's documented semantics, which those parsers leave
 * to the CDN: first matching redirect wins, `_redirects` before `netlify.toml`, paths compared
 * case-sensitively without their trailing slash, the query string ignored unless the rule names
 * parameters, and every matching header rule applied, a later one overriding an earlier one.
 */
import { parseAllHeaders } from '@netlify/headers-parser'
import type { MinimalHeader } from '@netlify/headers-parser'
import { parseAllRedirects } from '@netlify/redirect-parser'
import { validateHeaderName, validateHeaderValue } from 'node:http'
import type { Logger } from 'pino'
import { z } from 'zod'
import type { BlobStore } from './blob-store.ts'
import type { DeployRecord } from './types.ts'

/** A redirect rule, compiled for matching. */
export interface RedirectRule {
  /** The host a domain-level rule (`https://old.example/*`) applies to; absent: any host. */
  host: string | null
  /** The `from` path split into segments, without leading and trailing slash; `*` only last. */
  segments: string[]
  /** Query parameters the request must carry: `:name` captures the value, anything else equals. */
  query: Array<[string, string]>
  to: string
  status: number
  force: boolean
  /** Rules with `Country`, `Language`, `Role` or `Cookie` conditions never match here. */
  conditional: boolean
}

/** A header rule: where it applies and what it sets. */
export interface HeaderRule {
  matches: (path: string) => boolean
  values: Record<string, string>
}

/** Every rule of one deploy, in Netlify's order. */
export interface SiteRules {
  redirects: RedirectRule[]
  headers: HeaderRule[]
}

/** A request as far as rule matching cares. */
export interface RuleRequest {
  /** The raw (still percent-encoded) path, starting with `/`. */
  path: string
  /** The raw query string, without `?`. */
  query: string
  /** The request's host name, without port. */
  host: string
}

/** What a matching redirect rule asks for. */
export interface RuleMatch {
  rule: RedirectRule
  /** `to` with `:splat` and placeholders filled in, plus the request's query where Netlify adds it. */
  target: string
}

const NO_RULES: SiteRules = { redirects: [], headers: [] }

/** Rule files larger than this are ignored (and logged): the sandbox reads them whole. */
const MAX_RULE_FILE_BYTES = 4 * 1024 * 1024

// Netlify's list of headers a site cannot set (its servers own them; `Location` belongs to
// redirects), plus `Keep-Alive`, hop-by-hop like `Connection`. Setting them here could break the
// response framing.
const RESERVED_HEADERS = new Set([
  'accept-ranges',
  'age',
  'allow',
  'alt-svc',
  'connection',
  'content-encoding',
  'content-length',
  'content-range',
  'date',
  'keep-alive',
  'location',
  'server',
  'trailer',
  'transfer-encoding',
  'upgrade',
])

// What `@netlify/redirect-parser` hands back (typed `unknown[]`); anything else is dropped.
const ParsedRedirect = z.object({
  path: z.string(),
  host: z.string().optional(),
  to: z.string(),
  status: z.number().int().min(100).max(599).optional(),
  force: z.boolean(),
  query: z.record(z.string(), z.string().optional()),
  conditions: z.record(z.string(), z.unknown()),
})

/**
 * Loads and caches each deploy's rules. A ready deploy's files never change, so the rules are
 * parsed once per deploy, on its first request.
 */
export class RuleCache {
  private readonly cache = new WeakMap<DeployRecord, Promise<SiteRules>>()
  private readonly blobs: BlobStore
  private readonly log: Logger | undefined

  constructor(blobs: BlobStore, log?: Logger) {
    this.blobs = blobs
    this.log = log
  }

  /** The rules of a deploy; a deploy without rule files has none. */
  rulesOf(deploy: DeployRecord): Promise<SiteRules> {
    let rules = this.cache.get(deploy)
    if (!rules) {
      rules = this.load(deploy)
      this.cache.set(deploy, rules)
    }
    return rules
  }

  private async load(deploy: DeployRecord): Promise<SiteRules> {
    try {
      return await this.parse(deploy)
    } catch (err) {
      // A site whose rules cannot be read is still served, as files only.
      this.log?.warn({ err, deployId: deploy.id }, 'sandbox could not load site rules')
      return NO_RULES
    }
  }

  private async parse(deploy: DeployRecord): Promise<SiteRules> {
    const files = deploy.files
    if (!files) return NO_RULES
    const [redirectsFile, headersFile, configFile] = await Promise.all(
      ['_redirects', '_headers', 'netlify.toml'].map((name) => this.ruleFile(files, name)),
    )
    if (!redirectsFile && !headersFile && !configFile) return NO_RULES
    const [redirects, headers] = await Promise.all([
      parseAllRedirects({
        redirectsFiles: redirectsFile ? [redirectsFile] : [],
        netlifyConfigPath: configFile,
        configRedirects: [],
        minimal: false,
      }),
      parseAllHeaders({
        headersFiles: headersFile ? [headersFile] : [],
        netlifyConfigPath: configFile,
        configHeaders: [],
        // The parser's own `forRegExp` backtracks exponentially on paths like `/*a*a*a*b`;
        // compileHeaderGlob() and matchGlob() below match the same paths in linear time.
        minimal: true,
      }),
    ])
    const errors = [...redirects.errors, ...headers.errors].map((e: unknown) => String(e))
    const rules: SiteRules = {
      redirects: redirects.redirects.flatMap((raw) => compileRedirect(raw, errors)),
      headers: headers.headers.flatMap((h) => compileHeader(h, errors)),
    }
    // Netlify reports these in the deploy log and skips the rule; the sandbox logs them.
    if (errors.length > 0)
      this.log?.warn({ deployId: deploy.id, errors }, 'sandbox skipped invalid site rules')
    return rules
  }

  /** The on-disk path of a rule file of the deploy, or undefined when absent or too large. */
  private async ruleFile(files: Map<string, string>, name: string): Promise<string | undefined> {
    const sha = files.get(name)
    if (sha === undefined) return undefined
    const size = await this.blobs.size(sha)
    if (size === null || size > MAX_RULE_FILE_BYTES) {
      this.log?.warn({ file: name, size }, 'sandbox ignored a rule file it cannot read')
      return undefined
    }
    return this.blobs.pathOf(sha)
  }
}

function compileRedirect(raw: unknown, errors: string[]): RedirectRule[] {
  const parsed = ParsedRedirect.safeParse(raw)
  if (!parsed.success) {
    errors.push(`Unsupported redirect ${JSON.stringify(raw)}: ${parsed.error.message}`)
    return []
  }
  const r = parsed.data
  const segments = splitPath(r.path)
  const star = segments.indexOf('*')
  if (star !== -1 && star !== segments.length - 1) {
    errors.push(`Redirect from "${r.path}": a splat (*) must be the last segment`)
    return []
  }
  return [
    {
      host: r.host?.toLowerCase() ?? null,
      segments,
      query: Object.entries(r.query).map(([k, v]) => [k, v ?? '']),
      to: r.to,
      // Netlify's default status is a permanent redirect.
      status: r.status ?? 301,
      force: r.force,
      conditional: Object.keys(r.conditions).length > 0,
    },
  ]
}

function compileHeader(header: MinimalHeader, errors: string[]): HeaderRule[] {
  const values: Record<string, string> = {}
  for (const [name, value] of Object.entries(header.values)) {
    try {
      validateHeaderName(name)
      validateHeaderValue(name, value)
    } catch {
      errors.push(`Header rule for "${header.for}": invalid header ${JSON.stringify(name)}`)
      continue
    }
    if (RESERVED_HEADERS.has(name.toLowerCase())) {
      errors.push(`Header rule for "${header.for}": "${name}" cannot be set by a site`)
      continue
    }
    values[name] = value
  }
  if (Object.keys(values).length === 0) return []
  const glob = compileHeaderGlob(header.for)
  return [{ matches: (path) => matchGlob(glob, path), values }]
}

/** `/a/b/` → `['a', 'b']`, `/` → `[]`: trailing slashes do not change what a rule matches. */
function splitPath(path: string): string[] {
  const segments = path.split('/').slice(1)
  while (segments.length > 0 && segments[segments.length - 1] === '') segments.pop()
  return segments
}

function decodeSafe(value: string): string {
  try {
    return decodeURIComponent(value)
  } catch {
    return value
  }
}

/** The first redirect rule that matches the request, with its target filled in. */
export function matchRedirect(rules: SiteRules, request: RuleRequest): RuleMatch | null {
  const parts = splitPath(request.path)
  const query = new URLSearchParams(request.query)
  for (const rule of rules.redirects) {
    if (rule.conditional) continue
    if (rule.host !== null && rule.host !== request.host.toLowerCase()) continue
    const params = matchSegments(rule.segments, parts)
    if (!params || !matchQuery(rule.query, query, params)) continue
    return { rule, target: fillTarget(rule, params, request.query) }
  }
  return null
}

/**
 * Matches path segments. Literal segments compare percent-decoded (`/caf%C3%A9` is `/café`);
 * captures keep the raw request text so a target stays correctly encoded.
 */
function matchSegments(pattern: string[], parts: string[]): Map<string, string> | null {
  const params = new Map<string, string>()
  for (let i = 0; i < pattern.length; i++) {
    const seg = pattern[i]!
    if (seg === '*') {
      // `/blog/*` matches `/blog` itself too, with an empty splat.
      params.set('splat', parts.slice(i).join('/'))
      return params
    }
    const part = parts[i]
    if (part === undefined) return null
    if (seg.startsWith(':') && seg.length > 1) {
      if (part === '') return null
      params.set(seg.slice(1), part)
    } else if (decodeSafe(seg) !== decodeSafe(part)) {
      return null
    }
  }
  return parts.length === pattern.length ? params : null
}

function matchQuery(
  wanted: Array<[string, string]>,
  query: URLSearchParams,
  params: Map<string, string>,
): boolean {
  for (const [key, expected] of wanted) {
    const value = query.get(key)
    if (value === null) return false
    if (expected.startsWith(':')) params.set(expected.slice(1), encodeURIComponent(value))
    else if (expected !== value) return false
  }
  return true
}

/**
 * Fills `:splat` and `:name` into `to`. A rule without query parameters passes the request's
 * query string on when `to` has none of its own, as Netlify does for redirects and rewrites.
 */
function fillTarget(rule: RedirectRule, params: Map<string, string>, rawQuery: string): string {
  const filled = rule.to.replace(/:([A-Za-z_]\w*)/g, (whole, name: string) =>
    params.has(name) ? params.get(name)! : whole,
  )
  if (rule.query.length === 0 && rawQuery !== '' && !filled.includes('?'))
    return `${filled}?${rawQuery}`
  return filled
}

/** The custom headers for a request path: every matching rule, later rules overriding earlier. */
export function headersFor(rules: SiteRules, rawPath: string): Record<string, string> {
  const path = decodeSafe(rawPath)
  const out: Record<string, string> = {}
  for (const rule of rules.headers) if (rule.matches(path)) Object.assign(out, rule.values)
  return out
}

/** Whether a target leaves the site (`https://…`): Netlify proxies those, the sandbox cannot. */
export function isExternal(target: string): boolean {
  return /^https?:\/\//i.test(target)
}

/**
 * One step of a header path pattern: a character (`opt`: or nothing), any run of characters
 * (`*`), or one path segment character (`seg`, `:placeholder`; `segs` then takes the rest).
 */
type GlobToken =
  { kind: 'char'; c: string; opt: boolean } | { kind: 'any' } | { kind: 'seg' } | { kind: 'segs' }

/**
 * Compiles a header `for` path exactly as `@netlify/headers-parser` builds its `forRegExp`
 * (`^/part/part/?$`, case-insensitive): `:name` is one segment, a standalone `*` is anything
 * including nothing (its leading slash optional), a `*` inside a segment is anything, slashes
 * included, and a trailing slash is optional.
 */
export function compileHeaderGlob(forPath: string): GlobToken[] {
  const chars = (text: string): GlobToken[] =>
    [...text.toLowerCase()].map((c) => ({ kind: 'char', c, opt: false }))
  const tokens: GlobToken[] = chars('/')
  const parts = forPath
    .split('/')
    .map((p) => p.trimEnd())
    .filter(Boolean)
  parts.forEach((part, i) => {
    if (i > 0) tokens.push(...chars('/'))
    if (part.startsWith(':')) tokens.push({ kind: 'seg' }, { kind: 'segs' })
    else if (part === '*') {
      tokens[tokens.length - 1] = { kind: 'char', c: '/', opt: true }
      tokens.push({ kind: 'any' })
    } else for (const c of part) tokens.push(...(c === '*' ? [{ kind: 'any' } as const] : chars(c)))
  })
  tokens.push({ kind: 'char', c: '/', opt: true })
  return tokens
}

/**
 * Whether `path` matches a compiled pattern: a simulation of the pattern's automaton over the
 * set of reachable positions, O(path × pattern) whatever the pattern, so no request can stall
 * the server the way a backtracking regular expression can.
 */
export function matchGlob(tokens: GlobToken[], path: string): boolean {
  const skippable = (t: GlobToken): boolean =>
    t.kind === 'any' || t.kind === 'segs' || (t.kind === 'char' && t.opt)
  const close = (states: Set<number>): Set<number> => {
    for (const k of states) if (k < tokens.length && skippable(tokens[k]!)) states.add(k + 1)
    return states
  }
  let states = close(new Set([0]))
  for (const c of path.toLowerCase()) {
    const next = new Set<number>()
    for (const k of states) {
      const t = tokens[k]
      if (!t) continue
      if (t.kind === 'any' || (t.kind === 'segs' && c !== '/')) next.add(k)
      else if ((t.kind === 'char' && t.c === c) || (t.kind === 'seg' && c !== '/')) next.add(k + 1)
    }
    if (next.size === 0) return false
    states = close(next)
  }
  return states.has(tokens.length)
}
