// `kaixu-push token|projects|usage|history`: a client's self-service with its own Kaixu key
// (KAIXU_KEY), over the gateway's /v1 routes. Text for people by default, `--json` for scripts.
import { parseArgs } from 'node:util'
import { GatewayClient } from './gateway-client.ts'
import { PUSH_STATES, type PushState } from 'kaixu-contract'
import { getErrorMessage } from './errors.ts'
import { keepSecret, logLine, redact } from './escape.ts'
import { formatBytes, formatCents, formatUtc } from './format.ts'
import { parseGatewayUrl, parseNumber } from './validate.ts'

/** Where the CLI writes; tests capture it. */
export interface CliIo {
  out: (text: string) => void
  err: (text: string) => void
}

/** The first word that selects a subcommand instead of a push. */
export const SUBCOMMANDS = ['token', 'projects', 'usage', 'history'] as const

/** What `kaixu-push <subcommand> --help` prints (and the tail of the main usage). */
export const COMMANDS_USAGE = `Self-service with your own key (KAIXU_KEY):
  kaixu-push token set              register or rotate your Netlify token, read from
                                    NETLIFY_AUTH_TOKEN or standard input (never a flag)
  kaixu-push projects list          your projects (Netlify sites)
  kaixu-push projects add --site-id <id> --name <name>
  kaixu-push projects remove <id|name>
  kaixu-push usage [--month YYYY-MM]
  kaixu-push history [--project <id|name>] [--state <state>] [--month YYYY-MM]
                     [--limit <1-100>] [--before <cursor>]
  Each takes --gateway-url <url> (default: $KAIXU_GATEWAY_URL) and --json.
`

const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/

class UsageError extends Error {}

/** Reads all of standard input, unless it is a terminal (then nobody is piping a token in). */
async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return ''
  let text = ''
  for await (const chunk of process.stdin) text += String(chunk)
  return text
}

/**
 * Runs a subcommand; resolves with the exit status (0 done, 1 refused or failed, 2 bad usage).
 * `input` reads the token for `token set` when NETLIFY_AUTH_TOKEN is unset.
 */
