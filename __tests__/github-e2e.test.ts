import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { api, createTenant, fetchSite, startTestGateway } from '../gateway/test/helpers/gateway.ts'
import { runAction } from '../scripts/lib/run-action.ts'
import { FakeGitHub } from './fakes/github-api.ts'
import type { TestGateway, Tenant } from '../gateway/test/helpers/gateway.ts'
import type { ActionRun } from '../scripts/lib/run-action.ts'

/**
 * The Action as GitHub runs it: `node dist/index.js` with INPUT_*, GITHUB_EVENT_PATH and
 * GITHUB_API_URL, against a real in-process gateway (PGlite + Netlify sandbox) and a local fake of
 * GitHub's REST API.
 */
const REPO = 'acme/site'
const ACTIONS_TOKEN = 'ghs_actions_token'
const READONLY_TOKEN = 'ghs_readonly_token'
const BOT = 'github-actions[bot]'

let gw: TestGateway
let tenant: Tenant
let second: { name: string }
let github: FakeGitHub
let work: string
let site: string
let shaCounter = 0

const sha = () => createHash('sha1').update(`commit ${++shaCounter}`).digest('hex')
const marker = (project: string) =>
  `<!-- kaixu-push:project=${createHash('sha256').update(project).digest('hex').slice(0, 16)} -->`

beforeAll(async () => {
  gw = await startTestGateway('pglite')
  tenant = await createTenant(gw, 'Monorepo Agency')
  // A second project of the same customer, for the monorepo case.
  const res = await fetch(`${gw.url}/api/v1/sites`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tenant.netlifyToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: `docs-${tenant.siteId.slice(0, 6)}` }),
  })
  const docsSite = (await res.json()) as { id: string; name: string }
  second = await gw.accounts.addProject(
    tenant.customerId,
    { siteId: docsSite.id, name: docsSite.name },
    'test',
  )
  github = await new FakeGitHub({
    repository: REPO,
    tokens: {
      [ACTIONS_TOKEN]: { login: BOT, kind: 'installation' },
      [READONLY_TOKEN]: { login: BOT, kind: 'installation', deny: ['comments', 'deployments'] },
    },
  }).start()
  work = await mkdtemp(join(tmpdir(), 'kaixu-gh-e2e-'))
  site = join(work, 'site')
  await writeSite(site, 'first')
}, 120_000)

afterAll(async () => {
  await github?.stop()
  await gw?.stop()
  await rm(work, { recursive: true, force: true })
})

async function writeSite(dir: string, version: string) {
  await mkdir(join(dir, 'assets'), { recursive: true })
  await writeFile(join(dir, 'index.html'), `<h1>Site, ${version} version</h1>`)
  await writeFile(join(dir, 'assets', 'app.css'), 'body { color: rebeccapurple }')
  await writeFile(join(dir, 'about.html'), '<p>About us</p>')
}

const repository = {
  full_name: REPO,
  name: 'site',
  owner: { login: 'acme' },
  default_branch: 'main',
}

function pullRequestEvent(number: number, headSha: string, options: { fork?: boolean } = {}) {
  const headRepo = options.fork ? 'mallory/site' : REPO
  return {
    action: 'synchronize',
    number,
    pull_request: {
      number,
      head: {
        sha: headSha,
        ref: 'feature/login',
        repo: { full_name: headRepo, fork: !!options.fork },
      },
      base: { ref: 'main', repo: { full_name: REPO } },
    },
    repository,
  }
}

function runnerEnv(extra: Record<string, string>) {
  return {
    GITHUB_ACTIONS: 'true',
    GITHUB_REPOSITORY: REPO,
    GITHUB_API_URL: github.url,
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_RUN_ID: '4242',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_ACTOR: 'octocat',
    ...extra,
  }
}

/** Runs the Action for a `pull_request` event: GITHUB_SHA is the merge commit, as on GitHub. */
function runOnPullRequest(
  number: number,
  headSha: string,
  inputs: Record<string, string> = {},
  options: { fork?: boolean } = {},
): Promise<ActionRun> {
  return runAction(
    {
      'gateway-url': gw.url,
      'kaixu-key': tenant.key,
      project: tenant.projectName,
      dir: site,
      'github-token': ACTIONS_TOKEN,
      ...inputs,
    },
    {
      event: pullRequestEvent(number, headSha, options),
      env: runnerEnv({
        GITHUB_EVENT_NAME: 'pull_request',
        GITHUB_REF: `refs/pull/${number}/merge`,
        GITHUB_SHA: sha(),
        GITHUB_HEAD_REF: 'feature/login',
      }),
    },
  )
}

