/**
 * Benchmark (issue 8, scenario 4): small-file batching. First pushes of many small files by the
 * bundled Action through an in-process gateway to its sandbox (rate limit lifted, so only our own
 * work is timed), counting the Action → gateway requests from the gateway's own metrics. The
 * baseline, in the same run: a gateway whose batches take no file with content
 * (`KAIXU_BATCH_FILE_MAX_BYTES=0`), so the Action sends one request per file as before batching.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import {
  createTenant,
  startTestGateway,
  type TestGateway,
} from '../gateway/test/helpers/gateway.ts'
import { timedActionPush } from './push.ts'
import { summarize, type Summary } from './stats.ts'

const RUNS = Math.max(3, Number(process.env['BENCH_RUNS'] ?? 3))
const SIZES = [500, 2000]
/** Init, complete and the status long-poll: the requests any push makes besides its uploads. */
const FIXED_REQUESTS = 3
const FILE_PUT = 'PUT /deploys/:deploy_id/files/*path'

export interface BatchCase {
  files: number
  /** Distinct contents: what Netlify requires and the gateway must PUT. */
  required: number
  /** Requests ≤ required ÷ 50 + this bound's constant. */
  bound: number
  batched: { wall: Summary; requests: number[]; filePuts: number[] }
  unbatched: { wall: Summary; requests: number[]; filePuts: number[] }
}

/** `files` small files (0 B to 16 KiB) in nested folders, names needing URL encoding, 5% shared. */
async function writeSite(dir: string, files: number): Promise<number> {
  const distinct = new Set<string>()
  for (let i = 0; i < files; i++) {
    const path = join(dir, `s${i % 9}`, `p${i % 4}`, `page ${i} (ü+%).html`)
    await mkdir(dirname(path), { recursive: true })
    const content =
      i % 20 === 19 ? Buffer.from('shared footer') : randomBytes((i * 7919) % (16 * 1024))
    distinct.add(createHash('sha1').update(content).digest('hex'))
    await writeFile(path, content)
  }
  return distinct.size
}

/** Requests the gateway answered on its push routes, from its Prometheus metrics. */
async function pushRequests(gw: TestGateway): Promise<number> {
  const text = await (await fetch(`${gw.url}/metrics`)).text()
  let n = 0
  for (const m of text.matchAll(
    /^kaixu_http_request_duration_seconds_count\{[^}]*route="\/v1\/push-[^"]*"[^}]*\} (\d+)$/gm,
  )) {
    n += Number(m[1])
  }
  return n
}

async function filePuts(gw: TestGateway): Promise<number> {
  const stats = (await (await fetch(`${gw.url}/__sandbox/stats`)).json()) as {
    requests?: Record<string, number>
  }
  return stats.requests?.[FILE_PUT] ?? 0
}

async function startGateway(env: Record<string, string> = {}) {
  const gw = await startTestGateway('pglite', { LOG_LEVEL: 'silent', ...env })
  const res = await fetch(`${gw.url}/__sandbox/config`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ rateLimitPerMinute: null }),
  })
  if (!res.ok) throw new Error(`sandbox config: ${res.status} ${await res.text()}`)
  return gw
}

/** One first push (a new project, so every content is required). */
async function pushOnce(gw: TestGateway, dir: string) {
  const tenant = await createTenant(gw, 'Batch bench')
  const requestsBefore = await pushRequests(gw)
  const putsBefore = await filePuts(gw)
  const { wallMs } = await timedActionPush(gw, tenant.key, tenant.projectName, dir)
  return {
    wallMs,
    requests: (await pushRequests(gw)) - requestsBefore,
    filePuts: (await filePuts(gw)) - putsBefore,
  }
}

export async function benchBatch(): Promise<BatchCase[]> {
  const work = await mkdtemp(join(tmpdir(), 'kaixu-bench-batch-'))
  const batchedGw = await startGateway()
  const unbatchedGw = await startGateway({ KAIXU_BATCH_FILE_MAX_BYTES: '0' })
  try {
    const cases: BatchCase[] = []
    for (const files of SIZES) {
      const dir = join(work, `site-${files}`)
      const required = await writeSite(dir, files)
      const batched: Awaited<ReturnType<typeof pushOnce>>[] = []
      const unbatched: Awaited<ReturnType<typeof pushOnce>>[] = []
      for (let round = 0; round < RUNS; round++) {
        // Alternate who goes first, so neither always gets the warmer machine.
        if (round % 2) unbatched.push(await pushOnce(unbatchedGw, dir))
        batched.push(await pushOnce(batchedGw, dir))
        if (!(round % 2)) unbatched.push(await pushOnce(unbatchedGw, dir))
        console.log(
          `  ${files} files, round ${round + 1}: batched ${batched.at(-1)!.wallMs.toFixed(0)} ms ` +
            `(${batched.at(-1)!.requests} requests), one per file ${unbatched.at(-1)!.wallMs.toFixed(0)} ms ` +
            `(${unbatched.at(-1)!.requests} requests)`,
        )
      }
      const side = (runs: typeof batched) => ({
        wall: summarize(runs.map((r) => r.wallMs)),
        requests: runs.map((r) => r.requests),
        filePuts: runs.map((r) => r.filePuts),
      })
      cases.push({
        files,
        required,
        bound: Math.floor(required / 50) + FIXED_REQUESTS,
        batched: side(batched),
        unbatched: side(unbatched),
      })
    }
    return cases
  } finally {
    await batchedGw.stop()
    await unbatchedGw.stop()
    await rm(work, { recursive: true, force: true })
  }
}

/** The Markdown section for docs/benchmarks.md. */
export function batchSection(cases: BatchCase[]): string {
  const s = (x: Summary) =>
    `${(x.median / 1000).toFixed(2)} s (${(x.min / 1000).toFixed(2)}–${(x.max / 1000).toFixed(2)})`
  const list = (v: number[]) => [...new Set(v)].join(', ')
  return [
    '### Scenario 4: small files in batches',
    '',
    'First pushes of small files (0 B to 16 KiB, nested folders, names needing URL encoding, 5%',
    'sharing content) by `node dist/index.js` through an in-process gateway to its sandbox with the',
    'rate limit lifted. Requests are counted by the gateway (its `/metrics`, push routes only); the',
    'baseline is the same Action against a gateway whose batches take no file with content',
    '(`KAIXU_BATCH_FILE_MAX_BYTES=0`): one request per file, as before batching.',
    '',
    '| files (distinct) | Action → gateway requests, batched | bound: required ÷ 50 + 3 | one request per file | Netlify file PUTs | wall, batched | wall, one per file | runs |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...cases.map(
      (c) =>
        `| ${c.files} (${c.required}) | ${list(c.batched.requests)} | ${c.bound}: ${c.batched.requests.every((r) => r <= c.bound) ? 'met' : 'missed'} | ${list(c.unbatched.requests)} | ${list(c.batched.filePuts)} | ${s(c.batched.wall)} | ${s(c.unbatched.wall)} | ${c.batched.wall.n} |`,
    ),
    '',
    'Netlify still needs one PUT per distinct content (the gateway fans each batch out within the',
    "token's upload limit); what batching saves is the Action's round trips and per-request work.",
    '',
  ].join('\n')
}

if (import.meta.main) {
  const cases = await benchBatch()
  console.log(JSON.stringify(cases, null, 2))
  console.log(batchSection(cases))
}
