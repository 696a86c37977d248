// Each example pipeline in examples/ci/ run as its CI would run it: the jobs its rules or filters
// pick for a merge request and for the default branch, each deploy line run by a shell with that
// CI's variables, the package's CLI (dist/cli/index.js, what `npx github:kaixu/push#v1` runs)
// against a real gateway on loopback and the built-in Netlify sandbox.
import { spawn } from 'node:child_process'
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { parse } from 'yaml'
import { createSite } from '../gateway/test/helpers/accounts.ts'
import { finished } from '../gateway/test/helpers/processes.ts'
import {
  createTenant,
  databases,
  fetchSite,
  startTestGateway,
} from '../gateway/test/helpers/gateway.ts'
import type { TestGateway } from '../gateway/test/helpers/gateway.ts'

const root = resolve(import.meta.dirname, '..')
const cliPath = join(root, 'dist', 'cli', 'index.js')
/** How every example (and the README) runs the CLI. */
const COMMAND = 'npx --yes github:kaixu/push#v1 '
const PROJECT = 'client-site'

const headSha = '3f2a1c7d9e8b6a5f4e3d2c1b0a9f8e7d6c5b4a39'
const mainSha = '0123456789abcdef0123456789abcdef01234567'

type Env = Record<string, string>
type Yaml = Record<string, any>

/** A deploy step of an example: the shell line, and the GitLab job around it. */
interface Step {
  job: string
  line: string
  gitlab?: Yaml
}

/** What each example is, how its CI picks jobs, and the variables that CI sets. */
interface Example {
  name: string
  file: string
  /** The deploy lines of the jobs the pipeline runs for these variables. */
  steps: (config: Yaml, env: Env) => Step[]
  production: Env
  change: Env
  alias: string
  changeTitle: string
  productionTitle: string
}

const deployLines = (lines: unknown): string[] =>
  (Array.isArray(lines) ? lines : [lines]).filter(
    (line): line is string => typeof line === 'string' && line.includes('kaixu/push'),
  )

// GitLab `rules: - if:` for the forms the example uses: `$A == "x"`, `$A == $B`, joined by &&.
function gitlabIf(expression: string, env: Env): boolean {
  return expression.split('&&').every((part) => {
    const match = /^\s*(\$\w+|"[^"]*")\s*==\s*(\$\w+|"[^"]*")\s*$/.exec(part)
    if (!match) throw new Error(`the test cannot evaluate the rule ${JSON.stringify(part)}`)
    const value = (term: string) => (term.startsWith('$') ? env[term.slice(1)] : term.slice(1, -1))
    return value(match[1]!) === value(match[2]!)
  })
}

const listOf = (value: unknown): string[] =>
  value === undefined ? [] : Array.isArray(value) ? value.map(String) : [String(value)]