export async function runCommand(
  argv: string[],
  env: NodeJS.ProcessEnv,
  io: CliIo,
  input: () => Promise<string> = readStdin,
): Promise<number> {
  keepSecret(env['KAIXU_KEY'])
  keepSecret(env['NETLIFY_AUTH_TOKEN'])
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: {
        'gateway-url': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        'site-id': { type: 'string' },
        name: { type: 'string' },
        month: { type: 'string' },
        project: { type: 'string' },
        state: { type: 'string' },
        limit: { type: 'string' },
        before: { type: 'string' },
      },
    })
  } catch (error) {
    io.err(`kaixu-push: ${getErrorMessage(error)}\n\n${COMMANDS_USAGE}`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.help) {
    io.out(COMMANDS_USAGE)
    return 0
  }
  const json = values.json === true
  const print = (value: unknown, text: () => string[]) =>
    io.out(
      json
        ? `${redact(JSON.stringify(value))}\n`
        : text()
            .map((line) => `${logLine(line)}\n`)
            .join(''),
    )

  try {
    const [command, action, ...rest] = positionals
    const only = (allowed: (keyof typeof values)[]) => {
      const common = ['gateway-url', 'json', 'help']
      for (const flag of Object.keys(values)) {
        if (!common.includes(flag) && !allowed.includes(flag as keyof typeof values)) {
          throw new UsageError(`--${flag} does not apply to '${positionals.join(' ')}'`)
        }
      }
    }
    const noMore = (extra: string[]) => {
      if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`)
    }
    const month = (value: string | undefined) => {
      if (value !== undefined && !MONTH.test(value)) {
        throw new UsageError(`--month must be YYYY-MM, got '${value}'`)
      }
      return value
    }
    const gatewayUrl = values['gateway-url'] || env['KAIXU_GATEWAY_URL']
    if (!gatewayUrl) throw new UsageError('--gateway-url is required')
    const kaixuKey = env['KAIXU_KEY']
    if (!kaixuKey) throw new UsageError('KAIXU_KEY is not set: put the Kaixu API key in it')
    let baseUrl: string
    try {
      baseUrl = parseGatewayUrl(gatewayUrl, '--gateway-url', (m) =>
        io.err(`warning: ${logLine(m)}\n`),
      )
    } catch (error) {
      throw new UsageError(getErrorMessage(error))
    }
    const client = () =>
      new GatewayClient({
        baseUrl,
        apiKey: kaixuKey,
        userAgent: 'kaixu-push-cli',
        log: (m) => io.err(`${logLine(m)}\n`),
      })

    if (command === 'token' && action === 'set') {
      only([])
      noMore(rest)
      // Not a flag: a token on the command line lands in shell history and the process list.
      const token = (env['NETLIFY_AUTH_TOKEN'] || (await input())).trim()
      if (!token) {
        throw new UsageError(
          'no Netlify token: set NETLIFY_AUTH_TOKEN or pipe the token on standard input',
        )
      }
      keepSecret(token)
      const info = await client().setNetlifyToken(token)
      print(info, () => [
        `Netlify token …${info.last4} stored` +
          (info.sitesChecked === undefined
            ? '.'
            : ` (it reaches all ${info.sitesChecked} of your sites).`),
      ])
      return 0
    }
    if (command === 'projects' && action === 'list') {
      only([])
      noMore(rest)
      const projects = await client().listProjects()
      print({ projects }, () =>
        projects.length === 0
          ? ['No projects.']
          : projects.map((p) => `${p.id}  ${p.name}  site ${p.siteId}`),
      )
      return 0
    }
    if (command === 'projects' && action === 'add') {
      only(['site-id', 'name'])
      noMore(rest)
      const siteId = values['site-id']
      const name = values.name
      if (!siteId) throw new UsageError('--site-id is required')
      if (!name) throw new UsageError('--name is required')
      const project = await client().addProject({ siteId, name })
      print(project, () => [`Added ${project.name} (${project.id}) on site ${project.siteId}.`])
      return 0
    }
    if (command === 'projects' && action === 'remove') {
      only([])
      const [target, ...extra] = rest
      if (!target) throw new UsageError('projects remove needs a project id or name')
      noMore(extra)
      const project = await client().removeProject(target)
      print(project, () => [
        `Removed ${project.name} (${project.id}); its deploy history stays readable.`,
      ])
      return 0
    }
    if (command === 'usage' && action === undefined) {
      only(['month'])
      const report = await client().usage(month(values.month))
      print(report, () => {
        const limits = report.limits
        return [
          `month: ${report.month}`,
          `deploys: ${report.deploys}${limits ? ` of ${limits.deploys.limit}` : ''}`,
          `bytes: ${formatBytes(report.bytes)}${limits ? ` of ${formatBytes(limits.bytes.limit)}` : ''}`,
          `cost: ${formatCents(report.costCents)}`,
        ]
      })
      return 0
    }
    if (command === 'history' && action === undefined) {
      only(['project', 'state', 'month', 'limit', 'before'])
      const state = values.state
      if (state !== undefined && !(PUSH_STATES as readonly string[]).includes(state)) {
        throw new UsageError(`--state must be one of ${PUSH_STATES.join(', ')}, got '${state}'`)
      }
      let limit: number | undefined
      if (values.limit !== undefined) {
        try {
          limit = parseNumber(values.limit, '--limit', { min: 1, max: 100, integer: true })
        } catch (error) {
          throw new UsageError(getErrorMessage(error))
        }
      }
      const page = await client().history({
        ...(values.project ? { project: values.project } : {}),
        ...(state ? { state: state as PushState } : {}),
        ...(values.month ? { month: month(values.month)! } : {}),
        ...(limit ? { limit } : {}),
        ...(values.before ? { before: values.before } : {}),
      })
      print(page, () => [
        ...(page.pushes.length === 0 ? ['No pushes.'] : []),
        ...page.pushes.map((p) =>
          [
            formatUtc(p.createdAt),
            p.pushId,
            p.project.name,
            p.state,
            `${p.files.total} files`,
            formatBytes(p.bytesUploaded),
            p.deploy_ssl_url ?? p.error_message ?? '',
          ].join('  '),
        ),
        ...(page.next ? [`older: kaixu-push history --before ${page.next}`] : []),
      ])
      return 0
    }
    throw new UsageError(`unknown command '${positionals.join(' ')}'`)
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`kaixu-push: ${logLine(error.message)}\n\n${COMMANDS_USAGE}`)
      return 2
    }
    io.err(`kaixu-push: ${logLine(getErrorMessage(error))}\n`)
    return 1
  }
}
