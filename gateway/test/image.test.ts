import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { cp, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, dirname, isAbsolute, join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { parse as parseYaml } from 'yaml'
import { api, fetchSite, scratchPostgres, testVaultKeys } from './helpers/gateway.ts'
import {
  envPairs,
  healthcheckCommand,
  parseDockerfile,
  type Instruction,
  type Stage,
} from './helpers/dockerfile.ts'
import { root } from './helpers/processes.ts'
import { sha1 } from './helpers/pushes.ts'

/**
 * The container image without a Docker engine: the Dockerfile is parsed and checked, then its
 * install and start steps run as written in a scratch folder (each stage a folder standing for
 * the image's filesystem): the production install from the npm registry, the gateway started
 * with the image's command and environment, its HEALTHCHECK command, a push all the way through,
 * and a SIGTERM that drains. Against Postgres when TEST_DATABASE_URL is set, else the image's
 * embedded-database mode.
 */
const dockerfile = await readFile(join(root, 'Dockerfile'), 'utf8')
const stages = parseDockerfile(dockerfile)
const final = stages.at(-1)!
const ops = (stage: Stage, op: string) => stage.instructions.filter((i) => i.op === op)
const only = (stage: Stage, op: string): Instruction => {
  const found = ops(stage, op)
  if (found.length !== 1) throw new Error(`expected one ${op} in the final stage`)
  return found[0]!
}
const imageEnv = Object.assign({}, ...ops(final, 'ENV').map(envPairs)) as Record<string, string>

/** Whether the npm registry answers: the install needs it (the npm cache is used first). */
function registryProblem(): string | undefined {
  const ping = spawnSync('npm', ['ping'], { encoding: 'utf8', timeout: 30_000, env: npmEnv() })
  return ping.status === 0 ? undefined : (ping.stderr || ping.error?.message || 'no answer').trim()
}

/** The environment a RUN step gets: ours minus what `npm test` itself exported to npm. */
function npmEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'INIT_CWD'),
  )
  // The image's Node is 24; ours is process.execPath. The npm cache is used before the network.
  env['PATH'] = `${dirname(process.execPath)}:${env['PATH'] ?? ''}`
  return { ...env, npm_config_prefer_offline: 'true', ...extra }
}

describe('the Dockerfile', () => {
  test('builds in stages on node:24-slim and ships production dependencies only', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2)
    for (const stage of stages) expect(stage.from).toBe('node:24-slim')
    const installs = stages.flatMap((s) => ops(s, 'RUN')).filter((r) => /\bnpm\b/.test(r.rest))
    expect(installs.length).toBeGreaterThan(0)
    for (const run of installs) {
      expect(run.rest).toMatch(/\bnpm ci\b/)
      expect(run.rest).toContain('--omit=dev')
    }
    // The final stage installs nothing itself: it copies the install from an earlier stage.
    expect(ops(final, 'RUN').some((r) => /\bnpm\b/.test(r.rest))).toBe(false)
    const fromStages = ops(final, 'COPY').map((c) => c.flags['from'])
    expect(fromStages).toContain(stages[0]!.name)
  })

  test('runs as a non-root user, listens on all interfaces, checks /readyz, stops on SIGTERM', () => {
    const user = only(final, 'USER').args[0]
    expect(user).toBeDefined()
    expect(['root', '0']).not.toContain(user)
    expect(imageEnv['HOST']).toBe('0.0.0.0')
    expect(imageEnv['NODE_ENV']).toBe('production')
    expect(only(final, 'EXPOSE').args).toEqual([imageEnv['PORT']])
    expect(healthcheckCommand(only(final, 'HEALTHCHECK')).join(' ')).toContain('/readyz')
    expect(only(final, 'STOPSIGNAL').args).toEqual(['SIGTERM'])
    // Exec form, so node is PID 1 and gets the signal (a shell would swallow it).
    expect(only(final, 'CMD').rest.startsWith('[')).toBe(true)
    expect(only(final, 'CMD').args).toEqual(['node', 'gateway/bin/kaixu-gateway.js', 'serve'])
  })

  test('the build context leaves out local state, installs and secrets', async () => {
    const ignore = (await readFile(join(root, '.dockerignore'), 'utf8')).split('\n')
    for (const entry of ['**/node_modules', '**/.kaixu', '.git', '.env', '.env.*']) {
      expect(ignore).toContain(entry)
    }
  })
})