const examples: Example[] = [
  {
    name: 'GitLab CI',
    file: 'examples/ci/gitlab/.gitlab-ci.yml',
    steps: (config, env) =>
      Object.entries(config)
        .filter(([, job]) => typeof job === 'object' && job !== null && 'script' in job)
        .filter(([, job]) => {
          const rules = job.rules as { if: string }[] | undefined
          return rules === undefined || rules.some((rule) => gitlabIf(rule.if, env))
        })
        .flatMap(([name, job]) =>
          deployLines(job.script).map((line) => ({ job: name, line, gitlab: job as Yaml })),
        ),
    production: {
      GITLAB_CI: 'true',
      CI: 'true',
      CI_PIPELINE_SOURCE: 'push',
      CI_DEFAULT_BRANCH: 'main',
      CI_COMMIT_BRANCH: 'main',
      CI_COMMIT_REF_NAME: 'main',
      CI_COMMIT_SHA: mainSha,
      CI_COMMIT_TITLE: 'Release the pricing page',
    },
    change: {
      GITLAB_CI: 'true',
      CI: 'true',
      CI_PIPELINE_SOURCE: 'merge_request_event',
      CI_DEFAULT_BRANCH: 'main',
      CI_COMMIT_REF_NAME: 'feature/pricing',
      CI_COMMIT_SHA: headSha,
      CI_COMMIT_TITLE: 'WIP pricing',
      CI_MERGE_REQUEST_IID: '42',
      CI_MERGE_REQUEST_TITLE: 'Add the pricing page',
      CI_MERGE_REQUEST_SOURCE_BRANCH_NAME: 'feature/pricing',
      CI_MERGE_REQUEST_TARGET_BRANCH_NAME: 'main',
    },
    alias: 'mr-42',
    changeTitle: 'Add the pricing page',
    productionTitle: 'Release the pricing page',
  },
  {
    name: 'CircleCI',
    file: 'examples/ci/circleci/config.yml',
    steps: (config, env) => {
      const branch = env['CIRCLE_BRANCH']!
      return Object.values(config['workflows'] as Yaml)
        .flatMap((workflow: Yaml) => workflow['jobs'] as (string | Yaml)[])
        .map((entry) => (typeof entry === 'string' ? [entry, {}] : Object.entries(entry)[0]!))
        .filter(([, options]) => {
          const branches = (options as Yaml)['filters']?.['branches'] ?? {}
          const only = listOf(branches['only'])
          return (
            (only.length === 0 || only.includes(branch)) &&
            !listOf(branches['ignore']).includes(branch)
          )
        })
        .flatMap(([name]) =>
          (config['jobs'][name as string]['steps'] as unknown[])
            .flatMap((step) => {
              if (typeof step !== 'object' || step === null || !('run' in step)) return []
              const run = (step as Yaml)['run']
              return deployLines(typeof run === 'string' ? run : run['command'])
            })
            .map((line) => ({ job: name as string, line })),
        )
    },
    production: {
      CIRCLECI: 'true',
      CI: 'true',
      CIRCLE_BRANCH: 'main',
      CIRCLE_SHA1: mainSha,
      CIRCLE_BUILD_NUM: '101',
    },
    change: {
      CIRCLECI: 'true',
      CI: 'true',
      CIRCLE_BRANCH: 'feature/pricing',
      CIRCLE_SHA1: headSha,
      CIRCLE_BUILD_NUM: '102',
      CIRCLE_PULL_REQUEST: 'https://github.com/acme/site/pull/7',
    },
    alias: 'pr-7',
    changeTitle: 'pull request #7: Deploy of 3f2a1c7 (feature/pricing) by kaixu-push',
    productionTitle: 'Deploy of 0123456 (main) by kaixu-push',
  },
  {
    name: 'Bitbucket Pipelines',
    file: 'examples/ci/bitbucket/bitbucket-pipelines.yml',
    steps: (config, env) => {
      const pipelines = config['pipelines'] as Yaml
      const steps = env['BITBUCKET_PR_ID']
        ? (pipelines['pull-requests']['**'] as Yaml[])
        : ((pipelines['branches'][env['BITBUCKET_BRANCH']!] ?? []) as Yaml[])
      return steps.flatMap(({ step }) =>
        deployLines(step['script']).map((line) => ({ job: step['name'] as string, line })),
      )
    },
    production: {
      CI: 'true',
      BITBUCKET_BUILD_NUMBER: '201',
      BITBUCKET_BRANCH: 'main',
      BITBUCKET_COMMIT: mainSha,
    },
    change: {
      CI: 'true',
      BITBUCKET_BUILD_NUMBER: '202',
      BITBUCKET_BRANCH: 'feature/pricing',
      BITBUCKET_COMMIT: headSha,
      BITBUCKET_PR_ID: '5',
      BITBUCKET_PR_DESTINATION_BRANCH: 'main',
    },
    alias: 'pr-5',
    changeTitle: 'pull request #5: Deploy of 3f2a1c7 (feature/pricing) by kaixu-push',
    productionTitle: 'Deploy of 0123456 (main) by kaixu-push',
  },
]

