// `kaixu-push`: the same push as the Action, for any CI (GitLab, Jenkins, a laptop). Nothing here
// knows GitHub: no @actions/*, no comments, no deployments; flags in, log on stderr, result on
// stdout.
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { digestDir } from './files.ts'
import { addSiteFiles, CONFIG_NAME } from './site.ts'
import { bundleFunctions, type FunctionBundle } from './functions.ts'
import { selectFiles } from './select.ts'
import { COMMANDS_USAGE, SUBCOMMANDS, runCommand, type CliIo } from './cli-commands.ts'
import { detectCi } from './ci-env.ts'
import { KaixuPush } from './client/kaixu-push.ts'
import { DOTENV_VARIABLES, writeDotenv } from './dotenv.ts'
import { DeployTimeoutError, PushError } from './deploy.ts'
import { getErrorMessage } from './errors.ts'
import { keepSecret, logLine, redact } from './escape.ts'
import { formatBytes, formatCents, formatDuration } from './format.ts'
import { parseAlias, parseDir, parseFile, parseGatewayUrl, parseNumber } from './validate.ts'
import type { PushResult, Reporter } from './deploy.ts'
import type { PlanResult } from './plan.ts'
import type { CiEnv } from './ci-env.ts'

/** The CLI's settings, parsed from flags and the environment. */
export interface CliOptions {
  dir: string
  project: string
  gatewayUrl: string
  kaixuKey: string
  /** A draft unless `--prod`: its own URL (or the alias URL), production untouched. */
  draft: boolean
  alias: string | undefined
  title: string | undefined
  /** The `netlify.toml` to deploy; undefined: found in `dir` or the working directory. */
  netlifyConfig: string | undefined
  /** The Netlify Functions folder; undefined: from netlify.toml, else none. */
  functions: string | undefined
  /** Glob patterns of the files of `dir` to deploy (`--include`, repeatable); empty: all. */
  include: string[]
  /** Glob patterns of the files never to deploy nor read (`--exclude`, repeatable). */
  exclude: string[]
  wait: boolean
  timeoutMinutes: number
  concurrency: number
  dryRun: boolean
  json: boolean
  /** `--dotenv`: the file to write the deploy's URLs to, as an absolute path. */
  dotenv: string | undefined
  /** The CI system the CLI runs in, if it is one of those `detectCi` knows. */
  ci: CiEnv | undefined
}

// Declared with the subcommands (cli-commands.ts), which this module imports.
export type { CliIo } from './cli-commands.ts'

/** What `kaixu-push --help` prints. */
export const USAGE = `Usage: kaixu-push --dir <folder> --project <id or name> --gateway-url <url> [options]

Deploys a folder to Netlify through a Kaixu gateway, uploading only what changed: a draft
preview unless --prod. The Kaixu API key is read from the KAIXU_KEY environment variable.
In GitLab CI, CircleCI, Bitbucket Pipelines and Buildkite the title, and in a merge or pull
request pipeline the alias (mr-<iid>, pr-<number>), come from the CI's variables.

Options:
  --dir <folder>          the folder to deploy (required)
  --project <id|name>     the gateway project (required)
  --gateway-url <url>     the gateway's base URL (default: $KAIXU_GATEWAY_URL)
  --prod                  publish to production (refused in a merge/pull request pipeline)
  --draft                 deploy a draft (the default): its own URL, production untouched
  --alias <name>          the draft's stable alias URL (default in a merge request: mr-<iid>)
  --title <text>          the deploy title Netlify shows (default: from the CI)
  --dotenv <file>         write ${Object.keys(DOTENV_VARIABLES).join(', ')} to it
  --netlify-config <file> the netlify.toml to deploy (default: in --dir, else ./netlify.toml)
  --functions <folder>    the Netlify Functions to bundle and deploy (default: from netlify.toml)
  --include <glob>        deploy only the files of --dir matching it (repeatable)
  --exclude <glob>        never deploy nor read the files matching it (repeatable)
  --no-wait               end once the deploy is queued, without waiting for it
  --timeout-minutes <n>   deadline of the whole push (default 20)
  --concurrency <n>       uploads in flight, 1 to 32 (default 8)
  --dry-run               say what would be uploaded and what it would cost; deploy nothing
  --json                  print the result as JSON on stdout
  -h, --help              show this help

${COMMANDS_USAGE}
Exit status: 0 deployed (or planned, or done), 1 failed, 2 bad usage.
`

