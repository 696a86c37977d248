import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { loadConfig } from '../src/config.ts'
import { createLogger } from '../src/lib/logger.ts'
import { startGateway, type RunningGateway } from '../src/start/gateway.ts'
import {
  api,
  createTenant,
  databases,
  fetchSite,
  scratchPostgres,
  startTestGateway,
  testVaultKeys,
  type Tenant,
  type TestGateway,
} from './helpers/gateway.ts'
import { gatewayBin, runCli, startProcess, type Started } from './helpers/processes.ts'
import { sha1 } from './helpers/pushes.ts'

const CHUNK = 64 * 1024

/**
 * Moving off the embedded database: a gateway on PGlite (its vault key generated into the data
 * directory) has a finished push and a chunked upload half done; `kaixu-gateway db export`
 * writes it out, `db import` loads it into a new database, and a gateway there carries on as if
 * nothing happened. The target is Postgres when TEST_DATABASE_URL is set (the move operators
 * make), else another PGlite (so the commands are still exercised everywhere).
 */
describe.each(databases().slice(-1))('db export from PGlite, db import into %s', (target) => {
  let work: string
  let source: TestGateway
  let t: Tenant
  let exportFile: string
  let exported: Record<string, unknown>
  let vaultKeys: string
  let targetEnv: Record<string, string>
  let drop: (() => Promise<void>) | undefined
  let moved: RunningGateway | undefined
  let netlify: Started
  const file = randomBytes(CHUNK * 2 + 999)
  const parts = [0, 1, 2].map((i) => file.subarray(i * CHUNK, (i + 1) * CHUNK))
  let readyPushId: string
  let chunkedPushId: string
  let zipPushId: string
  const zipFiles = [Buffer.from('<p>zip a</p>'), Buffer.from('<p>zip b</p>')]
  const putZipFile = (gw: { url: string }, i: number) =>
    api(gw, t.key, 'PUT', `/v1/push-upload?pushId=${zipPushId}`, zipFiles[i]!, {
      'x-content-sha1': sha1(zipFiles[i]!),
    })
  let usageBefore: unknown

  const putChunk = (gw: { url: string }, index: number) =>
    api(gw, t.key, 'PUT', `/v1/push-upload-chunk?pushId=${chunkedPushId}`, parts[index]!, {
      'x-content-sha1': sha1(file),
      'x-chunk-index': String(index),
      'x-chunk-count': '3',
      'x-chunk-sha1': sha1(parts[index]!),
    })
  const month = new Date().toISOString().slice(0, 7)

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'kaixu-move-'))
    exportFile = join(work, 'export.jsonl')
    // One Netlify sandbox outlives both gateways (the built-in one would die with the first).
    netlify = await startProcess(
      [gatewayBin, 'sandbox', '--port', '0', '--json'],
      { KAIXU_DATA_DIR: join(work, 'netlify') },
      (j) => typeof j['url'] === 'string',
    )
    // No KAIXU_VAULT_KEYS: the embedded gateway generates its own key, as on a laptop.
    source = await startTestGateway('pglite', {
      KAIXU_VAULT_KEYS: '',
      KAIXU_CHUNK_BYTES: String(CHUNK),
      // The small push below goes as a zip; the big file's push cannot (it needs chunks).
      KAIXU_ZIP: 'always',
      KAIXU_INLINE_MAX_BYTES: String(CHUNK),
      NETLIFY_API_URL: String(netlify.line['apiUrl']),
    })
    // Sites are made on the sandbox; the customer, key, token and project on the gateway.
    t = await createTenant({ ...source, url: String(netlify.line['url']) })
    const page = '<p>moved</p>'
    const init = await api(source, t.key, 'POST', '/v1/push-init', {
      project: t.projectName,
      files: { 'index.html': sha1(page) },
    })
    readyPushId = String(init.body['pushId'])
    await api(source, t.key, 'PUT', `/v1/push-upload?pushId=${readyPushId}`, Buffer.from(page), {
      'x-content-sha1': sha1(page),
    })
    const done = await api(source, t.key, 'POST', '/v1/push-complete', {
      pushId: readyPushId,
      wait: true,
    })
    expect(done.body['state']).toBe('ready')
    const chunked = await api(source, t.key, 'POST', '/v1/push-init', {
      project: t.projectName,
      files: { 'big.bin': sha1(file) },
      sizes: { 'big.bin': file.length },
    })
    chunkedPushId = String(chunked.body['pushId'])
    expect((await putChunk(source, 0)).status).toBe(201)
    expect((await putChunk(source, 1)).status).toBe(201)
    // A zip push with one of its two files kept (a file beside PGlite) when the database moves.
    const zipped = await api(source, t.key, 'POST', '/v1/push-init', {
      project: t.projectName,
      files: { 'a.html': sha1(zipFiles[0]!), 'b.html': sha1(zipFiles[1]!) },
      sizes: { 'a.html': zipFiles[0]!.length, 'b.html': zipFiles[1]!.length },
    })
    expect(zipped.body['delivery']).toBe('zip')
    zipPushId = String(zipped.body['pushId'])
    expect((await putZipFile(source, 0)).status).toBe(200)
    usageBefore = (await api(source, t.key, 'GET', `/v1/usage?month=${month}`)).body
    vaultKeys = (await readFile(join(source.dataDir, 'vault.key'), 'utf8')).trim()
  }, 120_000)

  afterAll(async () => {
    await moved?.close()
    await source?.close()
    await netlify?.stop()
    await drop?.()
    if (source) await rm(source.dataDir, { recursive: true, force: true })
    if (work) await rm(work, { recursive: true, force: true })
  })

  test('export refuses while the gateway holds the embedded database, then writes every table', async () => {
    const env = { KAIXU_DATA_DIR: source.dataDir }
    const busy = await runCli(['db', 'export', '--out', exportFile], env)
    expect(busy.code).toBe(1)
    expect(busy.stderr).toContain(`holds ${source.dataDir}`)

    await source.close()
    const res = await runCli(['db', 'export', '--out', exportFile, '--json'], env)
    expect(res.stderr).toBe('')
    exported = JSON.parse(res.stdout) as Record<string, unknown>
    expect(exported).toMatchObject({
      source: 'pglite',
      vaultKeyFile: join(source.dataDir, 'vault.key'),
    })
    const tables = exported['tables'] as Record<string, number>
    expect(tables).toMatchObject({
      customers: 1,
      pushes: 3,
      push_usage_events: 1,
      push_chunks: 2,
      push_staged_files: 2,
    })
    // Nothing of the token in clear: it travels sealed, the key stays behind; owner-only file.
    expect((await stat(exportFile)).mode & 0o777).toBe(0o600)
    const text = await readFile(exportFile, 'utf8')
    expect(text).not.toContain(t.netlifyToken)
    expect(text).not.toContain(t.key)
    expect(text).not.toContain(vaultKeys.split(':')[1])
  })

  test('import refuses without the vault key the tokens are sealed with, and writes nothing', async () => {
    const pg = target === 'postgres' ? await scratchPostgres() : undefined
    drop = pg?.drop
    targetEnv = {
      KAIXU_DATA_DIR: join(work, 'target'),
      ...(pg ? { DATABASE_URL: pg.url } : {}),
    }
    const wrong = await runCli(['db', 'import', '--in', exportFile], {
      ...targetEnv,
      KAIXU_VAULT_KEYS: testVaultKeys(),
    })
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toContain("KAIXU_VAULT_KEYS lacks 'local'")
  })

  test('import loads every row into the new database; a second import is refused', async () => {
    targetEnv['KAIXU_VAULT_KEYS'] = vaultKeys
    const res = await runCli(['db', 'import', '--in', exportFile, '--json'], targetEnv)
    expect(res.stderr).toBe('')
    expect(JSON.parse(res.stdout)).toEqual({
      file: exportFile,
      target,
      tables: exported['tables'],
    })
    const again = await runCli(['db', 'import', '--in', exportFile], targetEnv)
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('this database is not empty')
  })

  test('a gateway on the new database serves the moved data and finishes the half-done upload', async () => {
    const config = loadConfig({
      ...targetEnv,
      PORT: '0',
      NETLIFY_API_URL: String(netlify.line['apiUrl']),
      LOG_LEVEL: 'silent',
      KAIXU_CHUNK_BYTES: String(CHUNK),
    })
    moved = await startGateway(config, createLogger('silent'))

    // The key, the tenant, the sealed Netlify token (a live refresh) and the usage all moved.
    const status = await api(moved, t.key, 'GET', `/v1/push-status?pushId=${readyPushId}`)
    expect(status.status).toBe(200)
    expect(status.body['state']).toBe('ready')
    expect((await api(moved, t.key, 'GET', `/v1/usage?month=${month}`)).body).toEqual(usageBefore)

    // The chunks that were files beside PGlite came along: the last one completes the file.
    const resume = await api(
      moved,
      t.key,
      'GET',
      `/v1/push-upload-chunk?pushId=${chunkedPushId}&sha1=${sha1(file)}`,
    )
    expect(resume.status).toBe(200)
    expect((await putChunk(moved, 2)).status).toBe(201)
    const done = await api(moved, t.key, 'POST', '/v1/push-complete', {
      pushId: chunkedPushId,
      wait: true,
    })
    expect(done.body).toMatchObject({ state: 'ready' })
    const served = await fetchSite(`${done.body['deploy_ssl_url']}/big.bin`)
    expect(sha1(served.body)).toBe(sha1(file))

    // The zip push's kept file came along in its row: the second one completes the archive.
    expect((await putZipFile(moved, 1)).status).toBe(200)
    const zipped = await api(moved, t.key, 'POST', '/v1/push-complete', {
      pushId: zipPushId,
      wait: true,
    })
    expect(zipped.body).toMatchObject({ state: 'ready', delivery: 'zip' })
    for (const [i, name] of ['a.html', 'b.html'].entries()) {
      const page = await fetchSite(`${zipped.body['deploy_ssl_url']}/${name}`)
      expect(page.body.equals(zipFiles[i]!)).toBe(true)
    }

    // Ids from sequences continue past the imported ones (audit rows, usage events).
    const usage = (await api(moved, t.key, 'GET', `/v1/usage?month=${month}`)).body
    expect(usage).not.toEqual(usageBefore)
  })
})
