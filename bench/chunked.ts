/**
 * Benchmark (issue: large files): one big file (1 GiB by default, BENCH_CHUNKED_MIB to change)
 * pushed by the Action through chunks to the gateway and on to the Netlify sandbox, each a
 * separate process as in production. Reports throughput against a raw loopback copy of the same
 * bytes, and the peak memory (RSS high-water mark) of the Action and of the gateway.
 * BENCH_TRACE=1 prints the Action's and the gateway's log lines with their time into the push and
 * the CPU seconds each process spent (where the time goes); BENCH_GATEWAY_NODE_OPTIONS passes
 * NODE_OPTIONS to the gateway only (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`), and
 * BENCH_SANDBOX_NODE_OPTIONS and BENCH_ACTION_NODE_OPTIONS to the sandbox and the Action.
 */
import { randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, mkdtemp, open, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { Readable } from 'node:stream'
import { performance } from 'node:perf_hooks'
import { testVaultKeys } from '../gateway/test/helpers/gateway.ts'
import { gatewayBin, runCli, startProcess } from '../gateway/test/helpers/processes.ts'
import { runAction } from '../scripts/lib/run-action.ts'

export interface ChunkedResult {
  bytes: number
  rawCopyMBps: number
  pushMBps: number
  ratio: number
  pushSeconds: number
  actionPeakRssMB: number
  gatewayRssBeforeMB: number
  gatewayPeakRssMB: number
  gatewayGrowthMB: number
}

const MB = 1e6

/** VmHWM (peak RSS) and VmRSS of a process, in MB, from /proc. */
async function memory(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '')
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0)
  return { rss: (kb('VmRSS') * 1024) / MB, peak: (kb('VmHWM') * 1024) / MB }
}

/** User + system CPU time of a process so far, in seconds, from /proc (0 once it is gone). */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / 100
}

/** NODE_OPTIONS for one of the processes, from the variable `name` (e.g. a CPU profile). */
function nodeOptions(name: string): Record<string, string> {
  const options = process.env[name]
  return options ? { NODE_OPTIONS: options } : {}
}

/** Writes `bytes` of random data in 8 MiB blocks (never the whole file in memory). */
async function makeFile(path: string, bytes: number) {
  const handle = await open(path, 'w')
  const block = randomBytes(8 * 1024 * 1024)
  for (let written = 0; written < bytes; written += block.length) {
    // Vary each block so identical chunks cannot be deduplicated anywhere.
    block.writeUInt32LE(written / block.length, 0)
    await handle.write(block, 0, Math.min(block.length, bytes - written))
  }
  await handle.close()
}