function runOnPush(
  branch: string,
  commit: string,
  inputs: Record<string, string> = {},
  options: Pick<Parameters<typeof runAction>[1] & object, 'onSpawn' | 'state'> = {},
) {
  return runAction(
    {
      'gateway-url': gw.url,
      'kaixu-key': tenant.key,
      project: tenant.projectName,
      dir: site,
      'github-token': ACTIONS_TOKEN,
      ...inputs,
    },
    {
      event: { ref: `refs/heads/${branch}`, after: commit, repository },
      env: runnerEnv({
        GITHUB_EVENT_NAME: 'push',
        GITHUB_REF: `refs/heads/${branch}`,
        GITHUB_SHA: commit,
      }),
      ...options,
    },
  )
}

const markerComments = (issue: number, project = tenant.projectName) =>
  (github.comments.get(issue) ?? []).filter((c) => c.body.includes(marker(project)))

const deploymentsFor = (ref: string) => github.deployments.filter((d) => d.ref === ref)

async function countRows(table: string): Promise<number> {
  const rows = await gw.db.query(`SELECT count(*)::int AS n FROM ${table}`)
  return Number((rows[0] as { n: number }).n)
}

function expectOk(run: ActionRun) {
  if (run.code !== 0)
    throw new Error(`The Action failed (${run.code}):\n${run.stdout}\n${run.stderr}`)
}

