import { createHash, randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import {
  api,
  createTenant,
  databases,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.ts'

const sha1 = (data: string | Buffer) => createHash('sha1').update(data).digest('hex')

/** A clock tests can move; every service reads time through it. */
function testClock(start: string) {
  let now = new Date(start)
  return {
    now: () => new Date(now),
    set(iso: string) {
      now = new Date(iso)
    },
  }
}

describe.each(databases())('hostile clients: exact caps and pacing on %s', (database) => {
  let gw: TestGateway
  const clock = testClock('2026-01-15T12:00:00Z')

  beforeAll(async () => {
    gw = await startTestGateway(database, { KAIXU_REQUEST_TIMEOUT_MS: '60000' }, { clock })
  })
  afterAll(async () => {
    await gw?.stop()
  })

  test('an Idempotency-Key whose request died mid-flight is free again once the request time limit passed', async () => {
    const t = await createTenant(gw)
    const body = { project: t.projectName, files: { 'i.txt': sha1('died') } }
    const key = `k-${randomBytes(6).toString('hex')}`
    // What a request leaves behind when its process dies after claiming the key: an in-flight
    // claim nobody will ever free (made here from a real claim of the same body, rewound).
    const first = await api(gw, t.key, 'POST', '/v1/push-init', body, { 'idempotency-key': key })
    expect(first.status).toBe(201)
    const claim = (ageSeconds: number) =>
      gw.db.query(
        `UPDATE idempotency_keys SET state = 'in_flight', status_code = NULL, response = NULL,
                created_at = now() - make_interval(secs => $3)
          WHERE customer_id = $1 AND key = $2`,
        [t.customerId, key, ageSeconds],
      )
    // Within the 60 s request limit it is a live claim: 409.
    await claim(30)
    const during = await api(gw, t.key, 'POST', '/v1/push-init', body, { 'idempotency-key': key })
    expect(during.status).toBe(409)
    expect(during.body['error']['code']).toBe('idempotency_in_flight')
    // Past the limit the request cannot still be running: the key runs afresh, not 409 for 24 h.
    await claim(61)
    const after = await api(gw, t.key, 'POST', '/v1/push-init', body, { 'idempotency-key': key })
    expect(after.status).toBe(201)
    const replay = await api(gw, t.key, 'POST', '/v1/push-init', body, { 'idempotency-key': key })
    expect(replay.status).toBe(201)
    expect(replay.headers.get('idempotent-replayed')).toBe('true')
    expect(replay.body['pushId']).toBe(after.body['pushId'])
    expect(after.body['pushId']).not.toBe(first.body['pushId'])
  })
})
