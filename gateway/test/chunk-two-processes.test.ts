import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { api, fetchSite, scratchPostgres, testVaultKeys } from './helpers/gateway.ts'
import { gatewayBin, runCli, startProcess, type Started } from './helpers/processes.ts'

const sha1 = (data: string | Buffer) => createHash('sha1').update(data).digest('hex')
const CHUNK = 64 * 1024

/**
 * A chunked file whose chunks land on two gateway processes sharing one Postgres database: the
 * streaming assembly (in whichever process runs the job) finds the other process's chunks in
 * the database, and the file reaches Netlify once. Needs TEST_DATABASE_URL.
 */
const onPostgres = process.env['TEST_DATABASE_URL'] ? describe : describe.skip

onPostgres('a chunked file streamed across two gateway processes', () => {
  let work: string
  let sandbox: Started
  const gateways: Started[] = []
  let drop: () => Promise<void>
  let env: Record<string, string>

  const cli = async (...args: string[]) => {
    const res = await runCli([...args, '--json'], env)
    if (res.code !== 0) throw new Error(`kaixu-gateway ${args.join(' ')}: ${res.stderr}`)
    return JSON.parse(res.stdout) as Record<string, string>
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
    work = await mkdtemp(join(tmpdir(), 'kaixu-chunk-2p-'))
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

  test('chunks alternate between processes; Netlify gets the file early and once', async () => {
    const token = 'tok-chunks'
    const site = (await (
      await fetch(`${sandbox.line['apiUrl']}/sites`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'chunks' }),
      })
    ).json()) as { id: string }
    const customer = (await cli('customers', 'create', '--name', 'Chunks'))['id']!
    const key = (await cli('keys', 'create', '--customer', customer))['key']!
    await cli('tokens', 'set', '--customer', customer, '--token', token)
    await cli('projects', 'add', '--customer', customer, '--site-id', site.id, '--name', 'chunks')
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
})