/** A usage mistake: exit status 2 and the usage hint. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

/**
 * Parses the command line and the environment (`KAIXU_KEY`, `KAIXU_GATEWAY_URL`). Throws a
 * `UsageError` naming the flag at fault. Undefined for `--help`.
 */
export function parseCliArgs(
  argv: string[],
  env: NodeJS.ProcessEnv,
  warn: (message: string) => void,
): CliOptions | undefined {
  let values
  try {
    ;({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      allowNegative: true,
      options: {
        dir: { type: 'string' },
        project: { type: 'string' },
        'gateway-url': { type: 'string' },
        prod: { type: 'boolean' },
        draft: { type: 'boolean' },
        dotenv: { type: 'string' },
        alias: { type: 'string' },
        title: { type: 'string' },
        'netlify-config': { type: 'string' },
        functions: { type: 'string' },
        include: { type: 'string', multiple: true },
        exclude: { type: 'string', multiple: true },
        wait: { type: 'boolean', default: true },
        'timeout-minutes': { type: 'string' },
        concurrency: { type: 'string' },
        'dry-run': { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }))
  } catch (error) {
    throw new UsageError(getErrorMessage(error))
  }
  if (values.help) return undefined

  const need = (value: string | undefined, flag: string) => {
    if (!value) throw new UsageError(`${flag} is required`)
    return value
  }
  const usage = <T>(parse: () => T): T => {
    try {
      return parse()
    } catch (error) {
      throw new UsageError(getErrorMessage(error))
    }
  }
  const gatewayUrl = need(values['gateway-url'] || env['KAIXU_GATEWAY_URL'], '--gateway-url')
  const kaixuKey = env['KAIXU_KEY']
  if (!kaixuKey) throw new UsageError('KAIXU_KEY is not set: put the Kaixu API key in it')
  const prod = values.prod === true
  if (prod && values.draft === true) throw new UsageError('--prod and --draft exclude each other')
  if (prod && values.alias !== undefined) {
    throw new UsageError('--alias makes a draft: it cannot go with --prod')
  }
  const ci = detectCi(env)
  if (prod && ci?.changeRequest) {
    // The README's production command copied into a merge request pipeline must not publish
    // whatever the merge request holds.
    throw new UsageError(
      `--prod is refused in a ${ci.name} pipeline for ${ci.changeRequest.label}: it deploys a ` +
        'draft preview (drop --prod). Publish from the production branch’s pipeline.',
    )
  }
  const alias = values.alias ?? (prod ? undefined : ci?.changeRequest?.alias)
  const dotenv = values.dotenv
  const timeout = values['timeout-minutes']
  const concurrency = values.concurrency
  return {
    dir: usage(() => parseDir(need(values.dir, '--dir'), '--dir')),
    project: need(values.project, '--project'),
    gatewayUrl: usage(() => parseGatewayUrl(gatewayUrl, '--gateway-url', warn)),
    kaixuKey,
    draft: !prod,
    alias: alias === undefined ? undefined : usage(() => parseAlias(alias, '--alias')),
    title: values.title || ci?.title,
    netlifyConfig:
      values['netlify-config'] === undefined
        ? undefined
        : usage(() => parseFile(values['netlify-config']!, '--netlify-config')),
    functions:
      values.functions === undefined
        ? undefined
        : usage(() => parseDir(values.functions!, '--functions')),
    include: values.include ?? [],
    exclude: values.exclude ?? [],
    wait: values.wait !== false,
    timeoutMinutes:
      timeout === undefined
        ? 20
        : usage(() => parseNumber(timeout, '--timeout-minutes', { min: 0.1, max: 360 })),
    concurrency:
      concurrency === undefined
        ? 8
        : usage(() =>
            parseNumber(concurrency, '--concurrency', { min: 1, max: 32, integer: true }),
          ),
    dryRun: values['dry-run'] === true,
    json: values.json === true,
    dotenv: dotenv === undefined ? undefined : usage(() => parseOutputFile(dotenv, '--dotenv')),
    ci,
  }
}

// A file to write: its folder must exist, so a typo fails before the deploy rather than after.
function parseOutputFile(value: string, label: string): string {
  const file = path.resolve(value)
  parseDir(path.dirname(file), label)
  if (fs.statSync(file, { throwIfNoEntry: false })?.isDirectory()) {
    throw new Error(`${label}: '${value}' is a directory, not a file`)
  }
  return file
}

/**
 * Runs the CLI; resolves with the exit status. `interrupt` aborts with the signal's name
 * (SIGINT, SIGTERM): the push in flight is then cancelled at the gateway, and the status is
 * 130 or 143 as a shell reports a killed command.
 */
export async function runCli(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  io: CliIo = {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
  },
  interrupt?: AbortSignal,
): Promise<number> {
  // Each message is one line (logLine): a file name or gateway text cannot forge another one,
  // and the key never shows.
  keepSecret(env['KAIXU_KEY'])
  if ((SUBCOMMANDS as readonly string[]).includes(argv[0] ?? '')) return runCommand(argv, env, io)
  const reporter: Reporter = {
    info: (message) => io.err(`${logLine(message)}\n`),
    warning: (message) => io.err(`warning: ${logLine(message)}\n`),
    debug: (message) => {
      if (env['KAIXU_DEBUG']) io.err(`debug: ${logLine(message)}\n`)
    },
  }
  let options: CliOptions | undefined
  try {
    options = parseCliArgs(argv, env, reporter.warning)
  } catch (error) {
    io.err(`kaixu-push: ${getErrorMessage(error)}\n\n${USAGE}`)
    return 2
  }
  if (!options) {
    io.out(USAGE)
    return 0
  }

  reporter.info(describeTarget(options))
  let functions: FunctionBundle | undefined
  try {
    const started = Date.now()
    const digest = await addSiteFiles(
      await digestDir(options.dir, {
        // Netlify skips node_modules when the publish folder is the base folder (here: cwd).
        skipNodeModules: isSameDir(options.dir, process.cwd()),
        warn: reporter.warning,
        select: await selectFiles(options.dir, options.include, options.exclude),
      }),
      {
        dir: options.dir,
        root: process.cwd(),
        configPath: options.netlifyConfig,
        warn: reporter.warning,
      },
    )
    if (digest.count === 0) {
      throw new Error(`--dir: ${options.dir} holds no files to deploy (dotfiles are skipped)`)
    }
    reporter.info(
      `Digest of ${options.dir}: ${digest.count} files, ${formatBytes(digest.totalBytes)} ` +
        `in ${formatDuration(Date.now() - started)}`,
    )
    functions = await bundleFunctions({
      dir: options.functions,
      configFile: digest.byPath.get(CONFIG_NAME)?.absPath,
      root: process.cwd(),
      info: reporter.info,
      warn: reporter.warning,
    })
    const kaixu = new KaixuPush({
      gatewayUrl: options.gatewayUrl,
      apiKey: options.kaixuKey,
      userAgent: 'kaixu-push-cli',
      reporter,
    })
    const timeoutMs = options.timeoutMinutes * 60_000
    if (options.dryRun) {
      const plan = await kaixu.planDigest(digest, {
        project: options.project,
        draft: options.draft,
        ...(options.alias ? { alias: options.alias } : {}),
        timeoutMs,
        functions,
      })
      io.out(options.json ? `${JSON.stringify(planJson(plan))}\n` : '')
      if (options.dotenv)
        reporter.info('--dotenv: a dry run deploys nothing, so nothing is written')
      return 0
    }
    // Interrupted, the push is cancelled at the gateway before this rejects.
    const result = await kaixu.pushDigest(digest, {
      project: options.project,
      draft: options.draft,
      wait: options.wait,
      timeoutMs,
      concurrency: options.concurrency,
      ...(options.alias ? { alias: options.alias } : {}),
      ...(options.title ? { title: options.title } : {}),
      functions,
      ...(interrupt ? { signal: interrupt } : {}),
    })
    if (options.dotenv) writeDotenv(options.dotenv, result, reporter.warning)
    io.out(options.json ? `${JSON.stringify(resultJson(result))}\n` : describeResult(result))
    return 0
  } catch (error) {
    if (interrupt?.aborted) {
      io.err(`kaixu-push: interrupted by ${String(interrupt.reason)}\n`)
      return interrupt.reason === 'SIGTERM' ? 143 : 130
    }
    let message = redact(getErrorMessage(error))
    if (error instanceof Error && error.cause instanceof DeployTimeoutError) {
      message += '. Raise --timeout-minutes to wait longer.'
    }
    io.err(`kaixu-push: ${logLine(message)}\n`)
    if (options.json && error instanceof PushError) {
      io.out(`${JSON.stringify({ ...resultJson(error.result), error: message })}\n`)
    }
    return 1
  } finally {
    await functions?.dispose()
  }
}

/** One line on where the deploy goes and why, since a draft is the default. */
function describeTarget(options: CliOptions): string {
  const where = options.ci
    ? `${options.ci.name}${options.ci.changeRequest ? `, ${options.ci.changeRequest.label}` : ''}: `
    : ''
  if (!options.draft) return `${where}deploying to production (--prod)`
  const alias = options.alias ? ` aliased ${options.alias}` : ''
  return `${where}deploying a draft${alias}; production is untouched (--prod publishes)`
}

function describeResult(result: PushResult): string {
  const lines = [
    `state: ${result.state ?? 'unknown'}`,
    result.deployUrl && `deploy-url: ${result.deployUrl}`,
    result.siteUrl && `site-url: ${result.siteUrl}`,
    result.deployLogUrl && `deploy-log-url: ${result.deployLogUrl}`,
    `files: ${result.filesTotal} total, ${result.filesUploaded} uploaded (${formatBytes(result.bytesUploaded)})`,
    result.functionsTotal === undefined
      ? undefined
      : `functions: ${result.functionsTotal} total, ${result.functionsUploaded ?? 0} uploaded`,
    result.costCents === undefined ? undefined : `cost: ${formatCents(result.costCents)}`,
  ]
  return `${lines.filter(Boolean).join('\n')}\n`
}

// The same names as the Action's outputs, so scripts can move between the two.
function resultJson(result: PushResult) {
  return {
    'push-id': result.pushId,
    'deploy-id': result.deployId,
    'deploy-url': result.deployUrl,
    'site-url': result.siteUrl,
    'deploy-log-url': result.deployLogUrl,
    state: result.state,
    'files-total': result.filesTotal,
    'files-changed': result.filesRequired,
    'files-uploaded': result.filesUploaded,
    'bytes-uploaded': result.bytesUploaded,
    'functions-total': result.functionsTotal,
    'functions-uploaded': result.functionsUploaded,
    'cost-cents': result.costCents,
  }
}

function planJson(plan: PlanResult) {
  return {
    state: 'planned',
    'files-total': plan.filesTotal,
    'files-changed': plan.filesToUpload,
    'bytes-to-upload': plan.bytesToUpload,
    'functions-to-upload': plan.functionsToUpload,
    'estimated-cost-cents': plan.estimatedCostCents,
  }
}

function isSameDir(a: string, b: string): boolean {
  try {
    return fs.realpathSync(a) === fs.realpathSync(path.resolve(b))
  } catch {
    return false
  }
}
