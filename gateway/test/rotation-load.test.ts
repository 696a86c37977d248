import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { createVault, parseKeyring } from '../src/services/vault.ts'
import {
  ADMIN_TOKEN,
  adminApi,
  createAccountTenant,
  netlifyTokenFor,
  sandboxControl,
} from './helpers/accounts.ts'
import {
  api,
  databases,
  startTestGateway,
  type Tenant,
  type TestGateway,
} from './helpers/gateway.ts'
import { sha1 } from './helpers/pushes.ts'

const CHUNK = 64 * 1024
const TENANTS = 4
const PUSHES_EACH = 4

/**
 * Pushes keep running (inline uploads, chunked uploads, finalization jobs) while the vault is
 * re-keyed and two customers swap their Netlify token, the old one then dying at Netlify.
 * Every push must end ready.
 */
describe.each(databases())('rotation under load on %s', (database) => {
  let gw: TestGateway
  const tenants: (Tenant & { accountSlug: string })[] = []
  const oldKey = `k1:${randomBytes(32).toString('base64')}`

  beforeAll(async () => {
    gw = await startTestGateway(database, {
      KAIXU_ADMIN_TOKEN: ADMIN_TOKEN,
      KAIXU_VAULT_KEYS: `k2:${randomBytes(32).toString('base64')},${oldKey}`,
      KAIXU_CHUNK_BYTES: String(CHUNK),
    })
    for (let i = 0; i < TENANTS; i++) tenants.push(await createAccountTenant(gw, `Load${i}`))
    // The tokens were stored before k2 existed: sealed with k1, as after a keyring change.
    const before = createVault(parseKeyring(oldKey))
    for (const t of tenants) {
      const sealed = before.seal(t.customerId, t.netlifyToken)
      await gw.db.query(
        'UPDATE netlify_tokens SET ciphertext = $2, key_id = $3 WHERE customer_id = $1',
        [t.customerId, sealed.ciphertext, sealed.keyId],
      )
    }
  })
  afterAll(async () => {
    await gw?.stop()
  })

  test('pushes running through a vault rotation and Netlify-token rotations all succeed', async () => {
    expect((await adminApi(gw, 'GET', '/vault')).body).toMatchObject({ pending: TENANTS })
    /** Requests in flight per tenant, so an old token is killed only once nothing uses it. */
    const inFlight = tenants.map(() => new Set<Promise<unknown>>())
    const call = <T>(i: number, p: Promise<T>) => {
      inFlight[i]!.add(p)
      void p.finally(() => inFlight[i]!.delete(p))
      return p
    }
    let pushesStarted = 0
    const firstPushesStarted = new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (pushesStarted >= TENANTS) {
          clearInterval(check)
          resolve()
        }
      }, 5)
    })

    async function onePush(i: number, n: number): Promise<string> {
      const t = tenants[i]!
      const small = `tenant ${i} push ${n} ${randomBytes(4).toString('hex')}`
      const big = randomBytes(2 * CHUNK + 1000)
      const init = await call(
        i,
        api(gw, t.key, 'POST', '/v1/push-init', {
          project: t.projectName,
          files: { 'index.html': sha1(small), 'big.bin': sha1(big) },
          sizes: { 'big.bin': big.length },
        }),
      )
      if (init.status !== 201) return `init ${init.status} ${JSON.stringify(init.body)}`
      pushesStarted++
      const pushId = init.body['pushId'] as string
      const up = await call(
        i,
        api(gw, t.key, 'PUT', `/v1/push-upload?pushId=${pushId}`, Buffer.from(small), {
          'x-content-sha1': sha1(small),
        }),
      )
      if (up.status !== 200) return `upload ${up.status} ${JSON.stringify(up.body)}`
      for (let c = 0; c < 3; c++) {
        const part = big.subarray(c * CHUNK, (c + 1) * CHUNK)
        const res = await call(
          i,
          api(gw, t.key, 'PUT', `/v1/push-upload-chunk?pushId=${pushId}`, part, {
            'x-content-sha1': sha1(big),
            'x-chunk-index': String(c),
            'x-chunk-count': '3',
            'x-chunk-sha1': sha1(part),
          }),
        )
        if (res.status !== 201) return `chunk ${res.status} ${JSON.stringify(res.body)}`
      }
      const done = await call(
        i,
        api(gw, t.key, 'POST', '/v1/push-complete', { pushId, wait: true }),
      )
      return done.body['state'] === 'ready'
        ? 'ready'
        : `complete ${done.status} ${done.body['state']} ${done.body['error_message']}`
    }

    const workers = tenants.map(async (_t, i) => {
      const results: string[] = []
      for (let n = 0; n < PUSHES_EACH; n++) results.push(await onePush(i, n))
      return results
    })

    await firstPushesStarted
    const rotations = (async () => {
      // The vault is re-keyed while every tenant has a push in flight...
      const vault = await adminApi(gw, 'POST', '/vault/rotate')
      expect(vault.body).toMatchObject({ failed: [], status: { pending: 0 } })
      // ...and two customers move to a new Netlify token of the same account, then kill the
      // old one at Netlify once no request that might hold it is still running.
      for (const i of [0, 1]) {
        const t = tenants[i]!
        const next = netlifyTokenFor(`next${i}`)
        await sandboxControl(gw, '/tokens', { token: next, accountSlug: t.accountSlug })
        const res = await api(gw, t.key, 'PUT', '/v1/netlify-token', { token: next })
        expect(res.status).toBe(200)
        await Promise.allSettled([...inFlight[i]!])
        await sandboxControl(gw, '/tokens/revoke', { token: t.netlifyToken })
      }
    })()

    const [results] = await Promise.all([Promise.all(workers), rotations])
    expect(results).toEqual(tenants.map(() => Array(PUSHES_EACH).fill('ready')))
    const status = await adminApi(gw, 'GET', '/vault')
    expect(status.body).toMatchObject({
      activeKeyId: 'k2',
      tokensByKey: { k2: TENANTS },
      pending: 0,
    })
    const failed = await gw.db.query("SELECT id FROM pushes WHERE state <> 'ready'")
    expect(failed).toEqual([])
    const events = await gw.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM push_usage_events',
    )
    expect(events[0]!.n).toBe(TENANTS * PUSHES_EACH)
  })
})