/** Runs one deploy line as the CI's shell would, with the CLI the package installs. */
function runLine(line: string, env: Env, cwd: string) {
  if (!line.startsWith(COMMAND)) throw new Error(`not the documented command: ${line}`)
  const shellLine = `"${process.execPath}" "${cliPath}" ${line.slice(COMMAND.length)}`
  return finished(
    spawn('sh', ['-c', shellLine], {
      cwd,
      env: { PATH: process.env['PATH'] ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  )
}

/** `name=value` lines of a dotenv file, read as GitLab does (no quotes, no escapes). */
function readDotenv(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  )
}

const expand = (value: string, vars: Record<string, string>) =>
  value.replace(/\$\{?(\w+)\}?/g, (_, name: string) => vars[name] ?? '')

it('every example runs the command the README shows', async () => {
  const readme = await readFile(join(root, 'README.md'), 'utf8')
  expect(readme).toContain(COMMAND.trim())
})

describe.each(databases())('examples/ci on %s', (database) => {
  let gw: TestGateway

  beforeAll(async () => {
    gw = await startTestGateway(database)
  }, 60_000)

  afterAll(async () => {
    await gw?.stop()
  })

  describe.each(examples)('$name', (example) => {
    let key: string
    let customerId: string
    let work: string
    let config: Yaml
    let productionUrl: string

    beforeAll(async () => {
      // The example names its project `client-site`: each CI gets a client with one of that name.
      const tenant = await createTenant(gw, example.name)
      const site = await createSite(gw, tenant.netlifyToken)
      await gw.accounts.addProject(tenant.customerId, { siteId: site.id, name: PROJECT }, 'test')
      key = tenant.key
      customerId = tenant.customerId
      work = await mkdtemp(join(tmpdir(), 'kaixu-ci-example-'))
      await mkdir(join(work, 'dist'))
      config = parse(await readFile(join(root, example.file), 'utf8')) as Yaml
    }, 60_000)

    afterAll(async () => {
      await rm(work, { recursive: true, force: true })
    })

    const env = (ci: Env): Env => ({ ...ci, KAIXU_KEY: key, KAIXU_GATEWAY_URL: gw.url })
    const latestPush = async () =>
      (
        await gw.db.query<{ id: string; draft: boolean; alias: string | null; title: string }>(
          `SELECT id, draft, alias, title FROM pushes WHERE customer_id = $1
            ORDER BY created_at DESC LIMIT 1`,
          [customerId],
        )
      )[0]
    /** The GitLab job's environment URL, as GitLab expands it from the job's dotenv report. */
    async function environmentUrl(step: Step): Promise<string | undefined> {
      if (!step.gitlab) return undefined
      const report = step.gitlab['artifacts']['reports']['dotenv'] as string
      const vars = readDotenv(await readFile(join(work, report), 'utf8'))
      expect(Object.keys(vars).every((name) => name.startsWith('KAIXU_'))).toBe(true)
      return expand(step.gitlab['environment']['url'] as string, vars)
    }

    it('the default branch publishes to production', async () => {
      const steps = example.steps(config, example.production)
      expect(steps).toHaveLength(1)
      await writeFile(join(work, 'dist', 'index.html'), `<h1>${example.name} production</h1>`)

      const run = await runLine(steps[0]!.line, env(example.production), work)

      expect(run.stderr).toContain('deploying to production')
      expect(run.code).toBe(0)
      expect(await latestPush()).toMatchObject({
        draft: false,
        alias: null,
        title: example.productionTitle,
      })
      productionUrl = /^site-url: (.+)$/m.exec(run.stdout)![1]!
      const gitlabUrl = await environmentUrl(steps[0]!)
      if (steps[0]!.gitlab) expect(gitlabUrl).toBe(productionUrl)
      expect((await fetchSite(`${productionUrl}/`)).body.toString()).toContain('production')
    })

    it('a merge request deploys a draft under its alias; production is untouched', async () => {
      const steps = example.steps(config, example.change)
      expect(steps).toHaveLength(1)
      await writeFile(join(work, 'dist', 'index.html'), `<h1>${example.name} preview</h1>`)

      const run = await runLine(steps[0]!.line, env(example.change), work)

      expect(run.code).toBe(0)
      expect(run.stderr).toContain(`deploying a draft aliased ${example.alias}`)
      expect(await latestPush()).toMatchObject({
        draft: true,
        alias: example.alias,
        title: example.changeTitle,
      })
      const siteUrl = /^site-url: (.+)$/m.exec(run.stdout)![1]!
      expect(new URL(siteUrl).hostname.startsWith(`${example.alias}--`)).toBe(true)
      if (steps[0]!.gitlab) expect(await environmentUrl(steps[0]!)).toBe(siteUrl)
      expect((await fetchSite(`${siteUrl}/`)).body.toString()).toContain('preview')
      expect((await fetchSite(`${productionUrl}/`)).body.toString()).toContain('production')
    })

    it('the production job copied into a merge request pipeline is refused, exit 2', async () => {
      const [production] = example.steps(config, example.production)
      const before = await latestPush()

      const run = await runLine(production!.line, env(example.change), work)

      expect(run.code).toBe(2)
      expect(run.stderr).toContain(`--prod is refused in a ${example.name} pipeline`)
      expect((await latestPush())!.id).toBe(before!.id)
    })
  })
})
