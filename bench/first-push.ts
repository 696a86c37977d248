/**
 * Benchmark (issue 8, scenario 2): the first push of a 500-file site (every file required), ours
 * (the bundled Action through an in-process gateway to its Netlify sandbox) against
 * `netlify deploy --no-build` of netlify-cli 27 on the same sandbox. Two cases: the sandbox's
 * request limit lifted, and at Netlify's 500 requests a minute, where both sides must wait for a
 * window reset and we count the 429s the sandbox answered. Each run gets a fresh site and token,
 * and the sandbox's rate windows are cleared before it, so every run starts with a full budget.
 */
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import {
  createTenant,
  startTestGateway,
  type TestGateway,
} from '../gateway/test/helpers/gateway.ts'
import { CLI, FILE_PUT, cliEnv, ensureNetlifyCli, timedActionPush, writeSite } from './push.ts'
import { summarize, type Summary } from './stats.ts'

const root = resolve(import.meta.dirname, '..')
const FILES = 500
const NETLIFY_LIMIT = 500
const RUNS = Math.max(3, Number(process.env['BENCH_RUNS'] ?? 3))
/** Runs per side at 500/min: each takes about a minute, so one unless asked for more. */
const LIMITED_RUNS = Math.max(1, Number(process.env['BENCH_FIRST_PUSH_LIMITED_RUNS'] ?? 3))

/** The parts of `GET /__sandbox/stats` this benchmark reads. */
interface SandboxCounters {
  requests: Record<string, number>
  filePuts: number
  filePutsBySha: Record<string, number>
  rateLimited: number
  concurrencyLimited: number
  deployRateLimited: number
}

export interface FirstPushRun {
  wallMs: number
  /** Per phase, from the Action's job summary (ours only). */
  phases?: Record<string, number>
  /** Netlify API requests received, 429s included. */
  netlifyRequests: number
  /** File PUT requests received (429s included) and accepted. */
  filePutRequests: number
  filePuts: number
  /** Distinct SHA-1s among the accepted file PUTs. */
  distinctShas: number
  /** 429s the sandbox answered: request window, upload concurrency, deploy creations. */
  rateLimited: number
  concurrencyLimited: number
  deployRateLimited: number
}

export interface FirstPushSide {
  wall: Summary
  runs: FirstPushRun[]
}

export interface FirstPushCase {
  /** Sandbox requests per minute per token; null: lifted. */
  rateLimitPerMinute: number | null
  ours: FirstPushSide
  netlifyCli?: FirstPushSide
  /** ours median ÷ netlify-cli median. */
  ratio?: number
  /** What ours must reach: ratio ≤ 0.5 (lifted), ≤ 1 (500/min). */
  target: number
}

export interface FirstPushResult {
  files: number
  /** Distinct SHA-1s in the site: the file PUTs there should be. */
  distinctShas: number
  netlifyCliVersion?: string
  /** Why netlify-cli was not measured, when it was not. */
  netlifyCliSkipped?: string
  lifted: FirstPushCase
  limited: FirstPushCase
  commands: Record<string, string>
}

async function control(gw: TestGateway, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${gw.url}/__sandbox${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  })
  if (!res.ok) throw new Error(`sandbox ${path}: ${res.status} ${await res.text()}`)
  return res.json()
}

/** Sets the limit (which also clears every token's window) and zeroes the counters. */
async function prepareSandbox(gw: TestGateway, limit: number | null): Promise<void> {
  await control(gw, '/config', { rateLimitPerMinute: limit })
  await control(gw, '/stats/reset', {})
}

async function counters(gw: TestGateway, wallMs: number): Promise<FirstPushRun> {
  const s = (await control(gw, '/stats')) as SandboxCounters
  return {
    wallMs,
    netlifyRequests: Object.values(s.requests).reduce((a, b) => a + b, 0),
    filePutRequests: s.requests[FILE_PUT] ?? 0,
    filePuts: s.filePuts,
    distinctShas: Object.keys(s.filePutsBySha).length,
    rateLimited: s.rateLimited,
    concurrencyLimited: s.concurrencyLimited,
    deployRateLimited: s.deployRateLimited,
  }
}

