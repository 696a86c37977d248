// Issue 17, end to end: the bundled Action (`node dist/index.js`, as a runner starts it) against
// a gateway that answers what the test scripts (a hostile or compromised one), a fake GitHub, and
// build folders a fork could have made. Unit-level findings are in trust.test.ts.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals'
import { runAction } from '../scripts/lib/run-action.ts'
import { FakeGateway } from './fakes/gateway.ts'
import { FakeGitHub } from './fakes/github-api.ts'
import type { ActionRun } from '../scripts/lib/run-action.ts'

const REPO = 'acme/site'
const TOKEN = 'ghs_actions_token_0123456789'
const KEY = 'kx_live_trustboundarytestkey0123'
const PROJECT = 'client-site'
const BOT = 'github-actions[bot]'

let gateway: FakeGateway
let github: FakeGitHub
let work: string
let site: string
let commits = 0

const sha = () => createHash('sha1').update(`trust ${++commits}`).digest('hex')
const marker = (project: string) =>
  `<!-- kaixu-push:project=${createHash('sha256').update(project).digest('hex').slice(0, 16)} -->`
const repository = { full_name: REPO, default_branch: 'main' }

beforeAll(async () => {
  gateway = await new FakeGateway().start()
  github = await new FakeGitHub({
    repository: REPO,
    tokens: { [TOKEN]: { login: BOT, kind: 'installation' } },
  }).start()
  work = await mkdtemp(join(tmpdir(), 'kaixu-trust-e2e-'))
  site = join(work, 'site')
  await mkdir(site)
  await writeFile(join(site, 'index.html'), '<h1>hi</h1>')
})

afterAll(async () => {
  await gateway?.stop()
  await github?.stop()
  await rm(work, { recursive: true, force: true })
})

beforeEach(() => {
  gateway.reset()
  github.clearCalls()
})

function runnerEnv(event: string, extra: Record<string, string> = {}) {
  return {
    GITHUB_ACTIONS: 'true',
    GITHUB_REPOSITORY: REPO,
    GITHUB_API_URL: github.url,
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_RUN_ID: '77',
    GITHUB_ACTOR: 'octocat',
    GITHUB_EVENT_NAME: event,
    ...extra,
  }
}

/** The Action on a same-repository pull request, with a comment and a deployment. */
function onPullRequest(
  number: number,
  inputs: Record<string, string> = {},
  dir = site,
): Promise<ActionRun> {
  const head = sha()
  return runAction(
    {
      'gateway-url': gateway.url,
      'kaixu-key': KEY,
      project: PROJECT,
      dir,
      'github-token': TOKEN,
      ...inputs,
    },
    {
      event: {
        number,
        pull_request: {
          number,
          head: { sha: head, ref: 'feature', repo: { full_name: REPO, fork: false } },
        },
        repository,
      },
      env: runnerEnv('pull_request', {
        GITHUB_REF: `refs/pull/${number}/merge`,
        GITHUB_SHA: sha(),
      }),
    },
  )
}

/** The stdout lines the runner reads as workflow commands. */
const commands = (run: ActionRun) => run.stdout.split('\n').filter((l) => l.startsWith('::'))

const commentOn = (issue: number) =>
  (github.comments.get(issue) ?? []).find(
    (c) => c.user.login === BOT && c.body.includes(marker(PROJECT)),
  )

