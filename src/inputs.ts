import fs from 'node:fs'
import path from 'node:path'
import * as core from '@actions/core'

/** The Action's inputs, parsed and checked; see `action.yml` for each one's meaning. */
export interface ActionInputs {
  readonly gatewayUrl: string
  readonly kaixuKey: string
  readonly project: string
  /** Absolute path of the folder to deploy. */
  readonly dir: string
  readonly wait: boolean
  readonly draft: boolean
  readonly alias: string | undefined
  readonly timeoutMinutes: number
  readonly concurrency: number
}

const ALIAS_MAX = 37
// Netlify puts the alias in a host name (`<alias>--<site>.netlify.app`): one DNS label.
const ALIAS_PATTERN = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/

/**
 * Reads every input once (the only `core.getInput` caller), validates it and returns a frozen
 * object. Throws an error naming the input when one is missing or invalid.
 */
export function getInputs(): ActionInputs {
  // Mask the key before anything else can fail and print it.
  const kaixuKey = core.getInput('kaixu-key')
  if (kaixuKey) core.setSecret(kaixuKey)

  const gatewayUrl = parseGatewayUrl(required('gateway-url'))
  required('kaixu-key')
  const project = required('project')
  const dir = parseDir(required('dir'))
  const wait = parseBoolean('wait', true)
  const draft = parseBoolean('draft', false)
  const alias = parseAlias(core.getInput('alias'))
  const timeoutMinutes = parseNumber('timeout-minutes', 10, { min: 0.1, max: 360 })
  const concurrency = parseNumber('concurrency', 8, { min: 1, max: 32, integer: true })

  const inputs: ActionInputs = Object.freeze({
    gatewayUrl,
    kaixuKey,
    project,
    dir,
    wait,
    draft,
    alias,
    timeoutMinutes,
    concurrency,
  })
  for (const [name, value] of Object.entries(inputs)) {
    if (name !== 'kaixuKey') core.debug(`${name} = ${String(value)}`)
  }
  return inputs
}

function required(name: string): string {
  const value = core.getInput(name)
  if (!value) throw new Error(`Input '${name}' is required and was not supplied`)
  return value
}

function parseGatewayUrl(value: string): string {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new Error(`Input 'gateway-url' must be an http(s) URL, got '${value}'`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`Input 'gateway-url' must be an http(s) URL, got '${value}'`)
  }
  if (url.protocol === 'http:' && !isLoopback(url.hostname)) {
    core.warning(`Input 'gateway-url' uses plain http: the Kaixu key travels unencrypted`)
  }
  return url.href
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || hostname.startsWith('127.')
}

function parseDir(value: string): string {
  // The runner starts the step in the workspace, so a relative path means the checkout.
  const dir = path.resolve(value)
  let stat: fs.Stats
  try {
    stat = fs.statSync(dir)
  } catch {
    throw new Error(`Input 'dir': '${value}' does not exist (resolved to ${dir})`)
  }
  if (!stat.isDirectory()) throw new Error(`Input 'dir': '${value}' is not a directory`)
  return dir
}

function parseBoolean(name: string, fallback: boolean): boolean {
  const value = core.getInput(name)
  if (value === '') return fallback
  // The YAML 1.2 core schema spellings, as core.getBooleanInput accepts them.
  if (['true', 'True', 'TRUE'].includes(value)) return true
  if (['false', 'False', 'FALSE'].includes(value)) return false
  throw new Error(`Input '${name}' must be true or false, got '${value}'`)
}

function parseNumber(
  name: string,
  fallback: number,
  range: { min: number; max: number; integer?: boolean },
): number {
  const value = core.getInput(name)
  if (value === '') return fallback
  const number = Number(value)
  const kind = range.integer ? 'a whole number' : 'a number'
  const valid = Number.isFinite(number) && (!range.integer || Number.isInteger(number))
  if (!valid || number < range.min || number > range.max) {
    throw new Error(
      `Input '${name}' must be ${kind} from ${range.min} to ${range.max}, got '${value}'`,
    )
  }
  return number
}

function parseAlias(value: string): string | undefined {
  if (value === '') return undefined
  if (value.length <= ALIAS_MAX && ALIAS_PATTERN.test(value)) return value
  const suggestion = sanitizeAlias(value)
  throw new Error(
    `Input 'alias' must be at most ${ALIAS_MAX} lowercase letters, digits and hyphens, not ` +
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
