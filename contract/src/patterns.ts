// The shapes a value must have on the wire, for both sides: the gateway refuses a request that
// breaks them, a client refuses an answer that does. Plain regular expressions and functions, no
// Node built-ins: a browser imports this too.

/** A SHA-1 in hex, either case (the gateway lowercases what it accepts). */
export const SHA1_PATTERN = /^[0-9a-fA-F]{40}$/
/** A SHA-1 as the gateway answers it: lowercase hex. */
export const SHA1_LOWER_PATTERN = /^[0-9a-f]{40}$/

/** The longest Netlify alias (branch) label. */
export const ALIAS_MAX = 37
/** Netlify puts the alias in a host name (`<alias>--<site>.netlify.app`): one DNS label, ≤ 37. */
export const ALIAS_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,35}[a-z0-9])?$/

/** A Netlify site name: it becomes part of a URL, so a DNS label and nothing else. */
export const SITE_NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/

/** A function name as the gateway answers it in `requiredFunctions`. */
export const FUNCTION_NAME_PATTERN = /^[A-Za-z0-9_-]{1,128}$/

/** Ids the gateway answers end up in outputs, logs and summaries: word characters and `_.:-`. */
export const ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/
export const PUSH_ID_PATTERN = /^push_[0-9A-Za-z]{20}$/

/**
 * Project names are what CI configs say (`project: client-site`): letters, digits, `.`, `_`,
 * `-`. A project is named on the wire by this or by its `prj_` id, which has the same shape.
 */
export const PROJECT_REF_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/

/** `YYYY-MM`, the month of usage, invoices and history filters (UTC). */
export const MONTH_PATTERN = /^\d{4}-(0[1-9]|1[0-2])$/

/** The most chunks one file may be cut into (`X-Chunk-Count`). */
export const MAX_CHUNK_COUNT = 10_000

/**
 * The smallest chunk a gateway may ask for (its `KAIXU_CHUNK_BYTES` floor): a smaller chunk would
 * turn one large file into millions of requests, and 0 into a division by zero.
 */
export const MIN_CHUNK_BYTES = 64 * 1024

/** The longest `push-status` long-poll, in seconds: under common proxy idle timeouts. */
export const MAX_STATUS_WAIT_SECONDS = 60

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/
/** Bidirectional overrides and isolates: they make a name display as something it is not. */
const BIDI = /[\u202a-\u202e\u2066-\u2069]/
/** With the u flag a range of surrogates matches only unpaired ones, which UTF-8 cannot carry. */
const LONE_SURROGATE = /[\ud800-\udfff]/u

/** Why a piece of free text cannot be stored or shown safely, if it cannot. */
export function checkText(value: string): string | undefined {
  if (CONTROL.test(value)) return 'must not contain control characters'
  if (LONE_SURROGATE.test(value)) return 'must be valid Unicode (no unpaired surrogates)'
  if (BIDI.test(value)) return 'must not contain bidirectional control characters'
  return undefined
}

/**
 * Why a deploy path is refused, if it is. `..`/`.` segments would escape or alias the deploy
 * root; `#` and `?` cannot be deployed on Netlify; control characters and backslashes are never
 * legitimate file names there. A single leading `/` is accepted and dropped, as Netlify does.
 */
export function checkDeployPath(raw: string): string | undefined {
  const path = raw.startsWith('/') ? raw.slice(1) : raw
  if (path.length === 0) return 'is empty'
  if (path.length > 1024) return 'is longer than 1024 characters'
  if (CONTROL.test(path)) return 'contains control characters'
  if (LONE_SURROGATE.test(path)) return 'is not valid Unicode (an unpaired surrogate)'
  if (BIDI.test(path)) return 'contains bidirectional control characters'
  if (path.includes('\\')) return 'contains a backslash'
  if (/[#?]/.test(path)) return 'contains # or ? (Netlify cannot deploy such names)'
  if (path.normalize('NFC') !== path) return 'is not in Unicode NFC form'
  for (const segment of path.split('/')) {
    if (segment === '') return 'has an empty segment (// or a trailing /)'
    // Percent-encoded dots become . and .. again once a server decodes the URL.
    if (/^(?:\.|%2e){1,2}$/i.test(segment)) return 'has a . or .. segment'
  }
  return undefined
}

// An IPv4 address in dotted decimal, each part 0-255 without leading zeros (as `URL` writes it).
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/

/**
 * Whether a URL's host name (as `URL` normalises it) is this machine: `localhost` or a name under
 * it (RFC 6761 keeps `*.localhost` on loopback; the Netlify sandbox serves sites there), `[::1]`
 * or an IPv4 address in 127.0.0.0/8. Parsed, not prefix-matched: `127.evil.com` is a domain.
 */
export function isLoopback(hostname: string): boolean {
  if (hostname === 'localhost' || hostname.endsWith('.localhost') || hostname === '[::1]') {
    return true
  }
  return IPV4.test(hostname) && hostname.split('.')[0] === '127'
}

// What a site URL may hold: letters, digits and the URL punctuation a host, port and path need.
// No whitespace, quotes, control characters, `$`, backticks, `;`, `&`, `|`, `(` or `<`: a value
// that a workflow pastes into a shell line or Markdown must not be able to end it and start code.
const URL_CHARACTERS = /^[A-Za-z0-9._~:/?#[\]%=+,-]+$/

/**
 * A URL the gateway answered (site or deploy URL), checked before it reaches step outputs,
 * GitHub, a page or a log: `https:`, or plain `http:` to loopback only (the local sandbox), with
 * nothing outside `URL_CHARACTERS` and no user name or password. Throws naming `label` otherwise;
 * the value is quoted as JSON so the message itself carries no line breaks.
 */
export function parsePublishedUrl(value: string, label: string): string {
  const refuse = (why: string) =>
    new Error(`${label} is not a URL to publish (${why}): ${JSON.stringify(value.slice(0, 200))}`)
  if (!URL_CHARACTERS.test(value)) {
    throw refuse('only letters, digits and URL punctuation are taken')
  }
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw refuse('not a URL')
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname))) {
    throw refuse('https only; plain http only to this machine')
  }
  if (url.username || url.password) throw refuse('no user name or password')
  return value
}