/** The baseline: the same file PUT over loopback HTTP to a server that discards it. */
async function rawCopy(path: string, bytes: number): Promise<number> {
  const server = createServer((req, res) => {
    req.on('data', () => {})
    req.on('end', () => res.end('ok'))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  const started = performance.now()
  const res = await fetch(`http://127.0.0.1:${port}/`, {
    method: 'PUT',
    body: Readable.toWeb(createReadStream(path)) as ReadableStream<Uint8Array>,
    headers: { 'content-length': String(bytes) },
    duplex: 'half',
  } as RequestInit)
  await res.text()
  const seconds = (performance.now() - started) / 1000
  server.close()
  return bytes / MB / seconds
}

export async function benchChunked(
  mib = Number(process.env['BENCH_CHUNKED_MIB'] ?? 1024),
): Promise<ChunkedResult> {
  const bytes = mib * 1024 * 1024
  const work = await mkdtemp(join(tmpdir(), 'kaixu-bench-chunked-'))
  const site = join(work, 'site')
  await mkdir(site)
  const file = join(site, 'big.bin')
  const stops: (() => Promise<unknown>)[] = []
  try {
    await makeFile(file, bytes)
    const rawCopyMBps = await rawCopy(file, bytes)

    const sandbox = await startProcess(
      [gatewayBin, 'sandbox', '--port', '0', '--json'],
      {
        KAIXU_DATA_DIR: join(work, 'netlify'),
        LOG_LEVEL: 'warn',
        ...nodeOptions('BENCH_SANDBOX_NODE_OPTIONS'),
      },
      (j) => typeof j['url'] === 'string',
    )
    stops.push(() => sandbox.stop())
    const env = {
      KAIXU_DATA_DIR: join(work, 'gateway'),
      NETLIFY_API_URL: String(sandbox.line['apiUrl']),
      KAIXU_VAULT_KEYS: testVaultKeys(),
      KAIXU_BYTES_PER_MONTH: String(10 * bytes),
      LOG_LEVEL: 'info',
      PORT: '0',
    }
    const token = 'bench-token'
    const created = await fetch(`${sandbox.line['apiUrl']}/sites`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bench-big' }),
    })
    const siteId = ((await created.json()) as { id: string }).id
    const cli = async (...args: string[]) =>
      JSON.parse((await runCli([...args, '--json'], env)).stdout) as Record<string, string>
    const customer = (await cli('customers', 'create', '--name', 'Bench'))['id']!
    const key = (await cli('keys', 'create', '--customer', customer))['key']!
    await cli('tokens', 'set', '--customer', customer, '--token', token)
    await cli('projects', 'add', '--customer', customer, '--site-id', siteId, '--name', 'bench-big')

    const gateway = await startProcess(
      [gatewayBin, 'serve'],
      { ...env, ...nodeOptions('BENCH_GATEWAY_NODE_OPTIONS') },
      (j) => j['msg'] === 'gateway listening',
    )
    stops.push(() => gateway.stop())
    const gatewayPid = gateway.child.pid!
    const trace = process.env['BENCH_TRACE'] === '1'
    // Warm up with a small chunked file first: the embedded database and the JIT settle at a
    // fixed size, and what is measured after that is what grows with the file.
    const warm = join(work, 'warm')
    await mkdir(warm)
    await makeFile(join(warm, 'warm.bin'), 16 * 1024 * 1024)
    const warmRun = await runAction({
      'gateway-url': String(gateway.line['url']),
      'kaixu-key': key,
      project: 'bench-big',
      dir: warm,
    })
    if (warmRun.code !== 0)
      throw new Error(`the warm-up push failed: ${warmRun.stdout.slice(-2000)}`)
    const before = await memory(gatewayPid)
    const cpuBefore = {
      gateway: await cpuSeconds(gatewayPid),
      sandbox: await cpuSeconds(sandbox.child.pid!),
    }
    let actionCpu = 0

    let actionPeak = 0
    let gatewayPeak = before.rss
    // VmHWM is a lifetime high-water mark (start-up included), so sample VmRSS during the push.
    const gatewaySampler = setInterval(() => {
      void memory(gatewayPid).then((m) => (gatewayPeak = Math.max(gatewayPeak, m.rss)))
    }, 100)
    let sampler: NodeJS.Timeout | undefined
    const started = performance.now()
    if (trace) {
      createInterface({ input: gateway.child.stdout! }).on('line', (l) =>
        console.error(
          `${((performance.now() - started) / 1000).toFixed(2)}s gateway ${l.slice(0, 300)}`,
        ),
      )
    }
    const run = await runAction(
      {
        'gateway-url': String(gateway.line['url']),
        'kaixu-key': key,
        project: 'bench-big',
        dir: site,
      },
      {
        env: nodeOptions('BENCH_ACTION_NODE_OPTIONS'),
        onSpawn: (child) => {
          if (trace) {
            createInterface({ input: child.stdout! }).on('line', (l) =>
              console.error(`${((performance.now() - started) / 1000).toFixed(2)}s action ${l}`),
            )
          }
          sampler = setInterval(() => {
            void cpuSeconds(child.pid!).then((s) => (actionCpu = Math.max(actionCpu, s)))
            void memory(child.pid!).then((m) => (actionPeak = Math.max(actionPeak, m.rss)))
          }, 100)
        },
      },
    )
    clearInterval(sampler)
    clearInterval(gatewaySampler)
    if (trace) {
      console.error(
        `cpu seconds during the push: action ≥${actionCpu.toFixed(1)}, gateway ${((await cpuSeconds(gatewayPid)) - cpuBefore.gateway).toFixed(1)}, sandbox ${((await cpuSeconds(sandbox.child.pid!)) - cpuBefore.sandbox).toFixed(1)}`,
      )
    }
    const pushSeconds = (performance.now() - started) / 1000
    if (run.code !== 0 || run.outputs['state'] !== 'ready') {
      throw new Error(`the chunked push failed: ${run.stdout.slice(-2000)} ${run.stderr}`)
    }
    const pushMBps = bytes / MB / pushSeconds
    return {
      bytes,
      rawCopyMBps,
      pushMBps,
      ratio: pushMBps / rawCopyMBps,
      pushSeconds,
      actionPeakRssMB: actionPeak,
      gatewayRssBeforeMB: before.rss,
      gatewayPeakRssMB: gatewayPeak,
      gatewayGrowthMB: gatewayPeak - before.rss,
    }
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {})
    await rm(work, { recursive: true, force: true })
  }
}

/** The Markdown section for docs/benchmarks.md. */
export function chunkedSection(r: ChunkedResult): string {
  const f = (n: number) => n.toFixed(1)
  return [
    `### One ${f(r.bytes / 2 ** 20)} MiB file through chunks (Action → gateway → Netlify sandbox)`,
    '',
    '| measure | value | target |',
    '| --- | --- | --- |',
    `| raw loopback copy of the same bytes | ${f(r.rawCopyMBps)} MB/s | baseline |`,
    `| chunked push, end to end (digest, chunks, assembly, ready) | ${f(r.pushMBps)} MB/s (${f(r.pushSeconds)} s) | ≥ 0.5× baseline: ${r.ratio >= 0.5 ? 'met' : 'missed'} (${r.ratio.toFixed(2)}×) |`,
    `| Action peak RSS | ${f(r.actionPeakRssMB)} MB | flat |`,
    `| gateway RSS after a 16 MiB warm-up push → peak during the big push | ${f(r.gatewayRssBeforeMB)} → ${f(r.gatewayPeakRssMB)} MB (growth ${f(r.gatewayGrowthMB)} MB) | growth < 100 MB: ${r.gatewayGrowthMB < 100 ? 'met' : 'missed'} |`,
    '',
  ].join('\n')
}

if (import.meta.main) {
  const result = await benchChunked()
  console.log(JSON.stringify(result, null, 2))
  console.log(chunkedSection(result))
}
