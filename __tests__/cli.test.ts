import { spawn } from 'node:child_process'
import { createServer, request as httpRequest, type Server } from 'node:http'
import { connect } from 'node:net'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { api, createTenant, fetchSite, startTestGateway } from '../gateway/test/helpers/gateway.ts'
import { UsageError, parseCliArgs, runCli } from '../src/cli-main.ts'
import { runAction } from '../scripts/lib/run-action.ts'
import type { TestGateway, Tenant } from '../gateway/test/helpers/gateway.ts'
import { createSite, netlifyTokenFor, sandboxControl } from '../gateway/test/helpers/accounts.ts'
import { finished } from '../gateway/test/helpers/processes.ts'

const root = resolve(import.meta.dirname, '..')
const noWarn = () => {}

describe('parseCliArgs', () => {
  const env = { KAIXU_KEY: 'kx_live_key' }
  const base = ['--dir', root, '--project', 'site', '--gateway-url', 'https://gw.example.com']

  it('reads flags and the key from KAIXU_KEY; a draft unless --prod', () => {
    expect(parseCliArgs(base, env, noWarn)).toEqual({
      dir: root,
      project: 'site',
      gatewayUrl: 'https://gw.example.com/',
      kaixuKey: 'kx_live_key',
      draft: true,
      alias: undefined,
      title: undefined,
      netlifyConfig: undefined,
      include: [],
      exclude: [],
      wait: true,
      timeoutMinutes: 20,
      concurrency: 8,
      dryRun: false,
      json: false,
      dotenv: undefined,
      ci: undefined,
    })
    expect(parseCliArgs([...base, '--prod'], env, noWarn)).toMatchObject({ draft: false })
    expect(parseCliArgs([...base, '--draft'], env, noWarn)).toMatchObject({ draft: true })
  })

  it('takes the alias and the title from a merge request pipeline; flags win', () => {
    const mr = {
      ...env,
      GITLAB_CI: 'true',
      CI_PIPELINE_SOURCE: 'merge_request_event',
      CI_MERGE_REQUEST_IID: '42',
      CI_MERGE_REQUEST_TITLE: 'Add the pricing page',
    }
    expect(parseCliArgs(base, mr, noWarn)).toMatchObject({
      draft: true,
      alias: 'mr-42',
      title: 'Add the pricing page',
      ci: { name: 'GitLab CI', changeRequest: { alias: 'mr-42' } },
    })
    expect(
      parseCliArgs([...base, '--alias', 'review', '--title', 'Mine'], mr, noWarn),
    ).toMatchObject({ alias: 'review', title: 'Mine' })
    // A branch pipeline: the commit's title, and production only when asked.
    const branch = { ...env, GITLAB_CI: 'true', CI_COMMIT_BRANCH: 'main', CI_COMMIT_TITLE: 'Fix' }
    expect(parseCliArgs([...base, '--prod'], branch, noWarn)).toMatchObject({
      draft: false,
      alias: undefined,
      title: 'Fix',
    })
  })

  it('reads --dotenv as a file in an existing folder', () => {
    expect(parseCliArgs([...base, '--dotenv', 'deploy.env'], env, noWarn)).toMatchObject({
      dotenv: resolve('deploy.env'),
    })
  })

  it.each([
    ['GitLab CI', { GITLAB_CI: 'true', CI_MERGE_REQUEST_IID: '42' }, 'merge request !42'],
    ['GitLab CI', { GITLAB_CI: 'true', CI_PIPELINE_SOURCE: 'merge_request_event' }, 'request'],
    ['CircleCI', { CIRCLECI: 'true', CIRCLE_PULL_REQUEST: 'https://x/o/r/pull/7' }, '#7'],
    ['Bitbucket Pipelines', { BITBUCKET_BUILD_NUMBER: '1', BITBUCKET_PR_ID: '5' }, '#5'],
    ['Buildkite', { BUILDKITE: 'true', BUILDKITE_PULL_REQUEST: '11' }, '#11'],
  ])('refuses --prod in a %s merge/pull request pipeline', (name, ci, label) => {
    const run = () => parseCliArgs([...base, '--prod'], { ...env, ...ci }, noWarn)
    expect(run).toThrow(UsageError)
    expect(run).toThrow(new RegExp(`--prod is refused in a ${name} pipeline for .*${label}`))
    // The same command without --prod deploys the preview.
    expect(parseCliArgs(base, { ...env, ...ci }, noWarn)).toMatchObject({ draft: true })
  })

  it('reads --alias, --no-wait, --dry-run and the numbers', () => {
    const options = parseCliArgs(
      [
        ...base,
        '--alias',
        'mr-42',
        '--no-wait',
        '--dry-run',
        '--timeout-minutes',
        '3',
        '--concurrency',
        '2',
        '--json',
      ],
      env,
      noWarn,
    )
    expect(options).toMatchObject({
      draft: true,
      alias: 'mr-42',
      wait: false,
      dryRun: true,
      timeoutMinutes: 3,
      concurrency: 2,
      json: true,
    })
  })

  it('reads --include and --exclude, each repeatable', () => {
    const argv = [...base, '--include', '*.html', '--include', 'assets', '--exclude', '**/*.map']
    expect(parseCliArgs(argv, env, noWarn)).toMatchObject({
      include: ['*.html', 'assets'],
      exclude: ['**/*.map'],
    })
    expect(parseCliArgs(base, env, noWarn)).toMatchObject({ include: [], exclude: [] })
  })

  it('reads --netlify-config as an existing file', () => {
    const config = join(root, 'package.json')
    expect(parseCliArgs([...base, '--netlify-config', config], env, noWarn)).toMatchObject({
      netlifyConfig: config,
    })
  })

  it('takes the gateway URL from KAIXU_GATEWAY_URL', () => {
    const options = parseCliArgs(
      base.slice(0, 4),
      { ...env, KAIXU_GATEWAY_URL: 'http://127.0.0.1:1' },
      noWarn,
    )
    expect(options?.gatewayUrl).toBe('http://127.0.0.1:1/')
  })

  it.each([
    [['--dir', root, '--project', 'site'], {}, '--gateway-url is required'],
    [base, {}, 'KAIXU_KEY is not set'],
    [[...base, '--alias', 'Feature/X'], env, '--alias must be at most 37'],
    [[...base, '--concurrency', '0'], env, '--concurrency must be a whole number from 1 to 32'],
    [[...base, '--bogus'], env, "Unknown option '--bogus'"],
    [['--project', 'site', '--gateway-url', 'https://gw'], env, '--dir is required'],
    [[...base, '--netlify-config', join(root, 'missing.toml')], env, '--netlify-config: '],
    [[...base, '--netlify-config', root], env, 'is not a file'],
    [[...base, '--prod', '--alias', 'mr-1'], env, '--alias makes a draft'],
    [[...base, '--prod', '--draft'], env, '--prod and --draft exclude each other'],
    [[...base, '--dotenv', join(root, 'missing', 'x.env')], env, '--dotenv: '],
    [[...base, '--dotenv', root], env, 'is a directory, not a file'],
  ])('refuses %j with a usage error', (argv, environment, message) => {
    expect(() => parseCliArgs(argv, environment, noWarn)).toThrow(UsageError)
    expect(() => parseCliArgs(argv, environment, noWarn)).toThrow(message)
  })

  it('answers undefined for --help', () => {
    expect(parseCliArgs(['--help'], {}, noWarn)).toBeUndefined()
  })
})