describe('what the gateway answers is data, never code', () => {
  test.each([
    ['a quoted shell payload', 'https://x"; echo PWNED-$GITHUB_TOKEN; echo "'],
    ['a javascript: URL', 'javascript:alert(document.cookie)'],
    ['plain http to another host', 'http://attacker.example.com/'],
    ['a URL with a line break', 'https://x.example.com/\n::set-output name=site-url::evil'],
  ])('a site_url that is %s refuses the push and is published nowhere', async (_name, bad) => {
    gateway.reset({ record: { site_url: bad } })

    const run = await onPullRequest(31)

    expect(run.code).toBe(1)
    expect(run.stdout).toMatch(/::error::.*site_url.*is not a URL to publish/)
    // Neither the outputs, the deployment nor the comment nor the summary carries it.
    expect(run.outputs['site-url']).toBeUndefined()
    expect(JSON.stringify(run.outputs)).not.toContain('PWNED')
    const statuses = github.deployments.at(-1)!.statuses
    expect(statuses.at(-1)).toMatchObject({ state: 'failure' })
    expect(statuses.every((s) => s.environment_url === undefined)).toBe(true)
    const body = commentOn(31)!.body
    expect(body).not.toContain('](javascript:')
    expect(body).not.toMatch(/<javascript:|<http:\/\/attacker/)
    expect(run.summary).not.toMatch(/href="(javascript|http:\/\/attacker)/)
    expect(run.summary).not.toContain('PWNED-$GITHUB_TOKEN; echo "')
  })

  test.each([0, 1, -5, 1.5, '65536'])(
    'upload.chunkBytes = %j stops the push with a clear message before any upload',
    async (chunkBytes) => {
      gateway.reset({ upload: { inlineMaxBytes: 4, chunkBytes } })

      const run = await onPullRequest(32)

      expect(run.code).toBe(1)
      expect(run.stdout).toMatch(
        /::error::The gateway's answer to POST \/v1\/push-init is not valid, so the push stops: upload\.chunkBytes/,
      )
      expect(gateway.requests.map((r) => r.path)).toEqual(['/v1/push-init'])
    },
  )

  test('a state or count of the wrong shape stops the push instead of being trusted', async () => {
    gateway.reset({ record: { state: 'ready\n::stop-commands::x', costCents: -3 } })

    const run = await onPullRequest(33)

    expect(run.code).toBe(1)
    expect(run.stdout).toMatch(/push-complete is not valid, so the push stops: state/)
    expect(commands(run).filter((l) => l.startsWith('::stop-commands::'))).toEqual([])
  })
})

describe('nothing untrusted becomes a workflow command or markup', () => {
  test('file names, gateway states and retry messages are logged on one line each', async () => {
    const dir = join(work, 'commands')
    await mkdir(dir)
    // A file name a fork's build can create; the gateway takes it and chunks it.
    await writeFile(
      join(dir, 'a\n::set-output name=pwned::1\n::add-mask::Deploy.bin'),
      'x'.repeat(10),
    )
    gateway.reset({
      upload: { inlineMaxBytes: 4, chunkBytes: 65_536 },
      record: { netlifyState: 'ready\n::stop-commands::tok\n::add-mask::ready' },
      initReplies: [
        {
          status: 503,
          body: { error: { code: 'unavailable', message: 'busy\n::add-mask::Push' } },
        },
      ],
    })

    const run = await onPullRequest(34, { comment: 'false', 'github-deployment': 'false' }, dir)

    expect(run.code).toBe(0)
    // The lines are there, escaped: the runner reads none of them as a command.
    expect(run.stdout).toContain('Uploaded a%0A::set-output name=pwned::1%0A::add-mask::Deploy.bin')
    expect(run.stdout).toContain('Deploy state: ready (Netlify: ready%0A::stop-commands::tok')
    expect(run.stdout).toContain('failed: busy%0A::add-mask::Push')
    expect(
      commands(run).filter((l) =>
        /^::(set-output|stop-commands|add-mask::(Push|Deploy|ready))/.test(l),
      ),
    ).toEqual([])
  })

  test('the comment carries no mention, link, image, heading or marker from a file name or the gateway', async () => {
    const hostile =
      '### Owned\n\n@octocat see [docs](https://evil.example/x) ![i](https://evil.example/i.png) ' +
      `https://evil.example/auto ${marker('another-project')} <img src=x onerror=alert(1)>\n\nend`
    gateway.reset({ record: { state: 'error', error_message: hostile } })

    const run = await onPullRequest(35)

    expect(run.code).toBe(1)
    const body = commentOn(35)!.body
    const lines = body.split('\n')
    expect(lines.filter((l) => l.startsWith('<!--'))).toEqual([marker(PROJECT)])
    expect(body).not.toContain(marker('another-project').slice(0, -4) + ' -->\n')
    expect(lines.filter((l) => l.startsWith('#'))).toHaveLength(1)
    // The error is one code span: GitHub renders nothing inside it as a mention, link or image.
    const errorRow = lines.find((l) => l.startsWith('| **Error** |'))!
    expect(errorRow).toMatch(/^\| \*\*Error\*\* \| `[^`]*@octocat[^`]*` \|$/)
    for (const row of lines.filter((l) => l.startsWith('| **'))) {
      const outside = row.replace(/`[^`]*`/g, '')
      expect(outside).not.toMatch(/@octocat|!\[|\]\(|evil\.example|<img/)
    }
    // The summary keeps the message on one line, so no blank line ends its HTML.
    expect(run.summary).toContain('<th>Netlify error</th><td>### Owned @octocat')
    expect(run.summary).toContain('&lt;img src=x onerror=alert(1)&gt; end</td>')
  })

  test('a file name in an error reaches the comment as text, not as Markdown', async () => {
    const dir = join(work, 'markdown-name')
    await mkdir(dir)
    await writeFile(join(dir, '@octocat ![i](data:x) [a](b) #1 ?.html'), 'x')

    const run = await onPullRequest(36, {}, dir)

    expect(run.code).toBe(1)
    const errorRow = commentOn(36)!
      .body.split('\n')
      .find((l) => l.startsWith('| **Error** |'))!
    expect(errorRow).toBe(
      "| **Error** | `'@octocat ![i](data:x) [a](b) #1 ?.html': deployed file names cannot contain # or ? characters` |",
    )
  })

  test('a key that breaks the request header never reaches the comment, deployment or summary', async () => {
    const key = 'kx_live_firsthalfofthekey\nsecondhalfofthekey'
    gateway.reset()

    const run = await onPullRequest(37, { 'kaixu-key': key })

    expect(run.code).toBe(1)
    const published = [
      commentOn(37)!.body,
      JSON.stringify(github.deployments.at(-1)),
      run.summary,
      JSON.stringify(run.outputs),
      // The log too, but for the runner's own mask commands.
      run.stdout
        .split('\n')
        .filter((l) => !l.startsWith('::add-mask::'))
        .join('\n'),
    ]
    for (const text of published) {
      expect(text).not.toContain('firsthalfofthekey')
      expect(text).not.toContain('secondhalfofthekey')
    }
    // The failure is still explained.
    expect(commentOn(37)!.body).toMatch(/\*\*Error\*\* \| `.*\*\*\*/)
  })

  test('a gateway message quoting the GitHub token is published without it', async () => {
    gateway.reset({ record: { state: 'error', error_message: `leaked ${TOKEN} here` } })

    const run = await onPullRequest(38)

    expect(run.code).toBe(1)
    expect(commentOn(38)!.body).toContain('leaked *** here')
    expect(run.summary).toContain('leaked *** here')
    expect(JSON.stringify(github.deployments.at(-1))).not.toContain(TOKEN)
  })
})

describe('the CLI writes one line per message too', () => {
  function cli(args: string[], env: Record<string, string>) {
    const bin = resolve(import.meta.dirname, '..', 'dist', 'cli', 'index.js')
    const child = spawn(process.execPath, [bin, ...args], {
      env: { PATH: process.env['PATH'] ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    return new Promise<{ code: number; stderr: string }>((done) =>
      child.on('close', (code) => done({ code: code ?? 1, stderr })),
    )
  }

  test('file names and gateway text cannot forge a line on stderr, nor show the key', async () => {
    const dir = join(work, 'cli-commands')
    await mkdir(dir)
    await writeFile(join(dir, 'a\n::add-mask::Cli.bin'), 'x'.repeat(10))
    gateway.reset({
      upload: { inlineMaxBytes: 4, chunkBytes: 65_536 },
      record: { state: 'error', error_message: `boom ${KEY}\n::stop-commands::t` },
    })

    const run = await cli(['--dir', dir, '--project', PROJECT, '--gateway-url', gateway.url], {
      KAIXU_KEY: KEY,
    })

    expect(run.code).toBe(1)
    expect(run.stderr).toContain('Uploaded a%0A::add-mask::Cli.bin in 1 chunks')
    expect(run.stderr).toContain('boom ***%0A::stop-commands::t')
    expect(run.stderr.split('\n').filter((line) => line.startsWith('::'))).toEqual([])
    expect(run.stderr).not.toContain(KEY)
  })
})

describe('what is deployed is what the folder holds', () => {
  test('dir: . after checkout: links to .git/config and .env are not pushed', async () => {
    const dir = join(work, 'checkout')
    await mkdir(join(dir, '.git'), { recursive: true })
    await writeFile(join(dir, '.git', 'config'), 'extraheader = AUTHORIZATION: basic c2VjcmV0')
    await writeFile(join(dir, '.env'), 'SECRET=1')
    await writeFile(join(dir, 'index.html'), 'hi')
    const { symlink } = await import('node:fs/promises')
    await symlink('.env', join(dir, 'env.txt'))
    await symlink('.git/config', join(dir, 'gitconfig.txt'))
    await symlink('.git', join(dir, 'gitdir'))

    const run = await onPullRequest(39, { comment: 'false', 'github-deployment': 'false' }, dir)

    expect(run.code).toBe(0)
    expect(Object.keys(gateway.lastInit()!['files'] as object)).toEqual(['index.html'])
    const uploaded = gateway.requests.filter((r) => r.path === '/v1/push-upload')
    expect(uploaded.map((r) => r.body.toString())).toEqual(['hi'])
    expect(run.stdout).toMatch(/::warning::Skipping 'gitconfig\.txt': a symlink to '\.git\/config'/)
  })
})

describe('the sticky comment is ours, and the workflow_run path is strict', () => {
  test('another bot quoting our marker keeps its comment; ours is created beside it', async () => {
    github.seedComments(40, 1, 'renovate[bot]', `> ${marker(PROJECT)}\n> quoted`)

    const run = await onPullRequest(40, { 'github-deployment': 'false' })

    expect(run.code).toBe(0)
    const comments = github.comments.get(40)!
    expect(comments[0]!.body).toContain('> quoted')
    expect(comments.filter((c) => c.user.login === BOT)).toHaveLength(1)
    expect(github.calls.filter((c) => c.method === 'PATCH')).toEqual([])
  })

  function onWorkflowRun(upstreamEvent: string, headRepository: unknown, inputs = {}) {
    const head = sha()
    github.pulls.set(41, { headSha: sha() })
    return runAction(
      {
        'gateway-url': gateway.url,
        'kaixu-key': KEY,
        project: PROJECT,
        dir: site,
        'github-token': TOKEN,
        'github-deployment': 'false',
        ...inputs,
      },
      {
        event: {
          workflow_run: {
            event: upstreamEvent,
            head_sha: head,
            head_branch: 'main',
            head_repository: headRepository,
            pull_requests: [],
          },
          repository,
        },
        env: runnerEnv('workflow_run', { GITHUB_REF: 'refs/heads/main', GITHUB_SHA: sha() }),
      },
    )
  }

  test.each([
    ['an issue_comment run on main', 'issue_comment', { full_name: REPO }],
    ['a run from a deleted fork', 'push', null],
  ])('%s deploys a draft preview, not production', async (_name, event, headRepository) => {
    const run = await onWorkflowRun(event, headRepository)

    expect(run.code).toBe(0)
    expect(run.outputs['production']).toBe('false')
    expect(gateway.lastInit()).toMatchObject({ draft: true })
  })

  test('a push run on main in this repository still goes to production', async () => {
    const run = await onWorkflowRun('push', { full_name: REPO })

    expect(run.code).toBe(0)
    expect(run.outputs['production']).toBe('true')
    expect(gateway.lastInit()).toMatchObject({ draft: false })
  })

  test('a PR number that fails the check sets no alias or environment output', async () => {
    const run = await onWorkflowRun(
      'pull_request',
      { full_name: 'mallory/site' },
      {
        'pr-number': '41',
      },
    )

    expect(run.code).toBe(0)
    expect(run.outputs).toEqual({ state: 'skipped' })
    expect(gateway.requests).toEqual([])
  })
})