describe('compose.yaml', () => {
  type Service = {
    build?: string
    image?: string
    environment: Record<string, string>
    depends_on?: Record<string, { condition: string }>
    healthcheck?: { test: string[] }
    stop_grace_period?: string
    ports?: string[]
  }

  test('runs Postgres and the gateway built from this Dockerfile, with an optional sandbox', async () => {
    const compose = parseYaml(await readFile(join(root, 'compose.yaml'), 'utf8')) as {
      services: Record<string, Service>
    }
    const { postgres, gateway } = compose.services
    expect(postgres?.image).toMatch(/^postgres:\d+/)
    expect(postgres?.healthcheck?.test.join(' ')).toContain('pg_isready')
    expect(gateway?.build).toBe('.')
    expect(gateway?.depends_on).toEqual({ postgres: { condition: 'service_healthy' } })
    const env = gateway!.environment
    expect(env['DATABASE_URL']).toMatch(/^postgres:\/\/kaixu:.*@postgres:5432\/kaixu$/)
    // Secrets are never defaulted in the file: compose refuses to start without them.
    expect(env['KAIXU_VAULT_KEYS']).toMatch(/^\$\{KAIXU_VAULT_KEYS:\?/)
    expect(env['KAIXU_ADMIN_TOKEN']).toMatch(/^\$\{KAIXU_ADMIN_TOKEN:\?/)
    // Real Netlify by default; NETLIFY_API_URL=sandbox for a local trial.
    expect(env['NETLIFY_API_URL']).toBe('${NETLIFY_API_URL:-https://api.netlify.com/api/v1}')
    // Longer than the gateway's own drain (KAIXU_SHUTDOWN_GRACE_MS, 20 s by default).
    expect(Number(/^(\d+)s$/.exec(gateway!.stop_grace_period ?? '')?.[1])).toBeGreaterThan(20)
    expect(gateway!.ports?.every((p) => p.startsWith('127.0.0.1:'))).toBe(true)
  })
})

const problem = registryProblem()
const suite = problem ? describe.skip : describe

suite(
  problem
    ? `the image's install and start steps (skipped: the npm registry is unreachable: ${problem})`
    : `the image's install and start steps, run in a scratch folder on ${process.env['TEST_DATABASE_URL'] ? 'Postgres' : 'PGlite'}`,
  () => {
    let scratch: string
    let drop: (() => Promise<void>) | undefined
    let gateway: { url: string; port: number; stop(): Promise<number | null>; output: () => string }
    const adminToken = randomBytes(24).toString('hex')
    /** Where a path of a stage's filesystem lives in the scratch folder. */
    const inStage = (stage: Stage, path: string) => join(scratch, stage.name ?? 'final', path)

    /** Carries out a stage's WORKDIR, COPY and RUN steps; answers its working directory. */
    async function build(stage: Stage): Promise<string> {
      let workdir = '/'
      const env: Record<string, string> = {}
      for (const step of stage.instructions) {
        const at = (p: string) => inStage(stage, isAbsolute(p) ? p : join(workdir, p))
        if (step.op === 'WORKDIR') {
          workdir = step.args[0]!
          await mkdir(at('.'), { recursive: true })
        } else if (step.op === 'ENV') {
          Object.assign(env, envPairs(step))
        } else if (step.op === 'COPY') {
          const sources = step.args.slice(0, -1)
          const dest = step.args.at(-1)!
          const from = step.flags['from']
          const origin = from ? stages.find((s) => s.name === from) : undefined
          if (from && !origin) throw new Error(`COPY --from=${from}: no such stage`)
          for (const source of sources) {
            const src = origin ? inStage(origin, source) : join(root, source)
            const isDir = (await stat(src)).isDirectory()
            const target = isDir || !dest.endsWith('/') ? at(dest) : join(at(dest), basename(src))
            await cp(src, target, { recursive: true, verbatimSymlinks: true })
          }
        } else if (step.op === 'RUN') {
          if (stage === final) {
            // The final stage only prepares the data directory (system paths, as root).
            expect(step.rest).toBe(
              `mkdir -p ${imageEnv['KAIXU_DATA_DIR']} && chown node:node ${imageEnv['KAIXU_DATA_DIR']}`,
            )
            await mkdir(at(imageEnv['KAIXU_DATA_DIR']!), { recursive: true })
            continue
          }
          const run = spawnSync('sh', ['-c', step.rest], {
            cwd: at('.'),
            env: npmEnv(env),
            encoding: 'utf8',
            timeout: 300_000,
          })
          if (run.status !== 0) throw new Error(`RUN ${step.rest} failed:\n${run.stderr}`)
        }
      }
      return inStage(stage, workdir)
    }

    beforeAll(async () => {
      scratch = await mkdtemp(join(tmpdir(), 'kaixu-image-'))
      for (const stage of stages.slice(0, -1)) await build(stage)
      const appDir = await build(final)
      const pg = process.env['TEST_DATABASE_URL'] ? await scratchPostgres() : undefined
      drop = pg?.drop
      const [command, ...args] = only(final, 'CMD').args
      expect(command).toBe('node')
      const child = spawn(process.execPath, args, {
        cwd: appDir,
        // Nothing of this repository's environment but PATH: the image's ENV, then what an
        // operator sets (PORT 0 so parallel test runs never collide).
        env: {
          PATH: npmEnv()['PATH'],
          ...imageEnv,
          KAIXU_DATA_DIR: inStage(final, imageEnv['KAIXU_DATA_DIR']!),
          PORT: '0',
          NETLIFY_API_URL: 'sandbox',
          KAIXU_VAULT_KEYS: testVaultKeys(),
          KAIXU_ADMIN_TOKEN: adminToken,
          ...(pg ? { DATABASE_URL: pg.url } : {}),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let output = ''
      child.stderr.on('data', (d: Buffer) => (output += d))
      const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)))
      const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
        void exited.then((code) => reject(new Error(`serve exited with ${code}\n${output}`)))
        createInterface({ input: child.stdout }).on('line', (line) => {
          output += `${line}\n`
          try {
            const json = JSON.parse(line) as Record<string, unknown>
            if (json['msg'] === 'gateway listening') resolve(json)
          } catch {
            // not a log line
          }
        })
      })
      const url = String(listening['url'])
      gateway = {
        url,
        port: Number(new URL(url).port),
        output: () => output,
        stop: async () => {
          if (child.exitCode === null) child.kill('SIGTERM')
          return exited
        },
      }
    }, 600_000)

    afterAll(async () => {
      await gateway?.stop()
      await drop?.()
      if (scratch) await rm(scratch, { recursive: true, force: true })
    })

    /**
     * The installed CLI, sent through the running gateway's admin API. Asynchronous on purpose: a
     * blocked event loop would miss the server closing an idle keep-alive connection.
     */
    async function cli(...args: string[]): Promise<Record<string, string>> {
      const child = spawn(process.execPath, ['gateway/bin/kaixu-gateway.js', ...args, '--json'], {
        cwd: inStage(final, '/app'),
        env: {
          PATH: npmEnv()['PATH'],
          ...imageEnv,
          KAIXU_GATEWAY_URL: gateway.url,
          KAIXU_ADMIN_TOKEN: adminToken,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (d: Buffer) => (stdout += d))
      child.stderr.on('data', (d: Buffer) => (stderr += d))
      const code = await new Promise<number | null>((done) => child.once('close', done))
      if (code !== 0) throw new Error(`kaixu-gateway ${args.join(' ')}: ${stderr}`)
      return JSON.parse(stdout) as Record<string, string>
    }

    test('the install holds the gateway runtime and none of the dev tools', async () => {
      const modules = inStage(stages[0]!, '/app/node_modules')
      for (const runtime of ['express', 'pg', 'pg-boss', '@electric-sql/pglite', 'zod']) {
        await expect(stat(join(modules, runtime))).resolves.toBeDefined()
      }
      for (const dev of [
        'typescript',
        'jest',
        'node',
        '@vercel/ncc',
        'playwright-core',
        '@actions/core',
      ]) {
        await expect(stat(join(modules, dev))).rejects.toThrow(/ENOENT/)
      }
    })

    test("/readyz answers 200 and the image's HEALTHCHECK command passes", async () => {
      expect((await fetch(`${gateway.url}/readyz`)).status).toBe(200)
      const [command, ...args] = healthcheckCommand(only(final, 'HEALTHCHECK'))
      expect(command).toBe('node')
      const check = spawnSync(process.execPath, args, {
        env: { PATH: npmEnv()['PATH'], ...imageEnv, PORT: String(gateway.port) },
        encoding: 'utf8',
      })
      expect(check.status).toBe(0)
    })

    test('one push goes through: customer, key, token and project by the CLI, deploy ready', async () => {
      const token = `nf_${randomBytes(8).toString('hex')}`
      const site = (await (
        await fetch(`${gateway.url}/api/v1/sites`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'shipped' }),
        })
      ).json()) as { id: string }
      const customer = (await cli('customers', 'create', '--name', 'Shipped Co'))['id']!
      const key = (await cli('keys', 'create', '--customer', customer))['key']!
      await cli('tokens', 'set', '--customer', customer, '--token', token)
      await cli(
        'projects',
        'add',
        '--customer',
        customer,
        '--site-id',
        site.id,
        '--name',
        'shipped',
      )

      const page = '<h1>shipped from the image</h1>'
      const init = await api(gateway, key, 'POST', '/v1/push-init', {
        project: 'shipped',
        files: { 'index.html': sha1(page) },
      })
      expect(init.status).toBe(201)
      expect(init.body['required']).toEqual([sha1(page)])
      const upload = await api(
        gateway,
        key,
        'PUT',
        `/v1/push-upload?pushId=${init.body['pushId']}`,
        Buffer.from(page),
        { 'x-content-sha1': sha1(page), 'content-type': 'application/octet-stream' },
      )
      expect(upload.status).toBe(200)
      const done = await api(gateway, key, 'POST', '/v1/push-complete', {
        pushId: init.body['pushId'],
        wait: true,
      })
      expect(done.body['state']).toBe('ready')
      const served = await fetchSite(`${done.body['deploy_ssl_url']}/`)
      expect(served.body.toString()).toBe(page)
    })

    test('SIGTERM drains and exits 0', async () => {
      expect(await gateway.stop()).toBe(0)
      expect(gateway.output()).toContain('shutting down')
    })
  },
)