describe('runCli', () => {
  it('prints the usage and exits 2 on a usage error, 0 on --help', async () => {
    const out: string[] = []
    const err: string[] = []
    const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) }
    expect(await runCli(['--dir'], {}, io)).toBe(2)
    expect(err.join('')).toContain('Usage: kaixu-push')
    expect(await runCli(['-h'], {}, io)).toBe(0)
    expect(out.join('')).toContain('Usage: kaixu-push')
  })
})

/** The bundled CLI (`dist/cli/index.js`, the package's `bin`) against a real gateway. */
describe('kaixu-push (dist/cli) end to end', () => {
  let gw: TestGateway
  let tenant: Tenant
  let work: string

  beforeAll(async () => {
    gw = await startTestGateway('pglite')
    tenant = await createTenant(gw, 'CLI Agency')
    work = await mkdtemp(join(tmpdir(), 'kaixu-cli-'))
    await writeFile(join(work, 'index.html'), '<h1>From another CI</h1>')
    await writeFile(join(work, 'about.html'), '<p>About</p>')
  }, 60_000)

  afterAll(async () => {
    await gw?.stop()
    await rm(work, { recursive: true, force: true })
  })

  function cli(args: string[], env: Record<string, string> = { KAIXU_KEY: tenant.key }) {
    return finished(
      spawn(process.execPath, [join(root, 'dist', 'cli', 'index.js'), ...args], {
        // Only PATH and the key: nothing of GitHub's runner.
        env: { PATH: process.env['PATH'] ?? '', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    )
  }

  const target = () => ['--dir', work, '--project', tenant.projectName, '--gateway-url', gw.url]

  it('deploys to production with --prod and prints the result as JSON', async () => {
    const run = await cli([...target(), '--prod', '--json'])
    expect(run.code).toBe(0)
    const result = JSON.parse(run.stdout) as Record<string, string | number>
    expect(result).toMatchObject({ state: 'ready', 'files-total': 2, 'files-uploaded': 2 })
    expect(run.stderr).toMatch(/Uploaded 2\/2 files/)
    expect(run.stderr).not.toContain(tenant.key)
    const page = await fetchSite(`${result['site-url']}/`)
    expect(page.body.toString()).toContain('From another CI')
  })

  describe('through a proxy on loopback (HTTP_PROXY, NO_PROXY)', () => {
    let proxy: Server
    let proxyUrl: string
    // What the proxy was asked for: `CONNECT host:port` tunnels and absolute-form requests.
    const seen: string[] = []

    beforeAll(async () => {
      proxy = createServer((req, res) => {
        seen.push(`${req.method} ${req.url}`)
        const url = new URL(req.url!)
        const upstream = httpRequest(
          {
            host: url.hostname,
            port: url.port,
            path: url.pathname + url.search,
            method: req.method,
            headers: req.headers,
          },
          (answer) => {
            res.writeHead(answer.statusCode!, answer.headers)
            answer.pipe(res)
          },
        )
        req.pipe(upstream)
      })
      proxy.on('connect', (req, socket, head) => {
        seen.push(`CONNECT ${req.url}`)
        const [host, port] = req.url!.split(':')
        const upstream = connect(Number(port), host, () => {
          socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
          upstream.write(head)
          upstream.pipe(socket)
          socket.pipe(upstream)
        })
        upstream.on('error', () => socket.destroy())
        socket.on('error', () => upstream.destroy())
      })
      await new Promise<void>((done) => proxy.listen(0, '127.0.0.1', done))
      const address = proxy.address() as { port: number }
      proxyUrl = `http://127.0.0.1:${address.port}`
    })

    afterAll(async () => {
      proxy.closeAllConnections()
      await new Promise((done) => proxy.close(done))
    })

    const gatewayHost = () => new URL(gw.url).host

    it('the CLI sends every gateway request through it, and none with NO_PROXY', async () => {
      seen.length = 0
      const run = await cli([...target(), '--dry-run'], {
        KAIXU_KEY: tenant.key,
        HTTP_PROXY: proxyUrl,
      })
      expect(run.stderr).not.toMatch(/error/i)
      expect(run.code).toBe(0)
      expect(seen.length).toBeGreaterThan(0)
      expect(seen.every((line) => line.includes(gatewayHost()))).toBe(true)

      seen.length = 0
      const direct = await cli([...target(), '--dry-run'], {
        KAIXU_KEY: tenant.key,
        https_proxy: proxyUrl,
        HTTP_PROXY: proxyUrl,
        NO_PROXY: '127.0.0.1',
      })
      expect(direct.code).toBe(0)
      expect(seen).toEqual([])
    })

    it('the Action (dist/index.js) sends its gateway requests through it', async () => {
      seen.length = 0
      const run = await runAction(
        {
          'gateway-url': gw.url,
          'kaixu-key': tenant.key,
          project: tenant.projectName,
          dir: work,
          'dry-run': 'true',
        },
        { env: { HTTP_PROXY: proxyUrl } },
      )
      expect(run.code).toBe(0)
      expect(run.outputs['state']).toBe('planned')
      expect(seen.length).toBeGreaterThan(0)
      expect(seen.every((line) => line.includes(gatewayHost()))).toBe(true)
    })
  })

  it('deploys an aliased draft', async () => {
    const run = await cli([...target(), '--alias', 'mr-42'])
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/^site-url: .*mr-42--/m)
    const pushes = await gw.db.query<{ draft: boolean; alias: string }>(
      'SELECT draft, alias FROM pushes ORDER BY created_at DESC LIMIT 1',
    )
    expect(pushes[0]).toEqual({ draft: true, alias: 'mr-42' })
  })

  it('plans with --dry-run and creates nothing', async () => {
    await writeFile(join(work, 'new.html'), '<p>New</p>')
    const before = await api(gw, tenant.key, 'GET', '/v1/usage')
    const count = async () =>
      Number((await gw.db.query<{ n: number }>('SELECT count(*)::int AS n FROM pushes'))[0]!.n)
    const pushes = await count()

    const run = await cli([...target(), '--dry-run', '--json'])

    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({
      state: 'planned',
      'files-total': 3,
      'files-changed': 1,
    })
    expect(run.stderr).toContain('Dry run: would upload 1 of 3 files')
    expect(await count()).toBe(pushes)
    expect((await api(gw, tenant.key, 'GET', '/v1/usage')).body).toEqual(before.body)
  })

  it('fails with exit 1 and the gateway’s reason for a wrong project', async () => {
    const run = await cli(['--dir', work, '--project', 'nope', '--gateway-url', gw.url])
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/kaixu-push: .*Check the 'project' input/)
  })

  it('exits 2 without KAIXU_KEY', async () => {
    const run = await cli(target(), {})
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('KAIXU_KEY is not set')
  })

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)(
    '%s mid-upload cancels the push at the gateway and exits %i',
    async (signal, code) => {
      const dir = await mkdtemp(join(tmpdir(), 'kaixu-cli-cancel-'))
      await writeFile(join(dir, 'index.html'), `<p>${signal} ${Date.now()} ${Math.random()}</p>`)
      // Netlify takes the file slowly, so the signal lands while it uploads.
      await fetch(`${gw.url}/__sandbox/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ match: { method: 'PUT', path: '/files/' }, delayMs: 10_000 }),
      })
      const child = spawn(
        process.execPath,
        [join(root, 'dist', 'cli', 'index.js'), '--dir', dir, '--project', tenant.projectName],
        {
          env: {
            PATH: process.env['PATH'] ?? '',
            KAIXU_KEY: tenant.key,
            KAIXU_GATEWAY_URL: gw.url,
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      )
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => {
        stderr += d
        if (/Push push_\w+ \(deploy/.test(stderr) && !child.killed) child.kill(signal)
      })
      const exit = await new Promise<number | null>((done) => child.on('close', done))
      await fetch(`${gw.url}/__sandbox/faults`, { method: 'DELETE' })
      await rm(dir, { recursive: true, force: true })

      expect(exit).toBe(code)
      const pushId = /Push (push_\w+)/.exec(stderr)![1]!
      expect(stderr).toContain(`interrupted by ${signal}`)
      expect(stderr).toContain(`Push ${pushId} cancelled`)
      const status = await api(gw, tenant.key, 'GET', `/v1/push-status?pushId=${pushId}`)
      expect(status.body['state']).toBe('cancelled')
    },
  )
})

/** Every self-service subcommand through the bundled CLI, with a client's own key only. */
describe('kaixu-push self-service subcommands (dist/cli) end to end', () => {
  let gw: TestGateway
  let key: string
  let site: { id: string; name: string }
  let work: string
  const account = `acct-cli-${Date.now()}`
  const firstToken = netlifyTokenFor('clione')
  const secondToken = netlifyTokenFor('clitwo')

  beforeAll(async () => {
    gw = await startTestGateway('pglite')
    // A client the operator has only created and keyed: no Netlify token, no project yet.
    const customer = await gw.accounts.createCustomer('Self-service Client', 'test')
    key = (await gw.accounts.createApiKey(customer.id, 'test')).key
    await sandboxControl(gw, '/tokens', { token: firstToken, accountSlug: account })
    await sandboxControl(gw, '/tokens', { token: secondToken, accountSlug: account })
    site = await createSite(gw, firstToken)
    work = await mkdtemp(join(tmpdir(), 'kaixu-cli-self-'))
    await writeFile(join(work, 'index.html'), '<h1>Self-served</h1>')
  }, 60_000)

  afterAll(async () => {
    await gw?.stop()
    await rm(work, { recursive: true, force: true })
  })

  function cli(args: string[], env: Record<string, string> = {}, stdin?: string) {
    const child = spawn(process.execPath, [join(root, 'dist', 'cli', 'index.js'), ...args], {
      env: { PATH: process.env['PATH'] ?? '', KAIXU_KEY: key, KAIXU_GATEWAY_URL: gw.url, ...env },
      stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    })
    if (stdin !== undefined) child.stdin!.end(stdin)
    return finished(child)
  }
  const json = (run: { stdout: string }) => JSON.parse(run.stdout) as Record<string, any>

  it('token set stores the token from NETLIFY_AUTH_TOKEN, then rotates it from stdin', async () => {
    const first = await cli(['token', 'set', '--json'], { NETLIFY_AUTH_TOKEN: firstToken })
    expect(first.code).toBe(0)
    expect(json(first)).toMatchObject({ state: 'active', last4: firstToken.slice(-4) })
    expect(first.stdout + first.stderr).not.toContain(firstToken)

    const second = await cli(['token', 'set'], {}, `${secondToken}\n`)
    expect(second.code).toBe(0)
    expect(second.stdout).toContain(`Netlify token …${secondToken.slice(-4)} stored`)
    expect(second.stdout + second.stderr).not.toContain(secondToken)

    const none = await cli(['token', 'set'], {}, '')
    expect(none.code).toBe(2)
    expect(none.stderr).toContain('no Netlify token')
  })

  it('token set reports Netlify refusing the token, exit 1', async () => {
    const revoked = netlifyTokenFor('clirevoked')
    await sandboxControl(gw, '/tokens/revoke', { token: revoked })
    const run = await cli(['token', 'set'], { NETLIFY_AUTH_TOKEN: revoked })
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/^kaixu-push: .+/m)
    expect(run.stderr).not.toContain(revoked)
    // The token stored before stays in force.
    expect(
      json(await cli(['token', 'set', '--json'], { NETLIFY_AUTH_TOKEN: secondToken })),
    ).toMatchObject({
      last4: secondToken.slice(-4),
    })
  })

  it('projects add, then list (JSON and text)', async () => {
    const add = await cli(['projects', 'add', '--site-id', site.id, '--name', site.name, '--json'])
    expect(add.code).toBe(0)
    expect(json(add)).toMatchObject({ name: site.name, siteId: site.id, id: expect.any(String) })

    const list = await cli(['projects', 'list', '--json'])
    expect(list.code).toBe(0)
    expect(json(list)['projects']).toEqual([expect.objectContaining({ name: site.name })])
    const text = await cli(['projects', 'list'])
    expect(text.stdout).toContain(`${site.name}  site ${site.id}`)

    const missing = await cli(['projects', 'add', '--site-id', site.id])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('--name is required')
  })

  it('history pages the pushes and usage counts them', async () => {
    for (let i = 0; i < 2; i++) {
      await writeFile(join(work, 'index.html'), `<h1>Self-served ${i}</h1>`)
      const push = await cli(['--dir', work, '--project', site.name])
      expect(push.code).toBe(0)
    }
    const all = await cli(['history', '--json'])
    expect(all.code).toBe(0)
    const pushes = json(all)['pushes'] as { pushId: string; state: string }[]
    expect(pushes.map((p) => p.state)).toEqual(['ready', 'ready'])
    expect(json(all)['next']).toBeNull()

    const first = await cli(['history', '--limit', '1', '--json'])
    expect(json(first)['pushes'].map((p: { pushId: string }) => p.pushId)).toEqual([
      pushes[0]!.pushId,
    ])
    const next = json(first)['next'] as string
    const older = await cli(['history', '--limit', '1', '--before', next, '--project', site.name])
    expect(older.code).toBe(0)
    expect(older.stdout).toContain(pushes[1]!.pushId)
    expect(older.stdout).not.toContain(pushes[0]!.pushId)
    const text = await cli(['history', '--limit', '1'])
    expect(text.stdout).toContain(`older: kaixu-push history --before ${next}`)

    expect(json(await cli(['history', '--state', 'error', '--json']))['pushes']).toEqual([])
    const usage = await cli(['usage', '--json'])
    expect(usage.code).toBe(0)
    expect(json(usage)).toMatchObject({ deploys: 2 })
    expect(json(usage)['bytes']).toBeGreaterThan(0)
    expect((await cli(['usage'])).stdout).toMatch(/^deploys: 2/m)
    expect(json(await cli(['usage', '--month', '2001-01', '--json']))).toMatchObject({
      month: '2001-01',
      deploys: 0,
    })
  })

  it.each([
    [['usage', '--month', '2026-13'], '--month must be YYYY-MM'],
    [['history', '--state', 'bogus'], '--state must be one of'],
    [['history', '--limit', '0'], '--limit must be a whole number from 1 to 100'],
    [['usage', '--name', 'x'], '--name does not apply'],
    [['projects', 'rename'], "unknown command 'projects rename'"],
    [['projects', 'remove'], 'needs a project id or name'],
  ])('%j is a usage error (exit 2)', async (args, message) => {
    const run = await cli(args)
    expect(run.code).toBe(2)
    expect(run.stderr).toContain(message)
  })

  it('a cursor the gateway refuses is exit 1 with its reason', async () => {
    const run = await cli(['history', '--before', 'yesterday'])
    expect(run.code).toBe(1)
    expect(run.stderr).toContain('query.before')
  })

  it('projects remove takes the project away; removing it again is exit 1', async () => {
    const gone = await cli(['projects', 'remove', site.name, '--json'])
    expect(gone.code).toBe(0)
    expect(json(gone)).toMatchObject({ name: site.name, removed: true })
    expect(json(await cli(['projects', 'list', '--json']))['projects']).toEqual([])
    // History of a removed project stays readable.
    expect(json(await cli(['history', '--project', site.name, '--json']))['pushes']).toHaveLength(2)
    const again = await cli(['projects', 'remove', site.name])
    expect(again.code).toBe(1)
    expect(again.stderr).toContain(site.name)
  })

  it('exits 2 without KAIXU_KEY', async () => {
    const run = await cli(['projects', 'list'], { KAIXU_KEY: '' })
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('KAIXU_KEY is not set')
  })
})
