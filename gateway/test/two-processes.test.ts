import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { api, fetchSite, scratchPostgres, testVaultKeys } from './helpers/gateway.ts'
import { cliJson, gatewayBin, startProcess, type Started } from './helpers/processes.ts'
import { sha1 } from './helpers/pushes.ts'

const CHUNK = 64 * 1024

/**
 * Two `kaixu-gateway serve` processes on one Postgres database: caps and pacing are decided in
 * the database, so requests spread over both stay exact. Needs a Postgres server
 * (TEST_DATABASE_URL); PGlite is one process by design.
 */
const onPostgres = process.env['TEST_DATABASE_URL'] ? describe : describe.skip

onPostgres('two gateway processes on one Postgres database', () => {
  let work: string
  let sandbox: Started
  const gateways: Started[] = []
  let drop: () => Promise<void>
  let env: Record<string, string>

  const cli = (...args: string[]) => cliJson(env)(...args)

  /** A customer with a key, token and project, set up through the CLI. */
  async function tenant(name: string, limits: string[]) {
    const token = `tok-${name}`
    const site = (await (
      await fetch(`${sandbox.line['apiUrl']}/sites`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name }),
      })
    ).json()) as { id: string }
    const customer = (await cli('customers', 'create', '--name', name))['id']!
    const key = (await cli('keys', 'create', '--customer', customer))['key']!
    await cli('tokens', 'set', '--customer', customer, '--token', token)
    await cli('projects', 'add', '--customer', customer, '--site-id', site.id, '--name', name)
    await cli('limits', 'set', '--customer', customer, ...limits)
    return { customer, key, project: name }
  }

  /** Bytes of uploads the sandbox is receiving right now (its partial files). */
  async function partialBytes(dir: string): Promise<number> {
    let total = 0
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) total += await partialBytes(path)
      else if (entry.name.endsWith('.part'))
        total += await stat(path).then(
          (s) => s.size,
          () => 0,
        )
    }
    return total
  }

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'kaixu-2p-'))
    sandbox = await startProcess(
      [gatewayBin, 'sandbox', '--port', '0', '--json'],
      { KAIXU_DATA_DIR: join(work, 'netlify') },
      (j) => typeof j['url'] === 'string',
    )
    const pg = await scratchPostgres()
    drop = pg.drop
    env = {
      DATABASE_URL: pg.url,
      NETLIFY_API_URL: String(sandbox.line['apiUrl']),
      KAIXU_VAULT_KEYS: testVaultKeys(),
      KAIXU_DATA_DIR: join(work, 'gateway'),
      KAIXU_CHUNK_BYTES: String(CHUNK),
      // The zip test's 40 files; every other test pushes fewer, so it stays file by file.
      KAIXU_ZIP_MIN_FILES: '20',
      LOG_LEVEL: 'info',
      PORT: '0',
    }
    await cli('migrate')
    for (let i = 0; i < 2; i++) {
      gateways.push(
        await startProcess([gatewayBin, 'serve'], env, (j) => j['msg'] === 'gateway listening'),
      )
    }
  }, 120_000)

  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop()))
    await sandbox?.stop()
    await drop?.()
    await rm(work, { recursive: true, force: true })
  })

  const urls = () => gateways.map((g) => ({ url: String(g.line['url']) }))

  test('50 inits spread over both processes against a cap of 10: exactly 10 succeed', async () => {
    const t = await tenant('capped', [
      '--deploys-per-month',
      '10',
      '--per-minute',
      '1000',
      '--per-day',
      '100000',
    ])
    const [a, b] = urls()
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        api(i % 2 ? a! : b!, t.key, 'POST', '/v1/push-init', {
          project: t.project,
          files: { 'a.txt': sha1(`x${i}`) },
        }),
      ),
    )
    expect(results.filter((r) => r.status === 201)).toHaveLength(10)
    expect(results.filter((r) => r.status === 402)).toHaveLength(40)
  })

  test('pacing is shared: 20 inits over both processes at 3 per minute admit exactly 3', async () => {
    const t = await tenant('paced', ['--per-minute', '3', '--per-day', '100'])
    const [a, b] = urls()
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        api(i % 2 ? a! : b!, t.key, 'POST', '/v1/push-init', {
          project: t.project,
          files: { 'a.txt': sha1(`y${i}`) },
        }),
      ),
    )
    // A minute boundary may fall inside the burst; then each window still admits at most 3.
    const admitted = results.filter((r) => r.status === 201).length
    expect(admitted === 3 || admitted === 6).toBe(true)
    expect(results.filter((r) => r.status === 429)).toHaveLength(20 - admitted)
  })

  test('a push started on one process completes through the other and bills once', async () => {
    const t = await tenant('crossing', ['--per-minute', '1000'])
    const [a, b] = urls()
    const init = await api(a!, t.key, 'POST', '/v1/push-init', {
      project: t.project,
      files: { 'i.html': sha1('hi') },
    })
    await api(
      b!,
      t.key,
      'PUT',
      `/v1/push-upload?pushId=${init.body['pushId']}`,
      Buffer.from('hi'),
      { 'x-content-sha1': sha1('hi') },
    )
    const done = await api(b!, t.key, 'POST', '/v1/push-complete', {
      pushId: init.body['pushId'],
      wait: true,
    })
    expect(done.body['state']).toBe('ready')
    const usage = await api(a!, t.key, 'GET', '/v1/usage')
    expect(usage.body['deploys']).toBe(1)
  })

  test('chunks alternate between processes; Netlify gets the file early and once', async () => {
    // The streaming assembly, in whichever process runs the job, finds the other's chunks in
    // the database.
    const { key } = await tenant('chunks', ['--per-minute', '1000'])
    const gw = (i: number) => ({ url: String(gateways[i % 2]!.line['url']) })

    const file = randomBytes(CHUNK * 8 + 321)
    const count = Math.ceil(file.length / CHUNK)
    const init = await api(gw(0), key, 'POST', '/v1/push-init', {
      project: 'chunks',
      files: { 'big.bin': sha1(file) },
      sizes: { 'big.bin': file.length },
    })
    expect(init.status).toBe(201)
    const pushId = String(init.body['pushId'])
    const put = async (index: number) => {
      const body = file.subarray(index * CHUNK, (index + 1) * CHUNK)
      const res = await api(gw(index), key, 'PUT', `/v1/push-upload-chunk?pushId=${pushId}`, body, {
        'x-content-sha1': sha1(file),
        'x-chunk-index': String(index),
        'x-chunk-count': String(count),
        'x-chunk-sha1': sha1(body),
      })
      expect(res.status).toBe(201)
    }
    for (let i = 0; i < count - 1; i++) await put(i)
    // The file is on its way to Netlify before its last chunk is sent.
    const deadline = Date.now() + 30_000
    while ((await partialBytes(join(work, 'netlify'))) < 2 * CHUNK) {
      if (Date.now() > deadline) throw new Error('Netlify never received the first chunks')
      await sleep(25)
    }
    await put(count - 1)

    const done = await api(gw(1), key, 'POST', '/v1/push-complete', { pushId, wait: true })
    expect(done.body['state']).toBe('ready')
    const served = await fetchSite(`${done.body['deploy_ssl_url']}/big.bin`)
    expect(served.body.equals(file)).toBe(true)
    const stats = (await (await fetch(`${sandbox.line['url']}/__sandbox/stats`)).json()) as {
      filePutsBySha: Record<string, number>
    }
    expect(stats.filePutsBySha[sha1(file)]).toBe(1)
  }, 120_000)

  test('a zip push staged through both processes is deployed once, from either', async () => {
    const { key } = await tenant('zipped', ['--per-minute', '1000'])
    const gw = (i: number) => ({ url: String(gateways[i % 2]!.line['url']) })
    const control = (body: unknown) =>
      fetch(`${sandbox.line['url']}/__sandbox/config`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
    // 30 requests a minute: the 40 PUTs would not fit, so push-init chooses one zip deploy.
    await control({ rateLimitPerMinute: 30 })
    try {
      const files = Array.from({ length: 40 }, (_, i) => randomBytes(100 + i))
      const init = await api(gw(0), key, 'POST', '/v1/push-init', {
        project: 'zipped',
        files: Object.fromEntries(files.map((f, i) => [`p/${i}.bin`, sha1(f)])),
        sizes: Object.fromEntries(files.map((f, i) => [`p/${i}.bin`, f.length])),
      })
      expect(init.body['delivery']).toBe('zip')
      const pushId = String(init.body['pushId'])
      // Each file through the other process than the one before: kept rows both can read.
      for (const [i, f] of files.entries()) {
        const res = await api(gw(i), key, 'PUT', `/v1/push-upload?pushId=${pushId}`, f, {
          'x-content-sha1': sha1(f),
        })
        expect(res.status).toBe(200)
      }
      const done = await api(gw(1), key, 'POST', '/v1/push-complete', { pushId, wait: true })
      expect(done.body).toMatchObject({ state: 'ready', delivery: 'zip' })
      for (const i of [0, 17, 39]) {
        const served = await fetchSite(`${done.body['deploy_ssl_url']}/p/${i}.bin`)
        expect(served.body.equals(files[i]!)).toBe(true)
      }
      const stats = (await (await fetch(`${sandbox.line['url']}/__sandbox/stats`)).json()) as {
        zipDeploys: number
      }
      expect(stats.zipDeploys).toBe(1)
      const usage = await api(gw(0), key, 'GET', '/v1/usage')
      expect(usage.body['deploys']).toBe(1)
    } finally {
      await control({ rateLimitPerMinute: 500 })
    }
  }, 120_000)
})
