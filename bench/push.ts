/**
 * Benchmark (issue 8, scenario 1): an incremental push of a 500-file site with 10 files changed.
 * Ours: the bundled Action (`node dist/index.js`) through an in-process gateway to its built-in
 * Netlify sandbox. Baseline: `netlify deploy --no-build` of netlify-cli 27, installed on first
 * use into bench/.cache, talking to the same sandbox through NETLIFY_API_URL.
 */
import { execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { runAction } from '../scripts/lib/run-action.ts'
import {
  createTenant,
  startTestGateway,
  type TestGateway,
} from '../gateway/test/helpers/gateway.ts'
import { summarize, type Summary } from './stats.ts'

const root = resolve(import.meta.dirname, '..')
const CACHE = join(root, 'bench', '.cache', 'netlify-cli')
export const CLI = join(CACHE, 'node_modules', 'netlify-cli', 'bin', 'run.js')
const RUNS = Math.max(3, Number(process.env['BENCH_RUNS'] ?? 5))
const FILES = 500
const CHANGED = 10
/** Netlify file PUTs, as the sandbox counts them by route. */
export const FILE_PUT = 'PUT /deploys/:deploy_id/files/*path'

export interface PushRun {
  wallMs: number
  /** Per phase, from the Action's job summary (ours only). */
  phases?: Record<string, number>
  /** Netlify API requests by route during the run. */
  netlifyRequests: Record<string, number>
  filePuts: number
}

export interface PushScenarioResult {
  commands: Record<string, string>
  ours: { wall: Summary; phases: Record<string, Summary>; runs: PushRun[] }
  netlifyCli?: { wall: Summary; runs: PushRun[]; version: string }
  /** Why netlify-cli was not measured, when it was not. */
  netlifyCliSkipped?: string
  /** ours median ÷ netlify-cli median (target ≤ 0.4). */
  ratio?: number
  /** Distinct SHA-1s of the changed files per run: the Netlify file PUTs there should be. */
  changedShas: number
}

/** Installs netlify-cli 27 into bench/.cache on first use; answers its version. */
export async function ensureNetlifyCli(): Promise<string> {
  if (!existsSync(CLI)) {
    console.log(`  installing netlify-cli@27 into ${CACHE} (first use)…`)
    await mkdir(CACHE, { recursive: true })
    await writeFile(join(CACHE, 'package.json'), '{ "private": true }\n')
    await run('npm', ['install', 'netlify-cli@27', '--no-audit', '--no-fund', '--no-save'], {
      cwd: CACHE,
    })
  }
  return (await run(process.execPath, [CLI, '--version'], { env: cliEnv('', '', '') })).trim()
}

function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  return new Promise((done, fail) =>
    execFile(command, args, { ...options, maxBuffer: 64 * 2 ** 20 }, (error, stdout, stderr) =>
      error
        ? fail(new Error(`${command} ${args.join(' ')}: ${error.message}\n${stderr}`))
        : done(stdout),
    ),
  )
}

// netlify-cli with a throw-away HOME (its config and state), no telemetry or update checks.
export function cliEnv(apiUrl: string, token: string, home: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'],
    HOME: home || tmpdir(),
    NETLIFY_API_URL: apiUrl,
    NETLIFY_AUTH_TOKEN: token,
    NETLIFY_TELEMETRY_DISABLED: '1',
    NO_UPDATE_NOTIFIER: '1',
    CI: 'true',
  }
}

/** 500 files of 1-20 KiB: pages, styles and scripts in a few folders. */
export async function writeSite(dir: string, files = FILES): Promise<void> {
  for (let i = 0; i < files; i++) {
    const folder = join(dir, ['', 'assets', 'blog', 'docs', 'img'][i % 5]!)
    await mkdir(folder, { recursive: true })
    const ext = ['html', 'css', 'js', 'json', 'svg'][i % 5]
    await writeFile(join(folder, `file-${i}.${ext}`), randomBytes(1024 + ((i * 7919) % 19_456)))
  }
}

/** Gives 10 files new content, the same in both copies of the site. */
async function changeFiles(dirs: string[], round: number): Promise<void> {
  for (let i = 0; i < CHANGED; i++) {
    const n = (round * 37 + i * 50) % FILES
    const folder = ['', 'assets', 'blog', 'docs', 'img'][n % 5]!
    const ext = ['html', 'css', 'js', 'json', 'svg'][n % 5]
    const content = randomBytes(2048)
    for (const dir of dirs) await writeFile(join(dir, folder, `file-${n}.${ext}`), content)
  }
}

async function sandboxStats(gw: TestGateway, reset = false): Promise<Record<string, number>> {
  const res = await fetch(`${gw.url}/__sandbox/stats${reset ? '/reset' : ''}`, {
    method: reset ? 'POST' : 'GET',
  })
  const body = (await res.json()) as { requests?: Record<string, number> }
  return body.requests ?? {}
}

/** "digest 12 ms · init 30 ms · upload 1.2 s" from the job summary → milliseconds per phase. */
export function parsePhases(summary: string): Record<string, number> {
  const phases: Record<string, number> = {}
  for (const m of summary.matchAll(/([a-z]+) (\d+(?:\.\d+)?) (ms|s)\b/g)) {
    phases[m[1]!] = Number(m[2]) * (m[3] === 's' ? 1000 : 1)
  }
  return phases
}

/**
 * One push by the bundled Action, as a runner runs it, timed from spawn to exit; throws unless
 * the deploy is ready. Answers the wall time and the phases from the Action's job summary.
 */
