/**
 * Idle memory of `npm start` (issue 16): starts the demo in a checkout, waits for it to print its
 * URLs, then sums the resident memory (VmRSS) of every process it left running, a few seconds and
 * ~30 s after it settled, and checks the site answers. Linux only (reads /proc).
 *
 *   node bench/idle.ts [checkout] [runs]      e.g. node bench/idle.ts /work/main 3
 *
 * Each run measures `npm start` and, for comparison, `node scripts/demo.ts` started directly
 * (the demo without scripts/start.ts's Node settings). `checkout` defaults to this repository;
 * give another one to measure an older commit the same way.
 */
import { spawn } from 'node:child_process'
import { readdir, readFile, rm } from 'node:fs/promises'
import { get } from 'node:http'
import { tmpdir } from 'node:os'
import { basename, join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

const checkout = resolve(process.argv[2] ?? join(import.meta.dirname, '..'))
const runs = Number(process.argv[3] ?? 1)

interface Sample {
  total: number
  processes: string
}

/** The pid and its descendants, with their VmRSS in MB. */
async function tree(pid: number): Promise<{ name: string; mb: number }[]> {
  const out: { name: string; mb: number }[] = []
  const pending = [pid]
  while (pending.length) {
    const p = pending.pop()!
    try {
      const status = await readFile(`/proc/${p}/status`, 'utf8')
      const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
      // `npm start` (npm sets its title), `sh demo.ts`, `node demo.ts`: program and script.
      const argv = (await readFile(`/proc/${p}/cmdline`, 'utf8')).split('\0').filter(Boolean)
      const name = [...new Set([basename(argv[0] ?? '?'), basename(argv.at(-1) ?? '')])]
      out.push({ name: name.join(' '), mb: rss / 1024 })
      for (const t of await readdir(`/proc/${p}/task`)) {
        const children = await readFile(`/proc/${p}/task/${t}/children`, 'utf8')
        pending.push(...children.split(' ').filter(Boolean).map(Number))
      }
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return out
}

async function sample(pid: number): Promise<Sample> {
  const processes = await tree(pid)
  return {
    total: processes.reduce((sum, p) => sum + p.mb, 0),
    processes: processes.map((p) => `${p.name} ${p.mb.toFixed(0)}`).join(' + '),
  }
}

async function measure(command: string[]) {
  const port = 20_000 + Math.floor(Math.random() * 20_000)
  const dataDir = join(tmpdir(), `kaixu-idle-${port}`)
  const child = spawn(command[0]!, command.slice(1), {
    cwd: checkout,
    env: { ...process.env, PORT: String(port), KAIXU_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  let log = ''
  child.stdout.on('data', (d: Buffer) => (log += d))
  child.stderr.on('data', (d: Buffer) => (log += d))
  try {
    const started = performance.now()
    while (!log.includes('Press Ctrl+C')) {
      if (child.exitCode !== null || performance.now() - started > 120_000)
        throw new Error(`${command.join(' ')} did not come up:\n${log}`)
      await sleep(100)
    }
    const ready = performance.now() - started
    await sleep(5_000)
    const early = await sample(child.pid!)
    await sleep(25_000)
    const late = await sample(child.pid!)
    // `*.localhost` is this machine for browsers and curl, not for Node's resolver: ask the port.
    const site = /Site \(production\):\s+(\S+)/.exec(log)?.[1]
    const status = site ? await statusOf(port, new URL(site).host) : 0
    return { ready, early, late, status }
  } finally {
    if (child.exitCode === null) {
      process.kill(-child.pid!, 'SIGTERM')
      await new Promise((done) => child.once('close', done))
    }
    await rm(dataDir, { recursive: true, force: true })
  }
}

function statusOf(port: number, host: string): Promise<number> {
  return new Promise((done, fail) =>
    get({ host: '127.0.0.1', port, headers: { host } }, (res) => {
      res.resume()
      done(res.statusCode ?? 0)
    }).on('error', fail),
  )
}

const mb = (v: number) => `${v.toFixed(0)} MB`
console.log(`checkout ${checkout}\n`)
console.log(
  '| command | ready | RSS at rest +5 s | RSS at rest +30 s | processes at +30 s (MB) | site |',
)
console.log('| --- | --- | --- | --- | --- | --- |')
for (let run = 0; run < runs; run++) {
  for (const command of [
    ['npm', 'start'],
    [process.execPath, 'scripts/demo.ts'],
  ]) {
    const r = await measure(command)
    const name = command[0] === 'npm' ? 'npm start' : 'node scripts/demo.ts'
    console.log(
      `| ${name} | ${(r.ready / 1000).toFixed(1)} s | ${mb(r.early.total)} | ${mb(r.late.total)} | ${r.late.processes} | ${r.status} |`,
    )
  }
}
