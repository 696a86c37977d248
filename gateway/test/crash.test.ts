import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { api, fetchSite, testVaultKeys } from './helpers/gateway.ts'
import { cliJson, gatewayBin, startProcess, type Started } from './helpers/processes.ts'
import { sha1 } from './helpers/pushes.ts'

/**
 * `kill -9` of the gateway in the middle of background work. The Netlify sandbox runs as its own
 * process (it must outlive the gateway), and the gateway restarts on the same embedded data
 * directory: the push still reaches ready, bills exactly once, and no stored chunk is lost.
 */
describe('crash safety (kill -9 mid-job)', () => {
  let work: string
  let sandbox: Started
  let gateway: Started | undefined
  let env: Record<string, string>
  let key: string
  let project: string
  let customerId: string

  const sandboxUrl = () => String(sandbox.line['url'])
  const control = (path: string, body: unknown) =>
    fetch(`${sandboxUrl()}/__sandbox${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
  const startGateway = async () => {
    gateway = await startProcess(
      [gatewayBin, 'serve'],
      env,
      (j) => j['msg'] === 'gateway listening',
    )
    return { url: String(gateway.line['url']) }
  }
  const cli = (...args: string[]) => cliJson(env)(...args)

  /** Polls push-status until the push is final (or the deadline passes). */
  async function waitFinal(gw: { url: string }, pushId: string, ms = 90_000) {
    const deadline = Date.now() + ms
    for (;;) {
      const res = await api(gw, key, 'GET', `/v1/push-status?pushId=${pushId}`)
      if (['ready', 'error'].includes(res.body['state']) || Date.now() > deadline) return res.body
      await sleep(250)
    }
  }

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'kaixu-crash-'))
    sandbox = await startProcess(
      [gatewayBin, 'sandbox', '--port', '0', '--json'],
      { KAIXU_DATA_DIR: join(work, 'netlify') },
      (j) => typeof j['url'] === 'string',
    )
    env = {
      KAIXU_DATA_DIR: join(work, 'gateway'),
      NETLIFY_API_URL: String(sandbox.line['apiUrl']),
      KAIXU_VAULT_KEYS: testVaultKeys(),
      KAIXU_PACING_PER_MINUTE: '1000',
      KAIXU_CHUNK_BYTES: String(64 * 1024),
      // Detect the dead worker's job fast; retry soon.
      KAIXU_JOB_HEARTBEAT_SECONDS: '10',
      KAIXU_JOB_RETRY_DELAY_SECONDS: '1',
      LOG_LEVEL: 'info',
      PORT: '0',
    }
    const token = 'crash-token'
    const site = (await (
      await fetch(`${sandbox.line['apiUrl']}/sites`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'crash-site' }),
      })
    ).json()) as { id: string }
    customerId = (await cli('customers', 'create', '--name', 'Crash'))['id']!
    key = (await cli('keys', 'create', '--customer', customerId))['key']!
    await cli('tokens', 'set', '--customer', customerId, '--token', token)
    project = (
      await cli(
        'projects',
        'add',
        '--customer',
        customerId,
        '--site-id',
        site.id,
        '--name',
        'crash-site',
      )
    )['name']!
  }, 120_000)

  afterAll(async () => {
    await gateway?.stop()
    await sandbox?.stop()
    await rm(work, { recursive: true, force: true })
  })

  test('killed during finalization: after a restart the push is ready and billed once', async () => {
    let gw = await startGateway()
    // Netlify takes a while to process, so finalization is mid-poll when the gateway dies.
    await control('/config', { processingMs: 6000 })
    const content = randomBytes(1000)
    const init = await api(gw, key, 'POST', '/v1/push-init', {
      project,
      files: { 'index.html': sha1(content) },
    })
    const pushId = String(init.body['pushId'])
    await api(gw, key, 'PUT', `/v1/push-upload?pushId=${pushId}`, content, {
      'x-content-sha1': sha1(content),
    })
    expect((await api(gw, key, 'POST', '/v1/push-complete', { pushId })).status).toBe(202)
    await sleep(1500)
    expect(await gateway!.stop('SIGKILL')).toBeNull()
    await control('/config', { processingMs: 50 })

    gw = await startGateway()
    const final = await waitFinal(gw, pushId)
    expect(final['state']).toBe('ready')
    expect((await fetchSite(`${final['deploy_ssl_url']}/index.html`)).body.equals(content)).toBe(
      true,
    )
    const usage = await api(gw, key, 'GET', '/v1/usage')
    expect(usage.body['deploys']).toBe(1)
    await gateway!.stop()
  }, 180_000)

  test('killed during assembly: the chunks survive, and after a restart the file lands once', async () => {
    let gw = await startGateway()
    const file = randomBytes(64 * 1024 * 3)
    const init = await api(gw, key, 'POST', '/v1/push-init', {
      project,
      files: { 'big.bin': sha1(file) },
      sizes: { 'big.bin': file.length },
    })
    const pushId = String(init.body['pushId'])
    // Netlify answers the assembled file slowly, so assembly is in flight when the gateway dies.
    await control('/faults', [
      { match: { method: 'PUT', path: '/files/big.bin' }, delayMs: 8000, times: 1 },
    ])
    for (let i = 0; i < 3; i++) {
      const part = file.subarray(i * 65536, (i + 1) * 65536)
      const res = await api(gw, key, 'PUT', `/v1/push-upload-chunk?pushId=${pushId}`, part, {
        'x-content-sha1': sha1(file),
        'x-chunk-index': String(i),
        'x-chunk-count': '3',
        'x-chunk-sha1': sha1(part),
      })
      expect(res.status).toBe(201)
    }
    await sleep(2000)
    expect(await gateway!.stop('SIGKILL')).toBeNull()

    gw = await startGateway()
    const status = await api(
      gw,
      key,
      'GET',
      `/v1/push-upload-chunk?pushId=${pushId}&sha1=${sha1(file)}`,
    )
    expect(status.body['received']).toEqual([0, 1, 2])
    await api(gw, key, 'POST', '/v1/push-complete', { pushId })
    const final = await waitFinal(gw, pushId)
    expect(final['state']).toBe('ready')
    expect((await fetchSite(`${final['deploy_ssl_url']}/big.bin`)).body.equals(file)).toBe(true)
    const usage = await api(gw, key, 'GET', '/v1/usage')
    expect(usage.body['deploys']).toBe(2)
  }, 180_000)

  test('killed between admission and Netlify deploy creation: after a restart no row keeps the reservation', async () => {
    // A short idle timeout bounds the creation lease too, so the dead init's lease passes in
    // seconds here (in production: the longest deploy creation, about 6 minutes).
    const admin = 'crash-admin-token-0123456789abcdef'
    const crashEnv = { ...env, KAIXU_PUSH_IDLE_TIMEOUT_SECONDS: '2', KAIXU_ADMIN_TOKEN: admin }
    const start = async () => {
      gateway = await startProcess(
        [gatewayBin, 'serve'],
        crashEnv,
        (j) => j['msg'] === 'gateway listening',
      )
      return { url: String(gateway.line['url']) }
    }
    await gateway?.stop() // the test before leaves its gateway running
    let gw = await start()
    const limits = async () =>
      (await api(gw, key, 'GET', '/v1/usage')).body['limits']['deploys'] as {
        used: number
        remaining: number
      }
    // The cap has room for exactly one more deploy.
    const used = (await limits()).used
    expect(
      (
        await api(gw, admin, 'PUT', `/admin/api/customers/${customerId}/limits`, {
          deploysPerMonth: used + 1,
        })
      ).status,
    ).toBe(200)
    // Netlify takes long to create the deploy: the gateway dies after admission, before it.
    await control('/faults', [
      { match: { method: 'POST', pathRegex: '/sites/[^/]+/deploys' }, delayMs: 60_000 },
    ])
    const files = { 'index.html': sha1(randomBytes(20)) }
    void api(gw, key, 'POST', '/v1/push-init', { project, files }).catch(() => {})
    for (let i = 0; i < 200; i++) {
      const pending = (await (await fetch(`${sandboxUrl()}/__sandbox/faults`)).json()) as unknown[]
      if (pending.length === 0) break
      await sleep(25)
    }
    expect((await limits()).used).toBe(used + 1)
    expect(await gateway!.stop('SIGKILL')).toBeNull()
    await fetch(`${sandboxUrl()}/__sandbox/faults`, { method: 'DELETE' })

    gw = await start()
    await sleep(2500) // the dead init's lease (the idle timeout here) passes
    const again = await api(gw, key, 'POST', '/v1/push-init', { project, files })
    expect(again.status).toBe(201)
    expect((await limits()).used).toBe(used + 1)
    await gateway!.stop()
  }, 180_000)
})