export async function timedActionPush(
  gw: { url: string },
  key: string,
  project: string,
  dir: string,
): Promise<{ wallMs: number; phases: Record<string, number> }> {
  const started = performance.now()
  const result = await runAction({ 'gateway-url': gw.url, 'kaixu-key': key, project, dir })
  const wallMs = performance.now() - started
  if (result.code !== 0 || result.outputs['state'] !== 'ready') {
    throw new Error(`the Action failed (exit ${result.code}):\n${result.stdout}\n${result.stderr}`)
  }
  const timeRow = /Time<\/th><td>([^<]*)</.exec(result.summary)?.[1] ?? result.summary
  return { wallMs, phases: parsePhases(timeRow) }
}

async function oursOnce(
  gw: TestGateway,
  key: string,
  project: string,
  dir: string,
): Promise<PushRun> {
  await sandboxStats(gw, true)
  const { wallMs, phases } = await timedActionPush(gw, key, project, dir)
  const requests = await sandboxStats(gw)
  return { wallMs, phases, netlifyRequests: requests, filePuts: requests[FILE_PUT] ?? 0 }
}

async function cliOnce(
  gw: TestGateway,
  token: string,
  site: string,
  dir: string,
  home: string,
): Promise<PushRun> {
  await sandboxStats(gw, true)
  const started = performance.now()
  const args = [CLI, 'deploy', '--no-build', '--prod', '--json', '--dir', dir, '--site', site]
  const out = await new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
    const child = spawn(process.execPath, args, {
      // Outside this repository: from its root netlify-cli sees the npm workspaces (gateway,
      // contract) as a monorepo and refuses to guess which project to deploy.
      cwd: home,
      env: cliEnv(`${gw.url}/api/v1`, token, home),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d))
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    child.on('close', (code) => done({ code: code ?? 1, stdout, stderr }))
  })
  const wallMs = performance.now() - started
  if (out.code !== 0) throw new Error(`netlify deploy failed (${out.code}):\n${out.stderr}`)
  const requests = await sandboxStats(gw)
  return { wallMs, netlifyRequests: requests, filePuts: requests[FILE_PUT] ?? 0 }
}

/** Runs scenario 1; netlify-cli is skipped (with the reason) if it cannot be installed or run. */
export async function benchIncrementalPush(): Promise<PushScenarioResult> {
  const work = await mkdtemp(join(tmpdir(), 'kaixu-bench-push-'))
  const gw = await startTestGateway('pglite', { LOG_LEVEL: 'silent' })
  try {
    const ours = await createTenant(gw, 'Bench')
    const theirs = await createTenant(gw, 'Baseline')
    const oursDir = join(work, 'ours')
    const cliDir = join(work, 'cli')
    const home = join(work, 'home')
    await mkdir(home)
    await writeSite(oursDir)
    await cp(oursDir, cliDir, { recursive: true })

    let version: string | undefined
    let skipped: string | undefined
    try {
      version = await ensureNetlifyCli()
    } catch (error) {
      skipped = `netlify-cli could not be installed or started: ${(error as Error).message}`
    }

    // The first push of each side uploads everything; only the pushes after it are measured.
    console.log('  first pushes (not measured)…')
    await oursOnce(gw, ours.key, ours.projectName, oursDir)
    if (!skipped) {
      try {
        await cliOnce(gw, theirs.netlifyToken, theirs.projectName, cliDir, home)
      } catch (error) {
        skipped = `netlify-cli failed against the sandbox: ${(error as Error).message.slice(0, 800)}`
      }
    }

    const oursRuns: PushRun[] = []
    const cliRuns: PushRun[] = []
    for (let round = 1; round <= RUNS; round++) {
      await changeFiles([oursDir, cliDir], round)
      // Alternate who goes first, so neither always gets the warmer machine.
      const order = round % 2 ? ['ours', 'cli'] : ['cli', 'ours']
      for (const side of order) {
        if (side === 'ours') oursRuns.push(await oursOnce(gw, ours.key, ours.projectName, oursDir))
        else if (!skipped)
          cliRuns.push(await cliOnce(gw, theirs.netlifyToken, theirs.projectName, cliDir, home))
      }
      console.log(
        `  round ${round}: ours ${oursRuns.at(-1)!.wallMs.toFixed(0)} ms` +
          (cliRuns.at(-1) ? `, netlify-cli ${cliRuns.at(-1)!.wallMs.toFixed(0)} ms` : ''),
      )
    }
    const phaseNames = [...new Set(oursRuns.flatMap((r) => Object.keys(r.phases ?? {})))]
    const oursWall = summarize(oursRuns.map((r) => r.wallMs))
    const result: PushScenarioResult = {
      commands: {
        ours: `node dist/index.js (INPUT_GATEWAY-URL=<gateway>, INPUT_PROJECT=<site>, INPUT_DIR=<site dir>)`,
        netlifyCli: `NETLIFY_API_URL=<gateway>/api/v1 NETLIFY_AUTH_TOKEN=<token> node ${CLI.replace(root + '/', '')} deploy --no-build --prod --json --dir <site dir> --site <site>`,
      },
      ours: {
        wall: oursWall,
        phases: Object.fromEntries(
          phaseNames.map((name) => [name, summarize(oursRuns.map((r) => r.phases?.[name] ?? 0))]),
        ),
        runs: oursRuns,
      },
      changedShas: CHANGED,
    }
    if (skipped) result.netlifyCliSkipped = skipped
    else {
      const wall = summarize(cliRuns.map((r) => r.wallMs))
      result.netlifyCli = { wall, runs: cliRuns, version: version! }
      result.ratio = oursWall.median / wall.median
    }
    return result
  } finally {
    await gw.stop()
    await rm(work, { recursive: true, force: true })
  }
}
