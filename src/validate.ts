// Value parsers shared by the Action's inputs and the CLI's flags. Each takes the raw text and a
// label naming where it came from (`Input 'alias'`, `--alias`), so one rule gives one message in
// both places.
import fs from 'node:fs'
import path from 'node:path'
import { isLoopback } from './published-url.ts'

// Browser-safe, so the client library's answer checks use them too.
export { isLoopback, parsePublishedUrl } from './published-url.ts'

const ALIAS_MAX = 37
// Netlify puts the alias in a host name (`<alias>--<site>.netlify.app`): one DNS label.
const ALIAS_PATTERN = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/

/**
 * An http(s) base URL, normalised by `URL`. Calls `warn` for plain http to anything but
 * loopback, since the key would travel unencrypted.
 */
export function parseGatewayUrl(value: string, label: string, warn: (m: string) => void): string {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new Error(`${label} must be an http(s) URL, got '${value}'`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`${label} must be an http(s) URL, got '${value}'`)
  }
  if (url.protocol === 'http:' && !isLoopback(url.hostname)) {
    warn(`${label} uses plain http: the Kaixu key travels unencrypted`)
  }
  return url.href
}

/** An existing folder, as an absolute path (relative to the working directory). */
export function parseDir(value: string, label: string): string {
  const dir = path.resolve(value)
  let stat: fs.Stats
  try {
    stat = fs.statSync(dir)
  } catch {
    throw new Error(`${label}: '${value}' does not exist (resolved to ${dir})`)
  }
  if (!stat.isDirectory()) throw new Error(`${label}: '${value}' is not a directory`)
  return dir
}

/** An existing regular file (a symlink to one too), as an absolute path. */
export function parseFile(value: string, label: string): string {
  const file = path.resolve(value)
  let stat: fs.Stats
  try {
    stat = fs.statSync(file)
  } catch {
    throw new Error(`${label}: '${value}' does not exist (resolved to ${file})`)
  }
  if (!stat.isFile()) throw new Error(`${label}: '${value}' is not a file`)
  return file
}

/** `true`/`false` in the YAML 1.2 core schema spellings (as `core.getBooleanInput` takes them). */
export function parseBoolean(value: string, label: string): boolean {
  if (['true', 'True', 'TRUE'].includes(value)) return true
  if (['false', 'False', 'FALSE'].includes(value)) return false
  throw new Error(`${label} must be true or false, got '${value}'`)
}

/** A number within `range`; whole numbers only when `range.integer`. */
export function parseNumber(
  value: string,
  label: string,
  range: { min: number; max: number; integer?: boolean },
): number {
  const number = Number(value)
  const kind = range.integer ? 'a whole number' : 'a number'
  const valid =
    value.trim() !== '' && Number.isFinite(number) && (!range.integer || Number.isInteger(number))
  if (!valid || number < range.min || number > range.max) {
    throw new Error(`${label} must be ${kind} from ${range.min} to ${range.max}, got '${value}'`)
  }
  return number
}

// GitHub logins: letters, digits and single hyphens, at most 39; an App's bot adds `[bot]`.
const LOGIN_PATTERN = /^[A-Za-z0-9](?:-?[A-Za-z0-9]){0,38}(?:\[bot\])?$/

/** A GitHub login such as `octocat` or `my-app[bot]`. */
export function parseLogin(value: string, label: string): string {
  if (LOGIN_PATTERN.test(value)) return value
  throw new Error(`${label} must be a GitHub login such as 'my-app[bot]', got '${value}'`)
}

/** A Netlify alias: one DNS label of at most 37 characters. Suggests a fix when it is not. */
export function parseAlias(value: string, label: string): string {
  if (value.length <= ALIAS_MAX && ALIAS_PATTERN.test(value)) return value
  const suggestion = sanitizeAlias(value)
  throw new Error(
    `${label} must be at most ${ALIAS_MAX} lowercase letters, digits and hyphens, not ` +
      `starting or ending with a hyphen; got '${value}'` +
      (suggestion ? ` (try '${suggestion}')` : ''),
  )
}

/** Netlify's alias sanitising: lowercase, runs of other characters become one hyphen, ≤ 37. */
export function sanitizeAlias(value: string): string {
  return value
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, ALIAS_MAX)
    .replace(/^-+|-+$/g, '')
}
