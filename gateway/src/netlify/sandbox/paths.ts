/**
 * Path rules shared by digests, uploads and site serving.
 */

const SHA1 = /^[0-9a-f]{40}$/i
// eslint-disable-next-line no-control-regex -- control characters are exactly what is rejected
const CONTROL = /[\u0000-\u001f\u007f]/

/**
 * Normalises a deploy file path: strips leading slashes (clients send both `/a.css` and
 * `a.css`) and rejects what no deploy can hold (empty, `.`/`..` segments, empty segments,
 * control characters, and `#`/`?`, which netlify-cli refuses too). Returns null when invalid.
 */
export function normalizeDeployPath(raw: string): string | null {
  const path = raw.replace(/^\/+/, '')
  if (path === '' || path.length > 4096 || CONTROL.test(path) || /[#?]/.test(path)) return null
  const segments = path.split('/')
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return null
  return path
}

/** Whether `value` is a 40-hex SHA-1 (either case). */
export function isSha1(value: string): boolean {
  return SHA1.test(value)
}

/**
 * Decodes the raw `{path}` of `PUT /deploys/:id/files/{path}`. netlify-cli sends `encodeURI`
 * output (literal `/`), the Go client `url.PathEscape` output (`%2F`); both decode the same way.
 * `+` stays a plus: this is a path, not a form. Returns null when malformed or invalid.
 */
export function decodeUploadPath(raw: string): string | null {
  let decoded: string
  try {
    decoded = decodeURIComponent(raw)
  } catch {
    return null
  }
  return normalizeDeployPath(decoded)
}

/**
 * The URL label of a branch: lowercase alphanumerics and single hyphens, the way Netlify turns
 * branch names into subdomains. Collapsing `--` keeps `<branch>--<site>` unambiguous.
 */
export function branchSlug(branch: string): string {
  return branch
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '')
}

/** Site names are one DNS label without `--` (which separates deploy or branch from site). */
export function isValidSiteName(name: string): boolean {
  return /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(name) && !name.includes('--')
}

/** The `<label>` of a `Host: <label>.localhost[:port]` header, lowercased, or null. */
export function siteLabelFromHost(host: string | undefined): string | null {
  if (!host) return null
  const m = /^([a-z0-9-]+)\.localhost\.?(?::\d+)?$/i.exec(host)
  return m ? m[1]!.toLowerCase() : null
}

/**
 * The deploy paths to try for a request path, in order: `/` → `index.html`, `/a/` →
 * `a/index.html`, `/a` → `a`, `a.html`, `a/index.html` (Netlify's pretty URLs).
 * Returns null when the request path cannot name a file.
 */
export function candidatePaths(requestPath: string): string[] | null {
  let decoded: string
  try {
    decoded = decodeURIComponent(requestPath)
  } catch {
    return null
  }
  const trimmed = decoded.replace(/^\/+/, '')
  if (trimmed === '') return ['index.html']
  if (trimmed.endsWith('/')) {
    const dir = normalizeDeployPath(trimmed.slice(0, -1))
    return dir === null ? null : [`${dir}/index.html`]
  }
  const file = normalizeDeployPath(trimmed)
  if (file === null) return null
  return [file, `${file}.html`, `${file}/index.html`]
}