describe('the Action on GitHub events, end to end', () => {
  test('a pull request deploys a draft preview at pr-<n>, comments, records the deployment and writes the summary', async () => {
    // A person pasting our marker must not make their comment ours.
    github.seedComments(7, 1, 'mallory', `${marker(tenant.projectName)} fake`)
    const head = sha()

    const run = await runOnPullRequest(7, head)

    expectOk(run)
    expect(run.outputs).toMatchObject({
      state: 'ready',
      production: 'false',
      environment: 'preview',
      alias: 'pr-7',
    })
    const siteUrl = run.outputs['site-url']!
    expect(siteUrl).toContain('pr-7--')
    expect(run.outputs['deploy-url']).toContain(run.outputs['deploy-id'])
    expect(run.outputs['deploy-url']).not.toBe(siteUrl)
    expect((await fetchSite(`${run.outputs['deploy-url']}/`)).body.toString()).toContain(
      'first version',
    )
    expect((await fetchSite(`${siteUrl}/`)).body.toString()).toContain('first version')

    // The gateway got a draft with the alias.
    const status = await api(
      gw,
      tenant.key,
      'GET',
      `/v1/push-status?pushId=${run.outputs['push-id']}`,
    )
    expect(status.body).toMatchObject({ draft: true, alias: 'pr-7', state: 'ready' })

    // One comment, ours, with the commit, the state and both URLs.
    const ours = markerComments(7).filter((c) => c.user.login === BOT)
    expect(ours).toHaveLength(1)
    expect(ours[0]!.body).toContain(head.slice(0, 7))
    expect(ours[0]!.body).toContain(siteUrl)
    expect(ours[0]!.body).toContain(run.outputs['deploy-url'])
    expect(ours[0]!.body).toContain('Preview ready')
    expect(run.outputs['comment-id']).toBe(String(ours[0]!.id))
    expect(markerComments(7).find((c) => c.user.login === 'mallory')!.body).toContain('fake')

    // A deployment for the head commit (not the merge commit), transient, statuses in order.
    const [deployment] = deploymentsFor(head)
    expect(deployment).toMatchObject({
      environment: 'preview',
      transient_environment: true,
      production_environment: false,
      creator: BOT,
    })
    expect(run.outputs['github-deployment-id']).toBe(String(deployment!.id))
    expect(deployment!.statuses.map((s) => s.state)).toEqual(['in_progress', 'success'])
    expect(deployment!.statuses[1]).toMatchObject({
      environment_url: siteUrl,
      log_url: 'https://github.com/acme/site/actions/runs/4242',
      auto_inactive: false,
    })

    // The summary: project, target, state, URLs, files, bytes, time per phase.
    expect(run.summary).toContain(`Kaixu Push · ${tenant.projectName} · ready`)
    expect(run.summary).toContain('Preview (draft, alias pr-7, environment preview)')
    expect(run.summary).toContain(siteUrl)
    expect(run.summary).toMatch(/<th>Files<\/th><td>3 total, 3 changed, 3 uploaded<\/td>/)
    expect(run.summary).toMatch(/<th>Time<\/th><td>digest .* · init .* · upload .* · finalize /)
    expect(run.summary).toContain('<th>PR comment</th>')
    // Every GitHub call carried the token; nothing unexpected was called.
    expect(github.calls.every((c) => c.token === ACTIONS_TOKEN)).toBe(true)
    expect(github.unexpected).toEqual([])
  })

  test('a second push updates the same comment, found beyond the first page, and never duplicates it', async () => {
    github.seedComments(8, 120, 'octocat')
    const first = await runOnPullRequest(8, sha())
    expectOk(first)
    const [comment] = markerComments(8)
    // The comment sits past the first page of 100.
    expect(github.comments.get(8)!.indexOf(comment!)).toBeGreaterThanOrEqual(100)

    github.seedComments(8, 5, 'octocat', 'One more thing')
    await writeSite(site, 'second')
    github.clearCalls()
    const head = sha()
    const second = await runOnPullRequest(8, head)

    expectOk(second)
    expect(markerComments(8)).toHaveLength(1)
    expect(markerComments(8)[0]!.id).toBe(comment!.id)
    expect(markerComments(8)[0]!.body).toContain(head.slice(0, 7))
    expect(second.outputs['files-uploaded']).toBe('1')
    const listed = github.calls.filter((c) => c.method === 'GET' && c.path.endsWith('/comments'))
    expect(listed.map((c) => c.query['page'] ?? '1')).toEqual(['1', '2'])
    expect(listed.every((c) => c.query['per_page'] === '100')).toBe(true)
    const commentWrites = github.writes().filter((c) => c.path.includes('/comments'))
    expect(commentWrites.map((c) => c.method)).toEqual(['PATCH'])
  })

  test('two projects in one PR keep two comments, each updated in place', async () => {
    const docs = { project: second.name }
    expectOk(await runOnPullRequest(9, sha()))
    expectOk(await runOnPullRequest(9, sha(), docs))
    const head = sha()
    expectOk(await runOnPullRequest(9, head))

    expect(markerComments(9, tenant.projectName)).toHaveLength(1)
    expect(markerComments(9, second.name)).toHaveLength(1)
    expect(github.comments.get(9)).toHaveLength(2)
    expect(markerComments(9, tenant.projectName)[0]!.body).toContain(head.slice(0, 7))
    expect(markerComments(9, second.name)[0]!.body).not.toContain(head.slice(0, 7))
  })

  test('a push to the production branch deploys to production, with no comment', async () => {
    await writeSite(site, 'production')
    github.clearCalls()
    const commit = sha()

    const run = await runOnPush('main', commit)

    expectOk(run)
    expect(run.outputs).toMatchObject({
      state: 'ready',
      production: 'true',
      environment: 'production',
    })
    expect(run.outputs['alias']).toBeUndefined()
    expect(run.outputs['site-url']).not.toContain('--')
    expect((await fetchSite(`${run.outputs['site-url']}/`)).body.toString()).toContain(
      'production version',
    )
    const status = await api(
      gw,
      tenant.key,
      'GET',
      `/v1/push-status?pushId=${run.outputs['push-id']}`,
    )
    expect(status.body).toMatchObject({ draft: false, alias: null })
    const [deployment] = deploymentsFor(commit)
    expect(deployment).toMatchObject({
      environment: 'production',
      transient_environment: false,
      production_environment: true,
    })
    expect(deployment!.statuses.map((s) => [s.state, s.auto_inactive])).toEqual([
      ['in_progress', false],
      ['success', true],
    ])
    expect(github.writes().some((c) => c.path.includes('/comments'))).toBe(false)
    expect(run.summary).toContain('Production (environment production)')
  })

  test('a push to another branch deploys a draft preview and leaves production alone', async () => {
    const run = await runOnPush('feature/login', sha(), { 'production-branch': 'main' })

    expectOk(run)
    expect(run.outputs).toMatchObject({ state: 'ready', production: 'false' })
    expect(run.outputs['site-url']).toBe(run.outputs['deploy-url'])
  })

  test('a fork PR without a key exits 0 with a notice and a summary; fail-without-credentials fails it', async () => {
    github.clearCalls()
    const pushes = await countRows('pushes')

    const run = await runOnPullRequest(12, sha(), { 'kaixu-key': '' }, { fork: true })

    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/::notice::Kaixu Push skipped: this pull request comes from a fork/)
    expect(run.outputs['state']).toBe('skipped')
    expect(run.summary).toContain('skipped')
    expect(run.summary).toContain('workflow_run recipe')
    expect(await countRows('pushes')).toBe(pushes)
    expect(github.calls).toEqual([])

    const strict = await runOnPullRequest(
      12,
      sha(),
      { 'kaixu-key': '', 'fail-without-credentials': 'true' },
      { fork: true },
    )
    expect(strict.code).not.toBe(0)
    expect(strict.stdout).toMatch(/::error::.*fail-without-credentials/)
  })

  test('dry-run plans the push and creates nothing: no deploy, no charge, nothing on GitHub', async () => {
    await writeSite(site, 'dry')
    github.clearCalls()
    const before = {
      pushes: await countRows('pushes'),
      usage: await countRows('push_usage_events'),
    }

    const run = await runOnPullRequest(13, sha(), { 'dry-run': 'true' })

    expectOk(run)
    expect(run.outputs).toMatchObject({
      state: 'planned',
      'files-total': '3',
      'files-changed': '1',
    })
    expect(run.outputs['deploy-url']).toBeUndefined()
    expect(run.stdout).toContain('Dry run: would upload 1 of 3 files')
    expect(run.summary).toContain('dry run')
    expect(run.summary).toContain('1 would be uploaded')
    expect(await countRows('pushes')).toBe(before.pushes)
    expect(await countRows('push_usage_events')).toBe(before.usage)
    expect(github.calls).toEqual([])

    // A dry run that fails stays off GitHub too.
    const failed = await runOnPullRequest(13, sha(), { 'dry-run': 'true', project: 'no-such-site' })
    expect(failed.code).not.toBe(0)
    expect(failed.summary).toContain("Check the 'project' input")
    expect(github.calls).toEqual([])
  })

  test('a failed deploy fails the step, the deployment and the comment, with Netlify’s error in the summary', async () => {
    await fetch(`${gw.url}/__sandbox/deploys/fail-next`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'Deploy rejected by the sandbox' }),
    })
    const head = sha()

    const run = await runOnPullRequest(14, head)

    expect(run.code).not.toBe(0)
    expect(run.outputs['state']).toBe('error')
    expect(run.summary).toContain('<th>Netlify error</th><td>Deploy rejected by the sandbox</td>')
    expect(run.summary).toContain('· failed')
    expect(deploymentsFor(head)[0]!.statuses.map((s) => s.state)).toEqual([
      'in_progress',
      'failure',
    ])
    const [comment] = markerComments(14)
    expect(comment!.body).toContain('deploy failed')
    expect(comment!.body).toContain('Deploy rejected by the sandbox')
  })

  test('a token without comment and deployment permissions only warns; the deploy succeeds', async () => {
    const run = await runOnPullRequest(15, sha(), { 'github-token': READONLY_TOKEN })

    expectOk(run)
    expect(run.outputs['state']).toBe('ready')
    expect(run.stdout).toMatch(
      /::warning::No GitHub deployment recorded: HTTP 403.*deployments: write/,
    )
    expect(run.stdout).toMatch(
      /::warning::Could not comment on PR #15: HTTP 403.*pull-requests: write/,
    )
    expect(markerComments(15)).toEqual([])
  })

  test('comment: false and github-deployment: false write nothing to GitHub', async () => {
    github.clearCalls()
    const run = await runOnPullRequest(16, sha(), {
      comment: 'false',
      'github-deployment': 'false',
    })

    expectOk(run)
    expect(github.calls).toEqual([])
  })

  test('a workflow_run deploys a fork’s preview for pr-number only when that PR’s head is the built commit', async () => {
    const built = sha()
    github.pulls.set(17, { headSha: built })
    const workflowRun = (headSha: string) =>
      runAction(
        {
          'gateway-url': gw.url,
          'kaixu-key': tenant.key,
          project: tenant.projectName,
          dir: site,
          'github-token': ACTIONS_TOKEN,
          'pr-number': '17',
        },
        {
          event: {
            action: 'completed',
            workflow_run: {
              event: 'pull_request',
              head_sha: headSha,
              // A fork's branch may be called main: it must not deploy to production.
              head_branch: 'main',
              head_repository: { full_name: 'mallory/site' },
              pull_requests: [],
            },
            repository,
          },
          env: runnerEnv({
            GITHUB_EVENT_NAME: 'workflow_run',
            GITHUB_REF: 'refs/heads/main',
            GITHUB_SHA: sha(),
          }),
        },
      )

    const run = await workflowRun(built)
    expectOk(run)
    expect(run.outputs).toMatchObject({ state: 'ready', production: 'false', alias: 'pr-17' })
    expect(markerComments(17)).toHaveLength(1)
    expect(deploymentsFor(built)).toHaveLength(1)

    // The artifact names PR 17, but PR 17 is at another commit: nothing is deployed.
    github.clearCalls()
    const stale = await workflowRun(sha())
    expect(stale.code).toBe(0)
    expect(stale.outputs['state']).toBe('skipped')
    expect(stale.stdout).toMatch(/::warning::Kaixu Push skipped: PR #17 is at/)
    expect(github.writes()).toEqual([])
  })

  test('a job cancelled mid-push: the post step cancels the push and marks the deployment inactive', async () => {
    const dir = join(work, 'cancelled-site')
    await writeSite(dir, `cancelled ${shaCounter}`)
    // Netlify takes the files slowly, so the job is cancelled while they are uploading.
    await fetch(`${gw.url}/__sandbox/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        match: { method: 'PUT', path: '/files/' },
        delayMs: 10_000,
        times: 3,
      }),
    })
    const commit = sha()
    // The runner cancels a job with SIGINT to the running step, then runs the post steps.
    const main = await runOnPush(
      'release',
      commit,
      { dir },
      {
        onSpawn: (child) =>
          child.stdout!.on('data', (d: Buffer) => {
            if (/Push push_\w+ \(deploy/.test(String(d))) child.kill('SIGINT')
          }),
      },
    )
    await fetch(`${gw.url}/__sandbox/faults`, { method: 'DELETE' })
    expect(main.code).not.toBe(0)
    const pushId = main.state['pushId']!
    expect(pushId).toMatch(/^push_/)
    expect(main.state['finished']).toBeUndefined()
    const [deployment] = deploymentsFor(commit)
    expect(deployment!.statuses.map((s) => s.state)).toEqual(['in_progress'])

    const postRun = await runOnPush('release', commit, { dir }, { state: main.state })
    expect(postRun.code).toBe(0)
    expect(postRun.stdout).toContain(`Push ${pushId} cancelled`)
    const status = await api(gw, tenant.key, 'GET', `/v1/push-status?pushId=${pushId}`)
    expect(status.body['state']).toBe('cancelled')
    expect(deployment!.statuses.map((s) => s.state)).toEqual(['in_progress', 'inactive'])
  })

  test('after a step that finished, the post step does nothing', async () => {
    const commit = sha()
    const main = await runOnPush('release', commit)
    expectOk(main)
    expect(main.state).toMatchObject({ isPost: 'true', finished: 'true' })
    github.clearCalls()
    const postRun = await runOnPush('release', commit, {}, { state: main.state })
    expect(postRun.code).toBe(0)
    expect(github.writes()).toEqual([])
    const status = await api(
      gw,
      tenant.key,
      'GET',
      `/v1/push-status?pushId=${main.outputs['push-id']}`,
    )
    expect(status.body['state']).toBe('ready')
  })
})
