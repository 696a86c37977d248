import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { ConfigError, loadConfig } from '../src/config.ts'
import { createLogger } from '../src/lib/logger.ts'
import { startSandboxServer } from '../src/netlify/sandbox/index.ts'
import { createVault, parseKeyring } from '../src/services/vault.ts'
import { startGateway, type RunningGateway } from '../src/start/gateway.ts'
import { ADMIN_TOKEN, adminApi, createAccountTenant } from './helpers/accounts.ts'
import { api, databases, scratchPostgres, type Tenant } from './helpers/gateway.ts'
import { runCli } from './helpers/processes.ts'
import { sha1 } from './helpers/pushes.ts'

const keyMaterial = () => randomBytes(32).toString('base64')

test('the vault seals with the first key, opens with any, and binds the customer in', () => {
  const old = keyMaterial()
  const sealedOld = createVault(parseKeyring(`old:${old}`)).seal('cus_a', 'secret-token')
  const vault = createVault(parseKeyring(`new:${keyMaterial()},old:${old}`))
  expect(vault.activeKeyId).toBe('new')
  expect(vault.open('cus_a', sealedOld.ciphertext)).toBe('secret-token')
  const a = vault.seal('cus_a', 'secret-token')
  const b = vault.seal('cus_a', 'secret-token')
  expect(a.keyId).toBe('new')
  expect(a.ciphertext.startsWith('v1.new.')).toBe(true)
  // A random IV per message: the same plaintext never gives the same ciphertext.
  expect(a.ciphertext).not.toBe(b.ciphertext)
  expect(() => vault.open('cus_b', a.ciphertext)).toThrow(/does not decrypt/)
  const [v, kid, iv, ct, tag] = a.ciphertext.split('.')
  const flipped = Buffer.from(ct!, 'base64url')
  flipped[0] = flipped[0]! ^ 1
  expect(() =>
    vault.open('cus_a', [v, kid, iv, flipped.toString('base64url'), tag].join('.')),
  ).toThrow(/does not decrypt/)
  expect(() => vault.open('cus_a', a.ciphertext.replace('v1.new.', 'v1.gone.'))).toThrow(
    /not in KAIXU_VAULT_KEYS/,
  )
  expect(() => parseKeyring('k1:c2hvcnQ=')).toThrow(ConfigError)
  expect(() => parseKeyring(`k1:${old},k1:${old}`)).toThrow(/twice/)
})

