// The rules for a URL the gateway answers, before it is published anywhere. Browser-safe (no
// `node:` import): the Action, the CLI and the client library's browser bundle all check with it.

// Four decimal octets, as `URL` normalises an IPv4 host (`127.1` becomes `127.0.0.1`).
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
 * GitHub or a log: `https:`, or plain `http:` to loopback only (the local sandbox), with nothing
 * outside `URL_CHARACTERS` and no user name or password. Throws naming `label` otherwise; the
 * value is quoted as JSON so the message itself carries no line breaks.
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
