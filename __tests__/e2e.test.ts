import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import {
  databases,
  fetchSite,
  scratchPostgres,
  testVaultKeys,
} from '../gateway/test/helpers/gateway.ts'
import { runAction } from '../scripts/lib/run-action.ts'
import {
  gatewayBin,
  root,
  runCli,
  startProcess,
  type Started,
} from '../gateway/test/helpers/processes.ts'

/** netlify.toml rules the rules tests deploy: a 301 redirect and a header on every path. */
const RULES_TOML = [
  '[[redirects]]',
  'from = "/old"',
  'to = "/new.html"',
  'status = 301',
  '',
  '[[headers]]',
  'for = "/*"',
  '[headers.values]',
  'X-Frame-Options = "DENY"',
  '',
].join('\n')

/**
 * Checks a deploy of the rules sites: RULES_TOML's redirect and header, and the `_redirects`
 * splat `/blog/*` → `/posts/:splat.html`. Answers the splat's page.
 */
async function expectRulesServed(url: string) {
  const moved = await fetchSite(`${url}/old`)
  expect(moved.status).toBe(301)
  expect(moved.headers['location']).toMatch(/\/new\.html$/)
  const home = await fetchSite(`${url}/`)
  expect(home.body.toString()).toBe('<p>home</p>')
  expect(home.headers['x-frame-options']).toBe('DENY')
  const post = await fetchSite(`${url}/blog/hello`)
  expect(post.status).toBe(200)
  expect(post.body.toString()).toBe('<p>hello post</p>')
  return post
}

/**
 * The product end to end, each part a real process: the Netlify sandbox on its own, the gateway
 * CLI to set up a customer, `kaixu-gateway serve`, and the bundled Action run as a runner runs it.
 */