describe.each(databases())('vault keys and rotation on %s', (database) => {
  let work: string
  let sandbox: Awaited<ReturnType<typeof startSandboxServer>>
  let pg: { url: string; drop(): Promise<void> } | undefined
  const keys = { k1: keyMaterial(), k2: keyMaterial(), k3: keyMaterial() }
  const ring = (...ids: (keyof typeof keys)[]) => ids.map((id) => `${id}:${keys[id]}`).join(',')

  /** A gateway on the suite's one database (it outlives restarts) and the shared sandbox. */
  const open = (env: Record<string, string>, logStream?: NodeJS.WritableStream) => {
    const config = loadConfig({
      KAIXU_DATA_DIR: join(work, 'data'),
      PORT: '0',
      NETLIFY_API_URL: `${sandbox.url}/api/v1`,
      LOG_LEVEL: logStream ? 'info' : 'silent',
      KAIXU_ADMIN_TOKEN: ADMIN_TOKEN,
      KAIXU_PACING_PER_MINUTE: '100000',
      ...(pg ? { DATABASE_URL: pg.url } : {}),
      ...env,
    })
    return startGateway(config, createLogger(config.logLevel, logStream))
  }

  const push = async (gw: RunningGateway, t: Tenant) => {
    const content = `v${Math.random()}`
    const init = await api(gw, t.key, 'POST', '/v1/push-init', {
      project: t.projectName,
      files: { 'index.html': sha1(content) },
    })
    expect(init.status).toBe(201)
    await api(
      gw,
      t.key,
      'PUT',
      `/v1/push-upload?pushId=${init.body['pushId']}`,
      Buffer.from(content),
      {
        'x-content-sha1': sha1(content),
      },
    )
    const done = await api(gw, t.key, 'POST', '/v1/push-complete', {
      pushId: init.body['pushId'],
      wait: true,
    })
    return done.body['state']
  }

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'kaixu-vault-'))
    sandbox = await startSandboxServer({
      dataDir: join(work, 'sandbox'),
      port: 0,
      logger: createLogger('silent'),
    })
    pg = database === 'postgres' ? await scratchPostgres() : undefined
  })
  afterAll(async () => {
    await sandbox?.close()
    await pg?.drop()
    await rm(work, { recursive: true, force: true })
  })

  test('rotation re-encrypts every token while serving; startup refuses a keyring that lacks a key in use', async () => {
    let gw = await open({ KAIXU_VAULT_KEYS: ring('k1') })
    const a = await createAccountTenant(gw, 'Alpha', sandbox)
    const b = await createAccountTenant(gw, 'Beta', sandbox)
    await gw.close()

    // Step 1 of the runbook: the new key goes first, the old one stays to decrypt.
    gw = await open({ KAIXU_VAULT_KEYS: ring('k2', 'k1') })
    try {
      const status = await adminApi(gw, 'GET', '/vault')
      expect(status.body).toMatchObject({ activeKeyId: 'k2', tokensByKey: { k1: 2 }, pending: 2 })
      expect(await push(gw, a)).toBe('ready')
      // New tokens are sealed with the new key right away.
      const c = await createAccountTenant(gw, 'Gamma', sandbox)
      expect((await adminApi(gw, 'GET', '/vault')).body['tokensByKey']).toEqual({ k1: 2, k2: 1 })

      // Step 2: rotate, with the gateway serving pushes meanwhile.
      const during = Promise.all([push(gw, a), push(gw, b), push(gw, c)])
      const rotated = await adminApi(gw, 'POST', '/vault/rotate')
      expect(rotated.status).toBe(200)
      expect(rotated.body).toMatchObject({
        activeKeyId: 'k2',
        rotated: 2,
        failed: [],
        status: { tokensByKey: { k2: 3 }, pending: 0 },
      })
      expect(await during).toEqual(['ready', 'ready', 'ready'])
      expect(await Promise.all([push(gw, a), push(gw, b)])).toEqual(['ready', 'ready'])
      // Rotating again finds nothing left to do.
      expect((await adminApi(gw, 'POST', '/vault/rotate')).body['rotated']).toBe(0)
      const audit = await adminApi(gw, 'GET', '/audit?action=vault')
      expect(audit.body['entries'].map((e: any) => e.action)).toEqual([
        'vault.rotate',
        'vault.rotate',
        'vault.rotate.batch',
      ])
      expect(audit.body['entries'][2]).toMatchObject({
        actor: 'admin',
        details: { activeKeyId: 'k2', customers: [a.customerId, b.customerId].sort() },
      })
    } finally {
      await gw.close()
    }

    // Step 3 would drop k1; dropping k2 instead strands tokens, so the gateway refuses to start.
    await expect(open({ KAIXU_VAULT_KEYS: ring('k1') })).rejects.toThrow(/lacks 'k2' \(3 token/)
    gw = await open({ KAIXU_VAULT_KEYS: ring('k2') })
    try {
      expect(await push(gw, b)).toBe('ready')
    } finally {
      await gw.close()
    }
  })

  test('`kaixu-gateway vault rotate` works beside a serving gateway', async () => {
    const gw = await open({ KAIXU_VAULT_KEYS: ring('k3', 'k2') })
    try {
      const t = await createAccountTenant(gw, 'Delta', sandbox)
      const env = {
        KAIXU_DATA_DIR: join(work, 'data'),
        KAIXU_VAULT_KEYS: ring('k3', 'k2'),
        NETLIFY_API_URL: `${sandbox.url}/api/v1`,
        KAIXU_ADMIN_TOKEN: ADMIN_TOKEN,
        ...(pg ? { DATABASE_URL: pg.url } : {}),
      }
      if (database === 'pglite') {
        // The embedded database belongs to `serve`: without its URL the CLI refuses, clearly.
        const busy = await runCli(['vault', 'rotate'], env)
        expect(busy.code).toBe(1)
        expect(busy.stderr).toMatch(/holds .*KAIXU_GATEWAY_URL/s)
      }
      // On Postgres the CLI rotates directly; on PGlite it goes through the gateway's admin API.
      const res = await runCli(['vault', 'rotate', '--json'], {
        ...env,
        ...(database === 'pglite' ? { KAIXU_GATEWAY_URL: gw.url } : {}),
      })
      expect(res.code).toBe(0)
      expect(JSON.parse(res.stdout)).toMatchObject({
        activeKeyId: 'k3',
        rotated: 3,
        status: { tokensByKey: { k3: 4 }, pending: 0 },
      })
      expect(await push(gw, t)).toBe('ready')
      const human = await runCli(['vault', 'status'], {
        ...env,
        ...(database === 'pglite' ? { KAIXU_GATEWAY_URL: gw.url } : {}),
      })
      expect(human.stdout).toContain('k3: 4 token(s)')
    } finally {
      await gw.close()
    }
  })

  const embeddedOnly = database === 'pglite' ? test : test.skip
  embeddedOnly(
    'without a keyring the embedded gateway generates one into its data dir, with a warning',
    async () => {
      const dataDir = await mkdtemp(join(tmpdir(), 'kaixu-vaultgen-'))
      try {
        const lines: string[] = []
        const stream = new PassThrough()
        stream.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter(Boolean)))
        let gw = await open({ KAIXU_DATA_DIR: dataDir, KAIXU_VAULT_KEYS: '' }, stream)
        const t = await createAccountTenant(gw, 'Local', sandbox)
        await gw.close()
        const warning = lines
          .map((l) => JSON.parse(l))
          .find((l) => /generated a vault key/.test(l.msg))
        expect(warning).toMatchObject({ level: 40 })
        const file = join(dataDir, 'vault.key')
        expect((await stat(file)).mode & 0o777).toBe(0o600)
        expect(await readFile(file, 'utf8')).toMatch(/^local:[A-Za-z0-9+/]{43}=$/)
        // The same key next time: the stored token still opens.
        gw = await open({ KAIXU_DATA_DIR: dataDir, KAIXU_VAULT_KEYS: '' })
        try {
          expect(await push(gw, t)).toBe('ready')
        } finally {
          await gw.close()
        }
      } finally {
        await rm(dataDir, { recursive: true, force: true })
      }
    },
  )

  const postgresOnly = database === 'postgres' ? test : test.skip
  postgresOnly('with Postgres a keyring is required', async () => {
    await expect(open({ KAIXU_VAULT_KEYS: '' })).rejects.toThrow(
      /KAIXU_VAULT_KEYS: required with DATABASE_URL/,
    )
  })
})
