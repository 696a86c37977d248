/**
 * Benchmark (issue 18, "one customer cannot stall the others"): how long `/healthz` takes to
 * answer while one customer sends the largest manifest the limits allow (100 000 files with
 * sizes, to push-plan) and a flood of `sizes` keys within the body limit (to push-init). For
 * scale it also times reading the same bodies on the request thread, as the gateway did before
 * manifests moved to worker threads. Run alone: `node bench/stall.ts` (PGlite; with
 * TEST_DATABASE_URL or BENCH_DATABASE_URL also Postgres).
 */
import { performance } from 'node:perf_hooks'
import { loadConfig } from '../gateway/src/config.ts'
import { readManifest } from '../gateway/src/http/manifest.ts'
import { api, createTenant, startTestGateway } from '../gateway/test/helpers/gateway.ts'

const sha = (i: number) => i.toString(16).padStart(40, '0')

function largestManifest(project: string) {
  const files: Record<string, string> = {}
  const sizes: Record<string, number> = {}
  for (let i = 0; i < 100_000; i++) {
    const path = `assets/some/deeper/folder/name-${i}/file-with-a-longish-name-${i}.js`
    files[path] = sha(i)
    sizes[path] = 123_456
  }
  return JSON.stringify({ project, files, sizes })
}

/** A flood of sizes keys for one file, just under the body limit. */
function flood(project: string, limit: number) {
  const parts: string[] = []
  let bytes = 100
  for (let i = 0; bytes < limit - 64; i++) {
    const part = `"k${i}":${i}`
    parts.push(part)
    bytes += part.length + 1
  }
  return `{"project":"${project}","files":{"a":"${sha(1)}"},"sizes":{${parts.join(',')}}}`
}

/** Sends `body` while polling /healthz every 50 ms; answers the slowest health answer. */
async function healthDuring(gw: { url: string }, key: string, path: string, body: string) {
  let worst = 0
  let polls = 0
  const failures: string[] = []
  let done = false
  const poller = (async () => {
    while (!done) {
      const t0 = performance.now()
      try {
        await fetch(`${gw.url}/healthz`).then((r) => r.text())
        worst = Math.max(worst, performance.now() - t0)
        polls++
      } catch (error) {
        failures.push(String((error as Error).cause ?? error))
      }
      await new Promise((r) => setTimeout(r, 50))
    }
  })()
  const t0 = performance.now()
  const res = await api(gw, key, 'POST', path, body, { 'content-type': 'application/json' })
  const requestMs = performance.now() - t0
  done = true
  await poller
  return {
    status: res.status,
    requestMs: Math.round(requestMs),
    worstHealthMs: Math.round(worst),
    polls,
    failures,
  }
}

async function run(database: string) {
  const gw = await startTestGateway(database)
  try {
    const t = await createTenant(gw, 'Bench')
    const limit = gw.config.maxFiles * 320
    const legit = largestManifest(t.projectName)
    const flooded = flood(t.projectName, limit)
    console.error(`${database}: manifests built`)
    const config = loadConfig({})
    const inline = (body: string) => {
      const t0 = performance.now()
      readManifest(Buffer.from(body), config)
      return Math.round(performance.now() - t0)
    }
    return {
      database,
      largest: {
        mb: +(legit.length / 1e6).toFixed(1),
        onRequestThreadMs: inline(legit),
        ...(await healthDuring(gw, t.key, '/v1/push-plan', legit)),
      },
      flood: {
        mb: +(flooded.length / 1e6).toFixed(1),
        onRequestThreadMs: inline(flooded),
        ...(await healthDuring(gw, t.key, '/v1/push-init', flooded)),
      },
    }
  } finally {
    await gw.stop()
  }
}

const url = process.env['BENCH_DATABASE_URL'] || process.env['TEST_DATABASE_URL']
// The test helpers make their scratch Postgres databases on TEST_DATABASE_URL's server.
if (url) process.env['TEST_DATABASE_URL'] = url
for (const database of url ? ['pglite', 'postgres'] : ['pglite']) {
  console.log(JSON.stringify(await run(database), null, 2))
}
