import { randomBytes } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { generateApiKey } from '../src/services/api-keys.ts'
import {
  ADMIN_TOKEN,
  adminApi,
  createAccountTenant,
  netlifyTokenFor,
  rawRequest,
  sandboxControl,
  snapshotAll,
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
const MAX_FILES = 50
const METRICS_TOKEN = 'metrics-token-for-the-tests'

/** One bad request: how to send it, and the documented answer it must get. */
interface Case {
  name: string
  status: number
  code: string
  request: () => {
    method?: string
    path?: string
    body?: unknown
    headers?: Record<string, string>
    /** Whose credential: a tenant key (default: Acme's), a literal string, or null for none. */
    auth?: string | null
    /** Bytes sent as they are, bypassing fetch's own checks. */
    raw?: string | Buffer
  }
}

describe.each(databases())('bad input on %s', (database) => {
  let gw: TestGateway
  let acme: Tenant
  let globex: Tenant
  let sleepy: Tenant
  let revokedKey: string
  let globexKeyId: string
  let emptyCustomerId: string
  let pushId: string
  let globexPushId: string
  let deadToken: string
  let strangerToken: string
  const big = randomBytes(3 * CHUNK + 100)
  const manifest = () => ({
    'big.bin': sha1(big),
    'sized.txt': sha1('sized body'),
    'unsized.txt': sha1('unsized'),
  })
  const unknownCustomer = 'cus_AAAAAAAAAAAAAAAAAAAA'
  const unknownPush = 'push_AAAAAAAAAAAAAAAAAAAA'
  const unknownKey = 'key_AAAAAAAAAAAAAAAAAAAA'

  beforeAll(async () => {
    gw = await startTestGateway(database, {
      KAIXU_ADMIN_TOKEN: ADMIN_TOKEN,
      KAIXU_METRICS_TOKEN: METRICS_TOKEN,
      KAIXU_MAX_FILES: String(MAX_FILES),
      KAIXU_CHUNK_BYTES: String(CHUNK),
    })
    acme = await createAccountTenant(gw, 'Acme')
    globex = await createAccountTenant(gw, 'Globex')
    sleepy = await createAccountTenant(gw, 'Sleepy')
    await adminApi(gw, 'POST', `/customers/${sleepy.customerId}/suspend`)
    const extra = await adminApi(gw, 'POST', `/customers/${acme.customerId}/keys`, {})
    revokedKey = extra.body['key']
    await adminApi(gw, 'DELETE', `/customers/${acme.customerId}/keys/${extra.body['id']}`)
    globexKeyId = globex.keyId
    emptyCustomerId = (await adminApi(gw, 'POST', '/customers', { name: 'Empty' })).body['id']
    const init = await api(gw, acme.key, 'POST', '/v1/push-init', {
      project: acme.projectName,
      files: manifest(),
      sizes: { 'big.bin': big.length, 'sized.txt': 10 },
    })
    expect(init.status).toBe(201)
    pushId = init.body['pushId']
    const other = await api(gw, globex.key, 'POST', '/v1/push-init', {
      project: globex.projectName,
      files: { 'g.txt': sha1('globex') },
    })
    globexPushId = other.body['pushId']
    deadToken = netlifyTokenFor('dead')
    await sandboxControl(gw, '/tokens/revoke', { token: deadToken })
    // Valid at Netlify, but its account has none of Acme's sites.
    strangerToken = netlifyTokenFor('stranger')
  })
  afterAll(async () => {
    await gw?.stop()
  })

  const good = sha1('x')
  const json = { 'content-type': 'application/json' }
  const init = (body: unknown, extra: Record<string, unknown> = {}) => ({
    method: 'POST',
    path: '/v1/push-init',
    body:
      typeof body === 'object' && body !== null && !Array.isArray(body)
        ? { ...body, ...extra }
        : body,
  })
  const files = (f: Record<string, unknown>) => init({ project: acme.projectName, files: f })
  const rawJson = (path: string, body: string, headers: Record<string, string> = {}) => ({
    method: 'POST',
    path,
    body,
    headers: { ...json, ...headers },
  })
  const upload = (body: string | Buffer, headers: Record<string, string>, id = pushId) => ({
    method: 'PUT',
    path: `/v1/push-upload?pushId=${id}`,
    body: Buffer.from(body),
    headers: { 'content-type': 'application/octet-stream', ...headers },
  })
  const chunk = (
    headers: Record<string, string>,
    body: Buffer = big.subarray(0, CHUNK),
    id = pushId,
  ) => ({
    method: 'PUT',
    path: `/v1/push-upload-chunk?pushId=${id}`,
    body,
    headers: {
      'x-content-sha1': sha1(big),
      'x-chunk-index': '0',
      'x-chunk-count': '4',
      'x-chunk-sha1': sha1(body),
      ...headers,
    },
  })
  const admin = (
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ) => ({
    method,
    path: `/admin/api${path}`,
    body,
    auth: ADMIN_TOKEN,
    ...(headers ? { headers } : {}),
  })
  const rawHttp = (lines: string[], body = '') => ({
    raw: `${lines.join('\r\n')}\r\n\r\n${body}`,
  })
  const bearer = () => `Authorization: Bearer ${acme.key}`

  const cases: Case[] = [
    // --- malformed and truncated JSON, wrong media types ----------------------------------
    {
      name: 'malformed JSON',
      status: 400,
      code: 'invalid_json',
      request: () => rawJson('/v1/push-init', '{"project":'),
    },
    {
      name: 'truncated JSON mid-string',
      status: 400,
      code: 'invalid_json',
      request: () =>
        rawJson('/v1/push-init', `{"project":"p","files":{"a.txt":"${good.slice(0, 10)}`),
    },
    {
      name: 'JSON with a trailing comma',
      status: 400,
      code: 'invalid_json',
      request: () => rawJson('/v1/push-init', '{"project":"p",}'),
    },
    {
      name: 'a bare JSON string',
      status: 400,
      code: 'invalid_json',
      request: () => rawJson('/v1/push-init', '"push"'),
    },
    {
      name: 'JSON null',
      status: 400,
      code: 'invalid_json',
      request: () => rawJson('/v1/push-init', 'null'),
    },
    {
      name: 'a JSON array instead of an object',
      status: 400,
      code: 'invalid_request',
      request: () => rawJson('/v1/push-init', '[]'),
    },
    {
      name: 'deeply nested JSON',
      status: 400,
      code: 'invalid_request',
      request: () =>
        rawJson('/v1/push-init', `{"files":${'['.repeat(50_000)}${']'.repeat(50_000)}}`),
    },
    {
      name: 'empty body',
      status: 400,
      code: 'invalid_request',
      request: () => rawJson('/v1/push-init', ''),
    },
    {
      name: 'JSON sent as text/plain',
      status: 415,
      code: 'unsupported_media_type',
      request: () =>
        rawJson('/v1/push-init', JSON.stringify({ project: 'p', files: { a: good } }), {
          'content-type': 'text/plain',
        }),
    },
    {
      name: 'an unsupported charset',
      status: 400,
      code: 'invalid_request',
      request: () =>
        rawJson('/v1/push-init', '{}', { 'content-type': 'application/json; charset=latin1' }),
    },
    {
      name: 'gzip that does not inflate',
      status: 400,
      code: 'invalid_request',
      request: () => rawJson('/v1/push-init', 'not gzip', { 'content-encoding': 'gzip' }),
    },
    {
      name: 'gzip of truncated JSON',
      status: 400,
      code: 'invalid_json',
      request: () => ({
        ...rawJson('/v1/push-init', ''),
        body: gzipSync('{"project":'),
        headers: { ...json, 'content-encoding': 'gzip' },
      }),
    },
    {
      name: 'an unknown content-encoding',
      status: 400,
      code: 'invalid_request',
      request: () => rawJson('/v1/push-init', '{}', { 'content-encoding': 'x-unknown' }),
    },
    {
      name: 'a manifest over 32 MB',
      status: 413,
      code: 'payload_too_large',
      request: () => rawJson('/v1/push-init', `{"title":"${'a'.repeat(33 * 1024 * 1024)}"}`),
    },
    {
      name: 'a push-complete body over 16 kB',
      status: 413,
      code: 'payload_too_large',
      request: () =>
        rawJson('/v1/push-complete', JSON.stringify({ pushId, pad: 'x'.repeat(20_000) })),
    },
    // --- wrong types and shapes ------------------------------------------------------------
    {
      name: 'project is a number',
      status: 400,
      code: 'invalid_request',
      request: () => init({ project: 42, files: { a: good } }),
    },
    {
      name: 'project is empty',
      status: 400,
      code: 'invalid_request',
      request: () => init({ project: '', files: { a: good } }),
    },
    {
      name: 'project holds a NUL byte',
      status: 400,
      code: 'invalid_request',
      request: () => init({ project: 'a\u0000b', files: { a: good } }),
    },
    {
      name: 'files is an array',
      status: 400,
      code: 'invalid_request',
      request: () => init({ project: acme.projectName, files: ['a.txt'] }),
    },
    {
      name: 'files is a string',
      status: 400,
      code: 'invalid_request',
      request: () => init({ project: acme.projectName, files: 'a.txt' }),
    },
    {
      name: 'a SHA-1 is a number',
      status: 400,
      code: 'invalid_request',
      request: () => files({ 'a.txt': 1234 }),
    },
    {
      name: 'a SHA-1 is not hex',
      status: 400,
      code: 'invalid_request',
      request: () => files({ 'a.txt': 'z'.repeat(40) }),
    },
    {
      name: 'a SHA-1 is 41 characters',
      status: 400,
      code: 'invalid_request',
      request: () => files({ 'a.txt': `${good}0` }),
    },
    {
      name: 'draft is a string',
      status: 400,
      code: 'invalid_request',
      request: () => init({ project: acme.projectName, files: { a: good }, draft: 'yes' }),
    },
    {
      name: 'sizes holds a negative size',
      status: 400,
      code: 'invalid_request',
      request: () => init({ project: acme.projectName, files: { a: good }, sizes: { a: -1 } }),
    },
    {
      name: 'sizes holds a fraction',
      status: 400,
      code: 'invalid_request',
      request: () => init({ project: acme.projectName, files: { a: good }, sizes: { a: 1.5 } }),
    },
    {
      name: 'alias is a number',
      status: 400,
      code: 'invalid_request',
      request: () => init({ project: acme.projectName, files: { a: good }, alias: 7 }),
    },
    {
      name: 'alias is not DNS-safe',
      status: 400,
      code: 'invalid_request',
      request: () => init({ project: acme.projectName, files: { a: good }, alias: 'Feature/X' }),
    },
    {
      name: 'title over 500 characters',
      status: 400,
      code: 'invalid_request',
      request: () =>
        init({ project: acme.projectName, files: { a: good }, title: 't'.repeat(501) }),
    },
    {
      name: 'title with a NUL byte',
      status: 400,
      code: 'invalid_request',
      request: () => init({ project: acme.projectName, files: { a: good }, title: 'a\u0000b' }),
    },
    {
      name: 'an unknown field',
      status: 400,
      code: 'invalid_request',
      request: () => init({ project: acme.projectName, files: { a: good }, bogus: true }),
    },
    // --- manifests: empty, huge, odd paths --------------------------------------------------
    { name: 'an empty manifest', status: 400, code: 'invalid_request', request: () => files({}) },
    {
      name: `a manifest over ${MAX_FILES} files`,
      status: 413,
      code: 'payload_too_large',
      request: () =>
        files(
          Object.fromEntries(Array.from({ length: MAX_FILES + 1 }, (_, i) => [`f${i}.txt`, good])),
        ),
    },
    {
      name: 'path traversal ../',
      status: 400,
      code: 'invalid_request',
      request: () => files({ '../etc/passwd': good }),
    },
    {
      name: 'traversal in the middle a/../../b',
      status: 400,
      code: 'invalid_request',
      request: () => files({ 'a/../../b': good }),
    },
    {
      name: 'percent-encoded traversal %2e%2e/',
      status: 400,
      code: 'invalid_request',
      request: () => files({ '%2e%2e/secret': good }),
    },
    {
      name: 'mixed-encoding traversal .%2E/',
      status: 400,
      code: 'invalid_request',
      request: () => files({ 'a/.%2E/b': good }),
    },
    {
      name: 'a . segment',
      status: 400,
      code: 'invalid_request',
      request: () => files({ 'a/./b': good }),
    },
    {
      name: 'an absolute //path',
      status: 400,
      code: 'invalid_request',
      request: () => files({ '//etc/passwd': good }),
    },
    {
      name: 'a Windows path C:\\x',
      status: 400,
      code: 'invalid_request',
      request: () => files({ 'C:\\windows\\x.dll': good }),
    },
    {
      name: 'a file:/// URL',
      status: 400,
      code: 'invalid_request',
      request: () => files({ 'file:///etc/passwd': good }),
    },
    {
      name: 'a path with a NUL byte',
      status: 400,
      code: 'invalid_request',
      request: () => files({ 'a\u0000b.txt': good }),
    },
    {
      name: 'a path with a bell character',
      status: 400,
      code: 'invalid_request',
      request: () => files({ 'a\u0007b.txt': good }),
    },
    {
      name: 'a path with a newline',
      status: 400,
      code: 'invalid_request',
      request: () => files({ 'a\nb.txt': good }),
    },
    {
      name: 'a path with DEL',
      status: 400,
      code: 'invalid_request',
      request: () => files({ 'a\u007fb.txt': good }),
    },
    {
      name: 'a path with a C1 control',
      status: 400,
      code: 'invalid_request',
      request: () => files({ 'a\u0085b.txt': good }),
    },
    {
      name: 'a decomposed (non-NFC) path',
      status: 400,
      code: 'invalid_request',
      request: () => files({ 'cafe\u0301.txt': good }),
    },
    {
      name: 'a right-to-left override in a path',
      status: 400,
      code: 'invalid_request',
      request: () => files({ 'invoice\u202eexe.pdf': good }),
    },
    {
      name: 'an unpaired surrogate in a path',
      status: 400,
      code: 'invalid_request',
      request: () =>
        rawJson(
          '/v1/push-init',
          `{"project":"${acme.projectName}","files":{"a\\ud800.txt":"${good}"}}`,
        ),
    },
    {
      name: 'a # in a path',
      status: 400,
      code: 'invalid_request',
      request: () => files({ 'a#b.html': good }),
    },
    {
      name: 'a ? in a path',
      status: 400,
      code: 'invalid_request',
      request: () => files({ 'a?b.html': good }),
    },
    {
      name: 'a trailing slash',
      status: 400,
      code: 'invalid_request',
      request: () => files({ 'dir/': good }),
    },
    {
      name: 'an empty path',
      status: 400,
      code: 'invalid_request',
      request: () => files({ '': good }),
    },
    {
      name: 'a path of only /',
      status: 400,
      code: 'invalid_request',
      request: () => files({ '/': good }),
    },
    {
      name: 'a path over 1024 characters',
      status: 400,
      code: 'invalid_request',
      request: () => files({ [`${'d/'.repeat(520)}x`]: good }),
    },
    {
      name: 'the same path twice (with and without /)',
      status: 400,
      code: 'invalid_request',
      request: () => files({ 'a.txt': good, '/a.txt': good }),
    },
    {
      name: 'push-plan with a traversal path',
      status: 400,
      code: 'invalid_request',
      request: () => ({ ...files({ '../x': good }), path: '/v1/push-plan' }),
    },
    // --- headers ------------------------------------------------------------------------------
    {
      name: 'Idempotency-Key over 255 characters',
      status: 400,
      code: 'invalid_request',
      request: () => ({
        ...files({ 'i.txt': good }),
        headers: { 'idempotency-key': 'k'.repeat(256) },
      }),
    },
    {
      name: 'Idempotency-Key with a space',
      status: 400,
      code: 'invalid_request',
      request: () => ({ ...files({ 'i.txt': good }), headers: { 'idempotency-key': 'a b' } }),
    },
    {
      name: 'upload without X-Content-Sha1',
      status: 400,
      code: 'invalid_request',
      request: () => upload('sized body', {}),
    },
    {
      name: 'upload with a malformed X-Content-Sha1',
      status: 400,
      code: 'invalid_request',
      request: () => upload('sized body', { 'x-content-sha1': 'abc' }),
    },
    {
      name: 'upload whose Content-Length differs from the manifest size',
      status: 400,
      code: 'invalid_request',
      request: () => upload('sized body!!', { 'x-content-sha1': sha1('sized body') }),
    },
    {
      name: 'upload whose body differs from X-Content-Sha1',
      status: 422,
      code: 'sha_mismatch',
      request: () => upload('WRONG', { 'x-content-sha1': sha1('unsized') }),
    },
    {
      name: 'upload of a SHA-1 not in the push',
      status: 422,
      code: 'sha_not_in_push',
      request: () => upload('stray', { 'x-content-sha1': sha1('stray') }),
    },
    {
      name: 'batch upload without a pushId',
      status: 400,
      code: 'invalid_request',
      request: () => ({
        method: 'POST',
        path: '/v1/push-upload-batch',
        body: Buffer.from('KXB1'),
        headers: { 'content-type': 'application/vnd.kaixu.batch' },
      }),
    },
    {
      name: 'batch upload sent as JSON',
      status: 415,
      code: 'unsupported_media_type',
      request: () => rawJson(`/v1/push-upload-batch?pushId=${pushId}`, '{"files":[]}'),
    },
    {
      name: 'batch upload whose Content-Length is not what its table adds up to',
      status: 400,
      code: 'invalid_request',
      request: () => {
        const body = Buffer.alloc(8 + 24 + 5)
        body.write('KXB1')
        body.writeUInt32BE(1, 4)
        Buffer.from(sha1('unsized'), 'hex').copy(body, 8)
        body.writeUInt32BE(7, 28)
        body.write('WRONG', 32)
        return {
          method: 'POST',
          path: `/v1/push-upload-batch?pushId=${pushId}`,
          body,
          headers: { 'content-type': 'application/vnd.kaixu.batch' },
        }
      },
    },
    {
      name: 'a Content-Length larger than the body sent',
      status: 400,
      code: 'invalid_request',
      request: () =>
        rawHttp(
          [
            'POST /v1/push-init HTTP/1.1',
            'Host: gw',
            bearer(),
            'Content-Type: application/json',
            'Content-Length: 100',
          ],
          '{"project":"a"}',
        ),
    },
    {
      name: 'a negative Content-Length',
      status: 400,
      code: 'invalid_request',
      request: () =>
        rawHttp(
          [
            'POST /v1/push-init HTTP/1.1',
            'Host: gw',
            bearer(),
            'Content-Type: application/json',
            'Content-Length: -5',
          ],
          '{}',
        ),
    },
    {
      name: 'a non-numeric Content-Length',
      status: 400,
      code: 'invalid_request',
      request: () =>
        rawHttp(
          [
            `PUT /v1/push-upload?pushId=${pushId} HTTP/1.1`,
            'Host: gw',
            bearer(),
            `X-Content-Sha1: ${sha1('unsized')}`,
            'Content-Length: ten',
          ],
          'unsized',
        ),
    },
    {
      name: 'Content-Length together with Transfer-Encoding',
      status: 400,
      code: 'invalid_request',
      request: () =>
        rawHttp(
          [
            'POST /v1/push-init HTTP/1.1',
            'Host: gw',
            bearer(),
            'Content-Type: application/json',
            'Content-Length: 2',
            'Transfer-Encoding: chunked',
          ],
          '0\r\n\r\n',
        ),
    },
    {
      name: 'a control character in a header value',
      status: 400,
      code: 'invalid_request',
      request: () => rawHttp(['GET /v1/usage HTTP/1.1', 'Host: gw', 'X-Note: a\u0001b', bearer()]),
    },
    {
      name: 'headers over the size limit',
      status: 431,
      code: 'headers_too_large',
      request: () =>
        rawHttp(['GET /v1/usage HTTP/1.1', 'Host: gw', `X-Pad: ${'a'.repeat(20_000)}`, bearer()]),
    },
    // --- chunk numbers and chunk bodies -------------------------------------------------------
    {
      name: 'a negative chunk index',
      status: 400,
      code: 'invalid_request',
      request: () => chunk({ 'x-chunk-index': '-1' }),
    },
    {
      name: 'a chunk index past the count',
      status: 400,
      code: 'invalid_request',
      request: () => chunk({ 'x-chunk-index': '4' }),
    },
    {
      name: 'an oversized chunk index',
      status: 400,
      code: 'invalid_request',
      request: () => chunk({ 'x-chunk-index': '99999999999' }),
    },
    {
      name: 'a chunk index in exponent notation',
      status: 400,
      code: 'invalid_request',
      request: () => chunk({ 'x-chunk-index': '1e3' }),
    },
    {
      name: 'a chunk count of zero',
      status: 400,
      code: 'invalid_request',
      request: () => chunk({ 'x-chunk-count': '0' }),
    },
    {
      name: 'a chunk count over 10000',
      status: 400,
      code: 'invalid_request',
      request: () => chunk({ 'x-chunk-count': '10001' }),
    },
    {
      name: 'a chunk without X-Chunk-Sha1',
      status: 400,
      code: 'invalid_request',
      request: () => {
        const c = chunk({})
        delete (c.headers as Record<string, string>)['x-chunk-sha1']
        return c
      },
    },
    {
      name: 'a chunk whose body differs from X-Chunk-Sha1',
      status: 422,
      code: 'chunk_sha_mismatch',
      request: () => chunk({ 'x-chunk-sha1': sha1('something else') }),
    },
    {
      name: 'a chunk larger than chunkBytes',
      status: 413,
      code: 'payload_too_large',
      request: () => chunk({}, big.subarray(0, CHUNK + 1)),
    },
    {
      name: "a chunk for another customer's push",
      status: 404,
      code: 'not_found',
      request: () => chunk({}, undefined, globexPushId),
    },
    {
      name: 'chunk status with a malformed sha1',
      status: 400,
      code: 'invalid_request',
      request: () => ({ method: 'GET', path: `/v1/push-upload-chunk?pushId=${pushId}&sha1=xyz` }),
    },
    {
      name: "chunk status of another customer's push",
      status: 404,
      code: 'not_found',
      request: () => ({
        method: 'GET',
        path: `/v1/push-upload-chunk?pushId=${globexPushId}&sha1=${sha1(big)}`,
      }),
    },
    // --- keys and credentials ---------------------------------------------------------------
    {
      name: 'no Authorization header',
      status: 401,
      code: 'unauthorized',
      request: () => ({ ...files({ 'a.txt': good }), auth: null }),
    },
    {
      name: 'Basic instead of Bearer',
      status: 401,
      code: 'unauthorized',
      request: () => ({
        ...files({ 'a.txt': good }),
        auth: null,
        headers: { authorization: `Basic ${Buffer.from(`u:${acme.key}`).toString('base64')}` },
      }),
    },
    {
      name: 'an empty bearer',
      status: 401,
      code: 'unauthorized',
      request: () => ({
        ...files({ 'a.txt': good }),
        auth: null,
        headers: { authorization: 'Bearer ' },
      }),
    },
    {
      name: 'a key with the wrong prefix',
      status: 401,
      code: 'unauthorized',
      request: () => ({
        ...files({ 'a.txt': good }),
        auth: acme.key.replace('kx_live_', 'kx_test_'),
      }),
    },
    {
      name: 'a truncated key',
      status: 401,
      code: 'unauthorized',
      request: () => ({ ...files({ 'a.txt': good }), auth: acme.key.slice(0, -3) }),
    },
    {
      name: 'a key with a bad checksum',
      status: 401,
      code: 'unauthorized',
      request: () => ({
        ...files({ 'a.txt': good }),
        auth: acme.key.slice(0, -1) + (acme.key.endsWith('A') ? 'B' : 'A'),
      }),
    },
    {
      name: 'a well-formed key nobody was given',
      status: 401,
      code: 'unauthorized',
      request: () => ({ ...files({ 'a.txt': good }), auth: generateApiKey().key }),
    },
    {
      name: 'a revoked key',
      status: 401,
      code: 'unauthorized',
      request: () => ({ method: 'GET', path: '/v1/usage', auth: revokedKey }),
    },
    {
      name: "a suspended customer's key (push-init)",
      status: 403,
      code: 'customer_suspended',
      request: () => ({
        ...init({ project: sleepy.projectName, files: { a: good } }),
        auth: sleepy.key,
      }),
    },
    {
      name: "a suspended customer's key (netlify-token)",
      status: 403,
      code: 'customer_suspended',
      request: () => ({
        method: 'PUT',
        path: '/v1/netlify-token',
        body: { token: sleepy.netlifyToken },
        auth: sleepy.key,
      }),
    },
    {
      name: "a suspended customer's key (usage)",
      status: 403,
      code: 'customer_suspended',
      request: () => ({ method: 'GET', path: '/v1/usage', auth: sleepy.key }),
    },
    {
      name: "a suspended customer's key (projects)",
      status: 403,
      code: 'customer_suspended',
      request: () => ({ method: 'GET', path: '/v1/projects', auth: sleepy.key }),
    },
    {
      name: 'the admin token acting as a customer',
      status: 401,
      code: 'unauthorized',
      request: () => ({ method: 'GET', path: '/v1/usage', auth: ADMIN_TOKEN }),
    },
    {
      name: 'a customer key on the admin API',
      status: 401,
      code: 'unauthorized',
      request: () => ({ method: 'GET', path: '/admin/api/customers', auth: acme.key }),
    },
    {
      name: 'a customer key rotating the vault',
      status: 401,
      code: 'unauthorized',
      request: () => ({ method: 'POST', path: '/admin/api/vault/rotate', auth: acme.key }),
    },
    {
      name: 'no credential on the admin API',
      status: 401,
      code: 'unauthorized',
      request: () => ({
        method: 'POST',
        path: '/admin/api/customers',
        body: { name: 'X' },
        auth: null,
      }),
    },
    {
      name: 'a wrong admin token',
      status: 401,
      code: 'unauthorized',
      request: () => ({ method: 'GET', path: '/admin/api/customers', auth: `${ADMIN_TOKEN}x` }),
    },
    {
      name: 'a wrong metrics token',
      status: 401,
      code: 'unauthorized',
      request: () => ({ method: 'GET', path: '/metrics', auth: 'not-the-metrics-token' }),
    },
    // --- other tenants' ids -----------------------------------------------------------------
    {
      name: "another customer's project (push-init)",
      status: 404,
      code: 'project_not_found',
      request: () => init({ project: globex.projectId, files: { a: good } }),
    },
    {
      name: "another customer's project by name (push-plan)",
      status: 404,
      code: 'project_not_found',
      request: () => ({
        ...init({ project: globex.projectName, files: { a: good } }),
        path: '/v1/push-plan',
      }),
    },
    {
      name: "another customer's push (status)",
      status: 404,
      code: 'not_found',
      request: () => ({ method: 'GET', path: `/v1/push-status?pushId=${globexPushId}` }),
    },
    {
      name: "another customer's push (upload)",
      status: 404,
      code: 'not_found',
      request: () => upload('globex', { 'x-content-sha1': sha1('globex') }, globexPushId),
    },
    {
      name: "another customer's push (complete)",
      status: 404,
      code: 'not_found',
      request: () => ({
        method: 'POST',
        path: '/v1/push-complete',
        body: { pushId: globexPushId },
      }),
    },
    {
      name: 'an unknown push id (status)',
      status: 404,
      code: 'not_found',
      request: () => ({ method: 'GET', path: `/v1/push-status?pushId=${unknownPush}` }),
    },
    {
      name: "another customer's Netlify site (project add)",
      status: 400,
      code: 'site_unreachable',
      request: () => ({
        method: 'POST',
        path: '/v1/projects',
        body: { siteId: globex.siteId, name: 'stolen' },
      }),
    },
    {
      name: "another customer's key revoked through this customer",
      status: 404,
      code: 'not_found',
      request: () => admin('DELETE', `/customers/${acme.customerId}/keys/${globexKeyId}`),
    },
    // --- push flow states and ids -------------------------------------------------------------
    {
      name: 'status without pushId',
      status: 400,
      code: 'invalid_request',
      request: () => ({ method: 'GET', path: '/v1/push-status' }),
    },
    {
      name: 'a malformed push id',
      status: 400,
      code: 'invalid_request',
      request: () => ({ method: 'GET', path: '/v1/push-status?pushId=../../etc' }),
    },
    {
      name: 'pushId given twice',
      status: 400,
      code: 'invalid_request',
      request: () => ({ method: 'GET', path: `/v1/push-status?pushId=${pushId}&pushId=${pushId}` }),
    },
    {
      name: 'complete with pushId a number',
      status: 400,
      code: 'invalid_request',
      request: () => ({ method: 'POST', path: '/v1/push-complete', body: { pushId: 7 } }),
    },
    {
      name: 'complete with wait a string',
      status: 400,
      code: 'invalid_request',
      request: () => ({ method: 'POST', path: '/v1/push-complete', body: { pushId, wait: 'yes' } }),
    },
    {
      name: 'complete before the uploads',
      status: 409,
      code: 'uploads_incomplete',
      request: () => ({ method: 'POST', path: '/v1/push-complete', body: { pushId } }),
    },
    {
      name: 'usage for month 13',
      status: 400,
      code: 'invalid_request',
      request: () => ({ method: 'GET', path: '/v1/usage?month=2026-13' }),
    },
    {
      name: 'an unknown /v1 route',
      status: 404,
      code: 'not_found',
      request: () => ({ method: 'GET', path: '/v1/push-delete' }),
    },
    // --- customer self-service ---------------------------------------------------------------
    {
      name: 'netlify-token without a token',
      status: 400,
      code: 'invalid_request',
      request: () => ({ method: 'PUT', path: '/v1/netlify-token', body: {} }),
    },
    {
      name: 'netlify-token with a numeric token',
      status: 400,
      code: 'invalid_request',
      request: () => ({ method: 'PUT', path: '/v1/netlify-token', body: { token: 12345678 } }),
    },
    {
      name: 'netlify-token with a header-breaking token',
      status: 400,
      code: 'invalid_request',
      request: () => ({
        method: 'PUT',
        path: '/v1/netlify-token',
        body: { token: 'abcdefgh\r\nX-Evil: 1' },
      }),
    },
    {
      name: 'netlify-token as text/plain',
      status: 415,
      code: 'unsupported_media_type',
      request: () => ({
        method: 'PUT',
        path: '/v1/netlify-token',
        body: 'token=abc',
        headers: { 'content-type': 'text/plain' },
      }),
    },
    {
      name: 'netlify-token that Netlify rejects',
      status: 400,
      code: 'netlify_token_invalid',
      request: () => ({ method: 'PUT', path: '/v1/netlify-token', body: { token: deadToken } }),
    },
    {
      name: "netlify-token that cannot reach the customer's sites",
      status: 400,
      code: 'site_unreachable',
      request: () => ({ method: 'PUT', path: '/v1/netlify-token', body: { token: strangerToken } }),
    },
    {
      name: 'a project name with a slash',
      status: 400,
      code: 'invalid_request',
      request: () => ({
        method: 'POST',
        path: '/v1/projects',
        body: { siteId: acme.siteId, name: 'a/b' },
      }),
    },
    {
      name: 'a project name shaped like an id',
      status: 400,
      code: 'invalid_request',
      request: () => ({
        method: 'POST',
        path: '/v1/projects',
        body: { siteId: acme.siteId, name: 'prj_AAAAAAAAAAAAAAAAAAAA' },
      }),
    },
    {
      name: 'a project name taken',
      status: 409,
      code: 'conflict',
      request: () => ({
        method: 'POST',
        path: '/v1/projects',
        body: { siteId: acme.siteId, name: acme.projectName },
      }),
    },
    {
      name: 'a site id with a path in it',
      status: 400,
      code: 'invalid_request',
      request: () => ({
        method: 'POST',
        path: '/v1/projects',
        body: { siteId: '../accounts', name: 'x' },
      }),
    },
    // --- admin API ----------------------------------------------------------------------------
    {
      name: 'admin: a customer without a name',
      status: 400,
      code: 'invalid_request',
      request: () => admin('POST', '/customers', {}),
    },
    {
      name: 'admin: a customer name with a control character',
      status: 400,
      code: 'invalid_request',
      request: () => admin('POST', '/customers', { name: 'Bad\u001bCo' }),
    },
    {
      name: 'admin: a customer name over 200 characters',
      status: 400,
      code: 'invalid_request',
      request: () => admin('POST', '/customers', { name: 'n'.repeat(201) }),
    },
    {
      name: 'admin: malformed JSON',
      status: 400,
      code: 'invalid_json',
      request: () => ({ ...admin('POST', '/customers', '{"name":', json) }),
    },
    {
      name: 'admin: a malformed customer id',
      status: 400,
      code: 'invalid_request',
      request: () => admin('GET', '/customers/acme'),
    },
    {
      name: 'admin: an unknown customer',
      status: 404,
      code: 'not_found',
      request: () => admin('GET', `/customers/${unknownCustomer}`),
    },
    {
      name: 'admin: suspend an unknown customer',
      status: 404,
      code: 'not_found',
      request: () => admin('POST', `/customers/${unknownCustomer}/suspend`),
    },
    {
      name: 'admin: a status filter that does not exist',
      status: 400,
      code: 'invalid_request',
      request: () => admin('GET', '/customers?status=deleted'),
    },
    {
      name: 'admin: a key for an unknown customer',
      status: 404,
      code: 'not_found',
      request: () => admin('POST', `/customers/${unknownCustomer}/keys`, {}),
    },
    {
      name: 'admin: a key name with a NUL byte',
      status: 400,
      code: 'invalid_request',
      request: () => admin('POST', `/customers/${acme.customerId}/keys`, { name: 'a\u0000' }),
    },
    {
      name: 'admin: revoke an unknown key',
      status: 404,
      code: 'not_found',
      request: () => admin('DELETE', `/customers/${acme.customerId}/keys/${unknownKey}`),
    },
    {
      name: 'admin: revoke a malformed key id',
      status: 400,
      code: 'invalid_request',
      request: () => admin('DELETE', `/customers/${acme.customerId}/keys/kx_live_nope`),
    },
    {
      name: 'admin: a Netlify token for an unknown customer',
      status: 404,
      code: 'not_found',
      request: () =>
        admin('PUT', `/customers/${unknownCustomer}/netlify-token`, {
          token: netlifyTokenFor('x'),
        }),
    },
    {
      name: 'admin: a Netlify token that Netlify rejects',
      status: 400,
      code: 'netlify_token_invalid',
      request: () =>
        admin('PUT', `/customers/${acme.customerId}/netlify-token`, { token: deadToken }),
    },
    {
      name: 'admin: rotate when there is no token',
      status: 412,
      code: 'netlify_token_missing',
      request: () =>
        admin('POST', `/customers/${emptyCustomerId}/netlify-token/rotate`, {
          token: netlifyTokenFor('x'),
        }),
    },
    {
      name: 'admin: revoke a token that was never set',
      status: 404,
      code: 'not_found',
      request: () => admin('DELETE', `/customers/${emptyCustomerId}/netlify-token`),
    },
    {
      name: 'admin: show a token that was never set',
      status: 404,
      code: 'not_found',
      request: () => admin('GET', `/customers/${emptyCustomerId}/netlify-token`),
    },
    {
      name: 'admin: a project without a Netlify token',
      status: 412,
      code: 'netlify_token_missing',
      request: () =>
        admin('POST', `/customers/${emptyCustomerId}/projects`, { siteId: acme.siteId, name: 'x' }),
    },
    {
      name: 'admin: a project on an unreachable site',
      status: 400,
      code: 'site_unreachable',
      request: () =>
        admin('POST', `/customers/${acme.customerId}/projects`, {
          siteId: 'no-such-site',
          name: 'ghost',
        }),
    },
    {
      name: 'admin: remove an unknown project',
      status: 404,
      code: 'project_not_found',
      request: () => admin('DELETE', `/customers/${acme.customerId}/projects/ghost`),
    },
    {
      name: "admin: remove another customer's project",
      status: 404,
      code: 'project_not_found',
      request: () => admin('DELETE', `/customers/${acme.customerId}/projects/${globex.projectId}`),
    },
    {
      name: 'admin: an audit month without a dash',
      status: 400,
      code: 'invalid_request',
      request: () => admin('GET', '/audit?month=202611'),
    },
    {
      name: 'admin: an audit limit of 0',
      status: 400,
      code: 'invalid_request',
      request: () => admin('GET', '/audit?limit=0'),
    },
    {
      name: 'admin: an audit action with SQL in it',
      status: 400,
      code: 'invalid_request',
      request: () =>
        admin('GET', `/audit?action=${encodeURIComponent("push'; DROP TABLE audit_log;--")}`),
    },
    {
      name: 'admin: an audit customer that is not an id',
      status: 400,
      code: 'invalid_request',
      request: () => admin('GET', '/audit?customer=everyone'),
    },
    {
      name: 'admin: negative limits',
      status: 400,
      code: 'invalid_request',
      request: () => admin('PUT', `/customers/${acme.customerId}/limits`, { deploysPerMonth: -1 }),
    },
    {
      name: 'admin: limits of an unknown customer',
      status: 404,
      code: 'not_found',
      request: () => admin('GET', `/customers/${unknownCustomer}/limits`),
    },
    {
      name: 'admin: a price as a string',
      status: 400,
      code: 'invalid_request',
      request: () => admin('POST', '/pricing', { centsPerDeploy: '10', centsPerGb: 25 }),
    },
    {
      name: 'admin: invoices for a bad month',
      status: 400,
      code: 'invalid_request',
      request: () => admin('GET', '/invoices?month=November'),
    },
    {
      name: 'admin: finalize the current month',
      status: 400,
      code: 'invalid_request',
      request: () =>
        admin('POST', '/invoices/finalize', { month: new Date().toISOString().slice(0, 7) }),
    },
    {
      name: 'admin: an unknown route',
      status: 404,
      code: 'not_found',
      request: () => admin('GET', '/customers-export'),
    },
  ]

  test('the corpus is big enough and reaches every route', () => {
    expect(cases.length).toBeGreaterThanOrEqual(80)
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length)
  })

  test.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const r = c.request()
    const auditBefore = (
      await gw.db.query<{ m: number }>('SELECT coalesce(max(id), 0)::int AS m FROM audit_log')
    )[0]!.m
    const before = await snapshotAll(gw.db)

    let status: number
    let body: any
    let requestIdHeader: string | null | undefined
    if (r.raw !== undefined) {
      const res = await rawRequest(gw, r.raw)
      status = res.status
      body = res.body
      requestIdHeader = res.headers['x-request-id']
    } else {
      const auth = r.auth === null ? undefined : (r.auth ?? acme.key)
      const res = await api(gw, auth, r.method ?? 'GET', r.path ?? '/', r.body, r.headers ?? {})
      status = res.status
      body = res.body
      requestIdHeader = res.headers.get('x-request-id')
    }

    expect({ status, code: body?.error?.code }).toEqual({ status: c.status, code: c.code })
    expect(typeof body.error.message).toBe('string')
    expect(body.requestId).toEqual(expect.any(String))
    expect(requestIdHeader).toBe(body.requestId)
    // Nothing changed; refusals may be audited, but only as refusals.
    expect(await snapshotAll(gw.db)).toEqual(before)
    const audited = await gw.db.query<{ status: string }>(
      'SELECT status FROM audit_log WHERE id > $1',
      [auditBefore],
    )
    expect(audited.filter((a) => a.status !== 'error')).toEqual([])
  })

  test('after the whole corpus the first push still completes normally', async () => {
    const parts = [0, 1, 2, 3].map((i) => big.subarray(i * CHUNK, (i + 1) * CHUNK))
    for (const [index, part] of parts.entries()) {
      const res = await api(gw, acme.key, 'PUT', `/v1/push-upload-chunk?pushId=${pushId}`, part, {
        'x-content-sha1': sha1(big),
        'x-chunk-index': String(index),
        'x-chunk-count': '4',
        'x-chunk-sha1': sha1(part),
      })
      expect(res.status).toBe(201)
    }
    for (const body of ['sized body', 'unsized']) {
      const res = await api(
        gw,
        acme.key,
        'PUT',
        `/v1/push-upload?pushId=${pushId}`,
        Buffer.from(body),
        {
          'x-content-sha1': sha1(body),
        },
      )
      expect(res.status).toBe(200)
    }
    const done = await api(gw, acme.key, 'POST', '/v1/push-complete', { pushId, wait: true })
    expect(done.body['state']).toBe('ready')
  })
})
