import * as core from '@actions/core'
import { keepSecret } from './escape.ts'
import { ACTIONS_BOT } from './pr-comment.ts'
import {
  parseAlias,
  parseBoolean,
  parseDir,
  parseFile,
  parseGatewayUrl,
  parseLogin,
  parseNumber,
} from './validate.ts'

/** The Action's inputs, parsed and checked; see `action.yml` for each one's meaning. */
export interface ActionInputs {
  readonly gatewayUrl: string
  /** Undefined when empty: a fork's pull request gets no secrets, and that is not an error. */
  readonly kaixuKey: string | undefined
  readonly project: string
  /** Absolute path of the folder to deploy. */
  readonly dir: string
  readonly wait: boolean
  /** Undefined: decided by the target (previews are drafts, production is not). */
  readonly draft: boolean | undefined
  /** Undefined: `pr-<number>` on pull requests, none otherwise. */
  readonly alias: string | undefined
  /** Undefined: the repository's default branch. */
  readonly productionBranch: string | undefined
  /** Undefined: `production` or `preview`. */
  readonly environment: string | undefined
  /** The pull request a `workflow_run` deploys for; undefined: from the event. */
  readonly prNumber: number | undefined
  readonly timeoutMinutes: number
  readonly concurrency: number
  /** Undefined when empty: no comment and no deployment then. */
  readonly githubToken: string | undefined
  readonly comment: boolean
  /** The login whose marker comment is ours when the token cannot say (`GET /user`). */
  readonly commentAuthor: string
  readonly githubDeployment: boolean
  readonly failWithoutCredentials: boolean
  readonly dryRun: boolean
  /** The deploy's title in Netlify; undefined: the PR title or commit subject (`deployTitle`). */
  readonly deployMessage: string | undefined
  /** The `netlify.toml` to deploy (absolute); undefined: found in `dir` or the workspace. */
  readonly netlifyConfigPath: string | undefined
  /** The Netlify Functions folder (absolute); undefined: from netlify.toml, else none. */
  readonly functionsDir: string | undefined
  /** Glob patterns (one a line) of the files of `dir` to deploy; empty: all of them. */
  readonly include: readonly string[]
  /** Glob patterns of the files of `dir` never to deploy (nor read). */
  readonly exclude: readonly string[]
}

/**
 * Reads every input once (the only `core.getInput` caller), validates it and returns a frozen
 * object. Throws an error naming the input when one is missing or invalid.
 */
export function getInputs(): ActionInputs {
  // Mask the secrets before anything else can fail and print them.
  // keepSecret: masking covers the log only; messages published elsewhere are redacted too.
  const kaixuKey = core.getInput('kaixu-key')
  if (kaixuKey) core.setSecret(kaixuKey)
  keepSecret(kaixuKey)
  const githubToken = core.getInput('github-token')
  if (githubToken) core.setSecret(githubToken)
  keepSecret(githubToken)

  const gatewayUrl = parseGatewayUrl(required('gateway-url'), label('gateway-url'), core.warning)
  const project = required('project')
  const dir = parseDir(required('dir'), label('dir'))
  const alias = optional('alias')
  const netlifyConfigPath = optional('netlify-config-path')
  const prNumber = optional('pr-number')
  const functionsDir = optional('functions-dir')

  const inputs: ActionInputs = Object.freeze({
    gatewayUrl,
    kaixuKey: kaixuKey || undefined,
    project,
    dir,
    wait: boolean('wait', true),
    draft: core.getInput('draft') === '' ? undefined : boolean('draft', false),
    alias: alias === undefined ? undefined : parseAlias(alias, label('alias')),
    productionBranch: optional('production-branch'),
    environment: optional('environment'),
    prNumber:
      prNumber === undefined
        ? undefined
        : parseNumber(prNumber.replace(/^#/, ''), label('pr-number'), {
            min: 1,
            max: Number.MAX_SAFE_INTEGER,
            integer: true,
          }),
    timeoutMinutes: number('timeout-minutes', 20, { min: 0.1, max: 360 }),
    concurrency: number('concurrency', 8, { min: 1, max: 32, integer: true }),
    githubToken: githubToken || undefined,
    comment: boolean('comment', true),
    commentAuthor: parseLogin(optional('comment-author') ?? ACTIONS_BOT, label('comment-author')),
    githubDeployment: parseDeploymentSwitch(core.getInput('github-deployment')),
    failWithoutCredentials: boolean('fail-without-credentials', false),
    dryRun: boolean('dry-run', false),
    deployMessage: optional('deploy-message'),
    functionsDir:
      functionsDir === undefined ? undefined : parseDir(functionsDir, label('functions-dir')),
    include: lines('include'),
    exclude: lines('exclude'),
    netlifyConfigPath:
      netlifyConfigPath === undefined
        ? undefined
        : parseFile(netlifyConfigPath, label('netlify-config-path')),
  })
  for (const [name, value] of Object.entries(inputs)) {
    if (name !== 'kaixuKey' && name !== 'githubToken') core.debug(`${name} = ${String(value)}`)
  }
  return inputs
}

const label = (name: string) => `Input '${name}'`

function required(name: string): string {
  const value = core.getInput(name)
  if (!value) throw new Error(`${label(name)} is required and was not supplied`)
  return value
}

function optional(name: string): string | undefined {
  return core.getInput(name) || undefined
}

/** A multi-line input's non-empty lines, trimmed (as `core.getMultilineInput`). */
function lines(name: string): string[] {
  return core
    .getInput(name)
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '')
}

function boolean(name: string, fallback: boolean): boolean {
  const value = core.getInput(name)
  return value === '' ? fallback : parseBoolean(value, label(name))
}

function number(
  name: string,
  fallback: number,
  range: { min: number; max: number; integer?: boolean },
): number {
  const value = core.getInput(name)
  return value === '' ? fallback : parseNumber(value, label(name), range)
}

/**
 * `auto` (the default) means on. A step cannot see whether its job declares `environment:` (the
 * runner exposes no such variable: actions/runner#1369), so jobs that do must say `false`; the
 * job's own environment then records the deployment and ours would be a duplicate.
 */
function parseDeploymentSwitch(value: string): boolean {
  if (value === '' || value === 'auto') return true
  if (['true', 'True', 'TRUE', 'false', 'False', 'FALSE'].includes(value)) {
    return parseBoolean(value, label('github-deployment'))
  }
  throw new Error(`${label('github-deployment')} must be true, false or auto, got '${value}'`)
}