async function oursOnce(gw: TestGateway, dir: string, limit: number | null): Promise<FirstPushRun> {
  const tenant = await createTenant(gw, 'Bench')
  await prepareSandbox(gw, limit)
  const { wallMs, phases } = await timedActionPush(gw, tenant.key, tenant.projectName, dir)
  return { ...(await counters(gw, wallMs)), phases }
}

async function cliOnce(
  gw: TestGateway,
  dir: string,
  home: string,
  limit: number | null,
): Promise<FirstPushRun> {
  const tenant = await createTenant(gw, 'Baseline')
  await prepareSandbox(gw, limit)
  const started = performance.now()
  const args = [CLI, 'deploy', '--no-build', '--prod', '--json', '--dir', dir]
  const out = await new Promise<{ code: number; stderr: string }>((done) => {
    const child = spawn(process.execPath, [...args, '--site', tenant.projectName], {
      cwd: home, // outside the repository's npm workspaces (see bench/push.ts)
      env: cliEnv(`${gw.url}/api/v1`, tenant.netlifyToken, home),
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    child.on('close', (code) => done({ code: code ?? 1, stderr }))
  })
  const wallMs = performance.now() - started
  if (out.code !== 0) throw new Error(`netlify deploy failed (${out.code}):\n${out.stderr}`)
  return counters(gw, wallMs)
}

async function measureCase(
  gw: TestGateway,
  dir: string,
  home: string,
  limit: number | null,
  runs: number,
  cli: boolean,
  target: number,
): Promise<FirstPushCase> {
  const ours: FirstPushRun[] = []
  const theirs: FirstPushRun[] = []
  const label = limit === null ? 'lifted' : `${limit}/min`
  for (let round = 1; round <= runs; round++) {
    // Alternate who goes first, so neither always gets the warmer machine.
    const order = round % 2 ? ['ours', 'cli'] : ['cli', 'ours']
    for (const side of order) {
      if (side === 'ours') ours.push(await oursOnce(gw, dir, limit))
      else if (cli) theirs.push(await cliOnce(gw, dir, home, limit))
    }
    const o = ours.at(-1)!
    const t = theirs.at(-1)
    console.log(
      `  ${label} round ${round}: ours ${o.wallMs.toFixed(0)} ms (${o.filePuts} PUTs, ` +
        `${o.rateLimited + o.concurrencyLimited} 429s)` +
        (t
          ? `, netlify-cli ${t.wallMs.toFixed(0)} ms (${t.filePuts} PUTs, ` +
            `${t.rateLimited + t.concurrencyLimited} 429s)`
          : ''),
    )
  }
  const result: FirstPushCase = {
    rateLimitPerMinute: limit,
    ours: { wall: summarize(ours.map((r) => r.wallMs)), runs: ours },
    target,
  }
  if (cli) {
    result.netlifyCli = { wall: summarize(theirs.map((r) => r.wallMs)), runs: theirs }
    result.ratio = result.ours.wall.median / result.netlifyCli.wall.median
  }
  return result
}

/** Runs both cases; netlify-cli is skipped (with the reason) if it cannot be installed. */
export async function benchFirstPush(): Promise<FirstPushResult> {
  const work = await mkdtemp(join(tmpdir(), 'kaixu-bench-first-push-'))
  const gw = await startTestGateway('pglite', { LOG_LEVEL: 'silent' })
  try {
    const dir = join(work, 'site')
    const home = join(work, 'home')
    await mkdir(home)
    // Random contents: 500 distinct SHA-1s. Every run is on a fresh site, so all are required.
    await writeSite(dir)

    let version: string | undefined
    let skipped: string | undefined
    try {
      version = await ensureNetlifyCli()
    } catch (error) {
      skipped = `netlify-cli could not be installed or started: ${(error as Error).message}`
    }
    const lifted = await measureCase(gw, dir, home, null, RUNS, !skipped, 0.5)
    const limited = await measureCase(gw, dir, home, NETLIFY_LIMIT, LIMITED_RUNS, !skipped, 1)
    await control(gw, '/config', { rateLimitPerMinute: NETLIFY_LIMIT })
    return {
      files: FILES,
      distinctShas: FILES,
      ...(version ? { netlifyCliVersion: version } : {}),
      ...(skipped ? { netlifyCliSkipped: skipped } : {}),
      lifted,
      limited,
      commands: {
        ours: 'node dist/index.js (INPUT_GATEWAY-URL=<gateway>, INPUT_PROJECT=<fresh site>, INPUT_DIR=<site dir>)',
        netlifyCli: `NETLIFY_API_URL=<gateway>/api/v1 NETLIFY_AUTH_TOKEN=<fresh token> node ${CLI.replace(root + '/', '')} deploy --no-build --prod --json --dir <site dir> --site <fresh site>`,
        sandbox: 'POST /__sandbox/config {"rateLimitPerMinute": null | 500} before each run',
        bench: 'node bench/first-push.ts (BENCH_RUNS, BENCH_FIRST_PUSH_LIMITED_RUNS)',
      },
    }
  } finally {
    await gw.stop()
    await rm(work, { recursive: true, force: true })
  }
}

/** The Markdown section for docs/benchmarks.md. */
export function firstPushSection(r: FirstPushResult): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`
  const wall = (side: FirstPushSide) =>
    `${s(side.wall.median)} (min ${s(side.wall.min)}, max ${s(side.wall.max)}, n=${side.runs.length})`
  const sum = (runs: FirstPushRun[], pick: (run: FirstPushRun) => number) =>
    runs.map(pick).join(' / ')
  const puts = (side: FirstPushSide) =>
    `${sum(side.runs, (x) => x.filePuts)} (distinct SHA-1s ${sum(side.runs, (x) => x.distinctShas)})`
  const refusals = (side: FirstPushSide) =>
    sum(side.runs, (x) => x.rateLimited + x.concurrencyLimited + x.deployRateLimited)
  const lines = [
    `### First push of ${r.files} files (${r.distinctShas} distinct SHA-1s), fresh site each run`,
    '',
    '| case | ours (Action → gateway → sandbox) | netlify-cli | ratio | target |',
    '| --- | --- | --- | --- | --- |',
  ]
  for (const c of [r.lifted, r.limited]) {
    const name = c.rateLimitPerMinute === null ? 'rate limit lifted' : `${c.rateLimitPerMinute}/min`
    const verdict =
      c.ratio === undefined
        ? 'not compared'
        : `${c.ratio <= c.target ? 'met' : 'missed'} (${c.ratio.toFixed(2)}×)`
    lines.push(
      `| ${name}: wall time, median | ${wall(c.ours)} | ${c.netlifyCli ? wall(c.netlifyCli) : '—'} | ${c.ratio?.toFixed(2) ?? '—'} | ≤ ${c.target}×: ${verdict} |`,
      `| ${name}: file PUTs accepted per run | ${puts(c.ours)} | ${c.netlifyCli ? puts(c.netlifyCli) : '—'} | | one per distinct SHA-1 |`,
      `| ${name}: 429s answered per run | ${refusals(c.ours)} | ${c.netlifyCli ? refusals(c.netlifyCli) : '—'} | | no storm (ours paced) |`,
      `| ${name}: Netlify requests per run | ${sum(c.ours.runs, (x) => x.netlifyRequests)} | ${c.netlifyCli ? sum(c.netlifyCli.runs, (x) => x.netlifyRequests) : '—'} | | |`,
    )
  }
  lines.push(
    '',
    'At 500 requests a minute a first push needs at least 501 Netlify requests (the deploy and ' +
      '500 file PUTs), so both sides sit out one window reset (about 60 s). The gateway holds ' +
      "a token's calls once the window's budget (`X-RateLimit-Remaining`) is spent and resumes " +
      'at `X-RateLimit-Reset`; netlify-cli sends into the spent window and waits after the 429s. ' +
      'netlify-cli uploads one more file than the site has: the `netlify.toml` it generates.',
    '',
  )
  if (r.netlifyCliSkipped) lines.push(`netlify-cli not measured: ${r.netlifyCliSkipped}`, '')
  lines.push(
    `netlify-cli ${r.netlifyCliVersion ?? '(not installed)'}. Commands:`,
    '',
    ...Object.entries(r.commands).map(([k, v]) => `- ${k}: \`${v}\``),
    '',
  )
  return lines.join('\n')
}

if (import.meta.main) {
  const result = await benchFirstPush()
  console.log(JSON.stringify(result, null, 2))
  console.log(firstPushSection(result))
}