describe.each(databases())('end to end on %s', (database) => {
  let work: string
  let sandbox: Started
  let gateway: Started
  let drop: (() => Promise<void>) | undefined
  let env: Record<string, string>
  let apiUrl: string
  let gatewayUrl: string
  let key: string
  let projectName: string
  const netlifyToken = 'e2e-netlify-token'
  const adminToken = 'e2e-admin-token-0123456789abcdef'
  let customerId: string

  const cli = async (...args: string[]) => {
    const res = await runCli([...args, '--json'], env)
    if (res.code !== 0) throw new Error(`kaixu-gateway ${args.join(' ')} failed: ${res.stderr}`)
    return JSON.parse(res.stdout) as Record<string, string>
  }

  const sandboxStats = async () =>
    (await (await fetch(`${sandbox.line['url']}/__sandbox/stats`)).json()) as {
      filePuts: number
      zipDeploys: number
      functionPuts: number
      functionPutsByName: Record<string, number>
    }

  /** Requests the gateway has answered on its push routes, from its Prometheus metrics. */
  const gatewayRequests = async () => {
    const text = await (await fetch(`${gatewayUrl}/metrics`)).text()
    return [
      ...text.matchAll(
        /^kaixu_http_request_duration_seconds_count\{[^}]*route="\/v1\/push-[^"]*"[^}]*\} (\d+)$/gm,
      ),
    ].reduce((n, m) => n + Number(m[1]), 0)
  }
  const ensureDir = async (file: string) => {
    await mkdir(dirname(file), { recursive: true })
    return file
  }

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'kaixu-e2e-'))
    sandbox = await startProcess(
      [gatewayBin, 'sandbox', '--port', '0', '--json'],
      { KAIXU_DATA_DIR: join(work, 'netlify') },
      (j) => typeof j['url'] === 'string',
    )
    apiUrl = String(sandbox.line['apiUrl'])
    const pgDb = database === 'postgres' ? await scratchPostgres() : undefined
    drop = pgDb?.drop
    env = {
      KAIXU_DATA_DIR: join(work, 'gateway'),
      NETLIFY_API_URL: apiUrl,
      KAIXU_VAULT_KEYS: testVaultKeys(),
      LOG_LEVEL: 'info',
      KAIXU_PACING_PER_MINUTE: '1000',
      KAIXU_ADMIN_TOKEN: adminToken,
      // Small limits, so a test file goes up in chunks as a big one would.
      KAIXU_INLINE_MAX_BYTES: '100000',
      KAIXU_CHUNK_BYTES: '65536',
      PORT: '0',
      ...(pgDb ? { DATABASE_URL: pgDb.url } : {}),
    }
    const siteRes = await fetch(`${apiUrl}/sites`, {
      method: 'POST',
      headers: { authorization: `Bearer ${netlifyToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'e2e-site' }),
    })
    const site = (await siteRes.json()) as { id: string }
    const customer = await cli('customers', 'create', '--name', 'E2E Agency')
    customerId = customer['id']!
    key = (await cli('keys', 'create', '--customer', customer['id']!))['key']!
    await cli('tokens', 'set', '--customer', customer['id']!, '--token', netlifyToken)
    projectName = (
      await cli(
        'projects',
        'add',
        '--customer',
        customer['id']!,
        '--site-id',
        site.id,
        '--name',
        'e2e-site',
      )
    )['name']!
    gateway = await startProcess(
      [gatewayBin, 'serve'],
      env,
      (j) => j['msg'] === 'gateway listening',
    )
    gatewayUrl = String(gateway.line['url'])
  }, 300_000)

  afterAll(async () => {
    await gateway?.stop()
    await sandbox?.stop()
    await drop?.()
    await rm(work, { recursive: true, force: true })
  })

  const deploy = (dir: string, extra: Record<string, string> = {}) =>
    runAction({ 'gateway-url': gatewayUrl, 'kaixu-key': key, project: projectName, dir, ...extra })

  test('the example site deploys, sets every output, and serves every file byte for byte', async () => {
    const dir = join(root, 'examples', 'site')
    const run = await deploy(dir)
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    const files = await listFiles(dir)
    expect(run.outputs).toMatchObject({
      state: 'ready',
      'files-total': String(files.length),
      'files-uploaded': String(files.length),
    })
    expect(run.outputs['push-id']).toMatch(/^push_/)
    expect(run.outputs['deploy-url']).toContain(run.outputs['deploy-id'])
    expect(Number(run.outputs['bytes-uploaded'])).toBeGreaterThan(0)
    expect(
      run.stdout
        .split('\n')
        .filter((l) => !l.startsWith('::add-mask::'))
        .join('\n'),
    ).not.toContain(key)
    expect(run.summary).toContain('ready')
    for (const file of files) {
      const page = await fetchSite(`${run.outputs['deploy-url']}/${file}`)
      expect(page.status).toBe(200)
      expect(page.body.equals(await readFile(join(dir, file)))).toBe(true)
    }
    expect((await fetchSite(`${run.outputs['site-url']}/`)).body.toString()).toContain(
      'Deployed with Kaixu Push',
    )
  })

  test('netlify.toml from the repository root, _redirects and _headers: served as Netlify would', async () => {
    // The checkout: a netlify.toml and Edge Functions at its root, the built site in public/.
    const repo = join(work, 'repo-rules')
    const dir = join(repo, 'public')
    await writeNested(repo, 'netlify.toml', RULES_TOML)
    await writeNested(repo, 'netlify/edge-functions/geo.ts', 'export default () => {}')
    await writeNested(dir, 'index.html', '<p>home</p>')
    await writeNested(dir, 'new.html', '<p>new</p>')
    await writeNested(dir, 'posts/hello.html', '<p>hello post</p>')
    await writeNested(dir, 'app.js.map', '{}')
    await writeNested(dir, '_redirects', '/blog/*  /posts/:splat.html  200\n')
    // Header rules match the requested path, as on Netlify: /blog/hello, not /posts/hello.html.
    await writeNested(dir, '_headers', '/blog/*\n  X-Robots-Tag: noindex\n')

    const run = await runAction(
      {
        'gateway-url': gatewayUrl,
        'kaixu-key': key,
        project: projectName,
        dir,
        exclude: '**/*.map',
        'deploy-message': 'Rules e2e',
      },
      { env: { GITHUB_WORKSPACE: repo } },
    )
    expect(run.code).toBe(0)
    // index, new, posts/hello, _redirects, _headers and the root's netlify.toml; not the map.
    expect(run.outputs).toMatchObject({ state: 'ready', 'files-total': '6' })
    const logUrl = `https://app.netlify.com/sites/e2e-site/deploys/${run.outputs['deploy-id']}`
    expect(run.outputs['deploy-log-url']).toBe(logUrl)
    expect(run.summary).toContain(`<a href="${logUrl}">`)
    expect(run.stdout).toMatch(/::warning::Edge Functions found \(.*netlify\/edge-functions\)/)

    const url = run.outputs['deploy-url']!
    const post = await expectRulesServed(url)
    expect(post.headers['x-robots-tag']).toBe('noindex')
    expect((await fetchSite(`${url}/app.js.map`)).status).toBe(404)

    const deploy = await fetch(`${apiUrl}/deploys/${run.outputs['deploy-id']}`, {
      headers: { authorization: `Bearer ${netlifyToken}` },
    })
    expect(((await deploy.json()) as { title?: string }).title).toBe('Rules e2e')
  })

  test('functions beside netlify.toml rules: bundled, deployed, and only a changed one sent again', async () => {
    // The checkout: netlify.toml at its root names the functions folder; the site in public/.
    const repo = join(work, 'repo-functions')
    const dir = join(repo, 'public')
    const toml = `${RULES_TOML}\n[functions]\n  directory = "netlify/functions"\n`
    await writeNested(repo, 'netlify.toml', toml)
    await writeNested(
      repo,
      'netlify/functions/hello.mjs',
      'export default async (req) => new Response(`hello from ${new URL(req.url).pathname}`)\n',
    )
    await writeNested(
      repo,
      'netlify/functions/classic.js',
      "exports.handler = async () => ({ statusCode: 200, body: 'classic' })\n",
    )
    await writeNested(dir, 'index.html', '<p>home</p>')
    await writeNested(dir, 'new.html', '<p>new</p>')
    await writeNested(dir, 'posts/hello.html', '<p>hello post</p>')
    await writeNested(dir, '_redirects', '/blog/*  /posts/:splat.html  200\n')
    const push = () =>
      runAction(
        { 'gateway-url': gatewayUrl, 'kaixu-key': key, project: projectName, dir },
        { env: { GITHUB_WORKSPACE: repo } },
      )

    const before = await sandboxStats()
    const first = await push()
    expect(first.stderr).toBe('')
    expect(first.code).toBe(0)
    expect(first.outputs['state']).toBe('ready')
    expect(first.stdout).toContain('Bundled 2 functions (classic, hello)')
    expect(first.stdout).toContain('2 of 2 functions to upload: classic, hello')
    const afterFirst = await sandboxStats()
    expect(afterFirst.functionPuts - before.functionPuts).toBe(2)

    await expectRulesServed(first.outputs['deploy-url']!)

    // One function changes: exactly that one goes up again, and the files none.
    await writeNested(
      repo,
      'netlify/functions/hello.mjs',
      "export default async () => new Response('hello, edited')\n",
    )
    const second = await push()
    expect(second.code).toBe(0)
    expect(second.outputs).toMatchObject({ state: 'ready', 'files-uploaded': '0' })
    expect(second.stdout).toContain('1 of 2 functions to upload: hello (1 unchanged)')
    const afterSecond = await sandboxStats()
    expect(afterSecond.functionPuts - afterFirst.functionPuts).toBe(1)
    expect(
      (afterSecond.functionPutsByName['hello'] ?? 0) -
        (afterFirst.functionPutsByName['hello'] ?? 0),
    ).toBe(1)
    expect(afterSecond.functionPutsByName['classic']).toBe(afterFirst.functionPutsByName['classic'])
  }, 240_000)

  test('a second push of a 50-file site with one changed file uploads exactly one file', async () => {
    const dir = join(work, 'site50')
    for (let i = 0; i < 50; i++)
      await writeNested(dir, `section-${i % 5}/page-${i}.html`, `<p>page ${i}</p>`)
    const first = await deploy(dir)
    expect(first.outputs).toMatchObject({
      state: 'ready',
      'files-total': '50',
      'files-uploaded': '50',
    })

    await writeFile(join(dir, 'section-3/page-13.html'), '<p>page 13, edited</p>')
    const before = await sandboxStats()
    const second = await deploy(dir)
    const after = await sandboxStats()
    expect(second.code).toBe(0)
    expect(second.outputs).toMatchObject({
      state: 'ready',
      'files-total': '50',
      'files-uploaded': '1',
    })
    expect(after.filePuts - before.filePuts).toBe(1)
    const page = await fetchSite(`${second.outputs['deploy-url']}/section-3/page-13.html`)
    expect(page.body.toString()).toBe('<p>page 13, edited</p>')
  })

  test('a first push of 300 files sends them in batches: requests ≤ files ÷ 50 + 3', async () => {
    const dir = join(work, 'site300')
    for (let i = 0; i < 300; i++) {
      await writeFile(
        await ensureDir(join(dir, `d${i % 7}`, `f ${i}+ü.txt`)),
        `${i}:${randomBytes(4 + (i % 300)).toString('hex')}`,
      )
    }
    const before = await gatewayRequests()
    const result = await deploy(dir)
    const requests = (await gatewayRequests()) - before
    expect(result.outputs).toMatchObject({ state: 'ready', 'files-uploaded': '300' })
    // init, the batches, complete, and the status long-poll.
    expect(requests).toBeLessThanOrEqual(300 / 50 + 3)
    const page = await fetchSite(
      `${result.outputs['deploy-url']}/d5/${encodeURIComponent('f 299+ü.txt')}`,
    )
    expect(page.body.toString()).toBe(await readFile(join(dir, 'd5', 'f 299+ü.txt'), 'utf8'))
  })

  test('a first push that would not fit the rate window goes as one zip deploy, or by PUT when refused', async () => {
    const sandboxControl = (path: string, body: unknown) =>
      fetch(`${sandbox.line['url']}/__sandbox${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
    const site = async (name: string) => {
      const dir = join(work, name)
      for (let i = 0; i < 150; i++) {
        await writeNested(
          dir,
          `p${i % 4}/page-${i}.html`,
          `<p>${name} ${i} ${randomBytes(8).toString('hex')}</p>`,
        )
      }
      await writeNested(dir, 'a/same.css', 'body{}')
      await writeNested(dir, 'b/same.css', 'body{}')
      return dir
    }
    // 120 requests a minute (this also starts every token's window afresh): 151 PUTs would not fit.
    expect((await sandboxControl('/config', { rateLimitPerMinute: 120 })).status).toBe(200)
    try {
      const dir = await site('site-zip')
      const before = await sandboxStats()
      const run = await deploy(dir)
      const after = await sandboxStats()
      expect(run.code).toBe(0)
      expect(run.outputs).toMatchObject({
        state: 'ready',
        'files-total': '152',
        'files-uploaded': '151',
      })
      expect(run.stdout).toContain('deploys this push as one zip archive')
      expect(run.summary).toContain('one zip deploy')
      expect(after.zipDeploys - before.zipDeploys).toBe(1)
      expect(after.filePuts - before.filePuts).toBe(0)
      for (const file of ['p0/page-0.html', 'p1/page-149.html', 'b/same.css']) {
        const page = await fetchSite(`${run.outputs['deploy-url']}/${file}`)
        expect(page.body.equals(await readFile(join(dir, file)))).toBe(true)
      }

      // Netlify refuses the next zip: the same kind of push still lands, file by file (its PUTs
      // wait for the window's reset, about a minute, as a digest push's would).
      expect((await sandboxControl('/config', { rateLimitPerMinute: 120 })).status).toBe(200)
      const refused = await site('site-zip-refused')
      await sandboxControl('/faults', [
        {
          match: { method: 'POST', pathRegex: '/sites/[^/]+/deploys(\\?|$)' },
          skip: 1,
          status: 422,
        },
      ])
      const fallback = await deploy(refused)
      expect(fallback.code).toBe(0)
      expect(fallback.outputs).toMatchObject({ state: 'ready', 'files-uploaded': '151' })
      expect(fallback.summary).toContain('Netlify refused the zip deploy')
      const page = await fetchSite(`${fallback.outputs['deploy-url']}/p2/page-2.html`)
      expect(page.body.equals(await readFile(join(refused, 'p2/page-2.html')))).toBe(true)
    } finally {
      await sandboxControl('/config', { rateLimitPerMinute: 500 })
      await fetch(`${sandbox.line['url']}/__sandbox/faults`, { method: 'DELETE' })
    }
    // The fallback's 151 PUTs do not fit the 120-request window: they wait out one reset.
  }, 180_000)

  test('a file above the inline limit goes up in chunks and lands byte for byte', async () => {
    const dir = join(work, 'site-big')
    const big = randomBytes(300_000)
    await writeNested(dir, 'media/big.bin', '')
    await writeFile(join(dir, 'media/big.bin'), big)
    await writeNested(dir, 'index.html', '<p>big</p>')
    const run = await deploy(dir)
    expect(run.code).toBe(0)
    expect(run.stdout).toContain('Uploaded media/big.bin in 5 chunks')
    expect(run.outputs).toMatchObject({ state: 'ready', 'files-uploaded': '2' })
    const served = await fetchSite(`${run.outputs['deploy-url']}/media/big.bin`)
    expect(served.body.equals(big)).toBe(true)
  })

  test('at the monthly cap the step fails saying which limit, what is left and when it resets', async () => {
    const admin = (method: string, path: string, body?: unknown) =>
      fetch(`${gatewayUrl}/admin/api${path}`, {
        method,
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      }).then((r) => r.json() as Promise<Record<string, any>>)
    const report = await admin('GET', `/customers/${customerId}/limits`)
    await admin('PUT', `/customers/${customerId}/limits`, {
      deploysPerMonth: report['deploys']['used'],
    })
    const run = await deploy(join(root, 'examples', 'site'))
    await admin('PUT', `/customers/${customerId}/limits`, { deploysPerMonth: null })
    expect(run.code).not.toBe(0)
    expect(run.stdout).toMatch(
      /::error::Monthly deploy cap reached: 0 of \d+ deploys left this month; resets \d{4}-\d\d-01 00:00 UTC/,
    )
  })

  test('a wrong key fails the step with the gateway message and no outputs', async () => {
    const run = await runAction({
      'gateway-url': gatewayUrl,
      'kaixu-key': 'kx_live_' + 'A'.repeat(38),
      project: projectName,
      dir: join(root, 'examples', 'site'),
    })
    expect(run.code).not.toBe(0)
    expect(run.stdout).toMatch(/::error::.*(API key|unauthorized)/i)
    expect(run.outputs['deploy-url']).toBeUndefined()
  })
})

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile())
      out.push(relative(dir, join(entry.parentPath, entry.name)).split('\\').join('/'))
  }
  return out.sort()
}

async function writeNested(dir: string, path: string, content: string) {
  await mkdir(dirname(join(dir, path)), { recursive: true })
  await writeFile(join(dir, path), content)
}
