import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from '@jest/globals'
import { readRunContext } from '../src/run-context.ts'
import { deployTitle, resolveTarget } from '../src/target.ts'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kaixu-context-'))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

let events = 0
/** The run context the runner would give for this event and these variables. */
function contextOf(event: unknown, env: Record<string, string> = {}) {
  const file = path.join(tmp, `event-${++events}.json`)
  fs.writeFileSync(file, JSON.stringify(event))
  return readRunContext({ GITHUB_REPOSITORY: 'acme/site', GITHUB_EVENT_PATH: file, ...env })
}

const repository = { full_name: 'acme/site', default_branch: 'trunk' }
const head = 'a'.repeat(40)
const merge = 'b'.repeat(40)

const pullRequest = (fork = false) =>
  contextOf(
    {
      number: 12,
      pull_request: {
        number: 12,
        head: { sha: head, ref: 'feature/x', repo: { full_name: fork ? 'eve/site' : 'acme/site' } },
      },
      repository,
    },
    {
      GITHUB_EVENT_NAME: 'pull_request',
      GITHUB_REF: 'refs/pull/12/merge',
      GITHUB_SHA: merge,
      GITHUB_SERVER_URL: 'https://github.example.com',
      GITHUB_RUN_ID: '99',
      GITHUB_RUN_ATTEMPT: '2',
      GITHUB_API_URL: 'https://github.example.com/api/v3/',
    },
  )

const push = (branch: string) =>
  contextOf(
    { ref: `refs/heads/${branch}`, repository },
    { GITHUB_EVENT_NAME: 'push', GITHUB_REF: `refs/heads/${branch}`, GITHUB_SHA: merge },
  )

describe('readRunContext', () => {
  it('reads a pull request: head commit, number, run URL, API URL', () => {
    expect(pullRequest()).toMatchObject({
      eventName: 'pull_request',
      repository: { owner: 'acme', repo: 'site' },
      sha: head,
      branch: undefined,
      defaultBranch: 'trunk',
      pullRequest: { number: 12, headSha: head, headBranch: 'feature/x' },
      fromFork: false,
      forPullRequest: true,
      runUrl: 'https://github.example.com/acme/site/actions/runs/99/attempts/2',
      apiUrl: 'https://github.example.com/api/v3',
    })
  })

  it('tells a fork by its head repository, and a deleted head repository too', () => {
    expect(pullRequest(true).fromFork).toBe(true)
    const orphan = contextOf(
      { pull_request: { number: 3, head: { sha: head, repo: null } }, repository },
      { GITHUB_EVENT_NAME: 'pull_request' },
    )
    expect(orphan.fromFork).toBe(true)
  })

  it('reads a push: the branch and GITHUB_SHA', () => {
    expect(push('main')).toMatchObject({ branch: 'main', sha: merge, pullRequest: undefined })
  })

  it('reads a workflow_run: the upstream head, and no branch when it was for a PR', () => {
    const run = contextOf(
      {
        workflow_run: {
          event: 'pull_request',
          head_sha: head,
          head_branch: 'main',
          head_repository: { full_name: 'eve/site' },
          pull_requests: [],
        },
        repository,
      },
      { GITHUB_EVENT_NAME: 'workflow_run', GITHUB_REF: 'refs/heads/trunk', GITHUB_SHA: merge },
    )
    expect(run).toMatchObject({
      sha: head,
      upstreamHeadSha: head,
      branch: undefined,
      fromFork: true,
      forPullRequest: true,
      pullRequest: undefined,
    })
  })

  it('takes the PR from a same-repository workflow_run', () => {
    const run = contextOf({
      workflow_run: {
        event: 'pull_request',
        head_sha: head,
        head_branch: 'feature/x',
        head_repository: { full_name: 'acme/site' },
        pull_requests: [{ number: 5, head: { sha: head, ref: 'feature/x' } }],
      },
      repository,
    })
    expect(run.pullRequest).toEqual({ number: 5, headSha: head, headBranch: 'feature/x' })
  })

  it('survives a missing or broken event file', () => {
    const broken = path.join(tmp, 'broken.json')
    fs.writeFileSync(broken, '{not json')
    expect(readRunContext({ GITHUB_EVENT_PATH: broken })).toMatchObject({
      hasRef: false,
      pullRequest: undefined,
      apiUrl: 'https://api.github.com',
    })
    expect(readRunContext({ GITHUB_EVENT_PATH: path.join(tmp, 'missing.json') }).sha).toBe(
      undefined,
    )
  })
})

describe('resolveTarget', () => {
  it('deploys a pull request as a draft preview at pr-<number>', () => {
    expect(resolveTarget({}, pullRequest())).toMatchObject({
      production: false,
      draft: true,
      alias: 'pr-12',
      environment: 'preview',
      prNumber: 12,
      reason: 'pull request #12',
    })
  })

  it('deploys the repository default branch to production', () => {
    expect(resolveTarget({}, push('trunk'))).toMatchObject({
      production: true,
      draft: false,
      alias: undefined,
      environment: 'production',
      productionBranch: 'trunk',
    })
  })

  it('deploys other branches as drafts without an alias', () => {
    expect(resolveTarget({}, push('feature/x'))).toMatchObject({
      production: false,
      draft: true,
      alias: undefined,
      reason: 'branch feature/x is not the production branch (trunk)',
    })
  })

  it('honours production-branch, falling back to main without a payload', () => {
    expect(resolveTarget({ productionBranch: 'release' }, push('release')).production).toBe(true)
    expect(resolveTarget({ productionBranch: 'release' }, push('trunk')).production).toBe(false)
    const bare = readRunContext({ GITHUB_REF: 'refs/heads/main' })
    expect(resolveTarget({}, bare)).toMatchObject({ production: true, productionBranch: 'main' })
  })

  it('deploys to production outside a workflow run, as before', () => {
    expect(resolveTarget({}, readRunContext({})).production).toBe(true)
  })

  it('lets explicit draft, alias and environment win', () => {
    expect(resolveTarget({ alias: 'feature-x' }, pullRequest())).toMatchObject({
      alias: 'feature-x',
    })
    expect(resolveTarget({ draft: true }, push('trunk'))).toMatchObject({
      production: false,
      draft: true,
      environment: 'preview',
    })
    expect(resolveTarget({ environment: 'docs' }, push('trunk')).environment).toBe('docs')
  })

  it('ignores an alias on production, with a warning', () => {
    const target = resolveTarget({ alias: 'x' }, push('trunk'))
    expect(target).toMatchObject({ production: true, alias: undefined })
    expect(target.warnings).toEqual([
      "Input 'alias' (x) is ignored: this deploy goes to production.",
    ])
  })

  it('never deploys a fork’s workflow_run to production, and asks for pr-number', () => {
    const run = contextOf(
      {
        workflow_run: {
          event: 'pull_request',
          head_sha: head,
          head_branch: 'trunk',
          head_repository: { full_name: 'eve/site' },
          pull_requests: [],
        },
        repository,
      },
      { GITHUB_REF: 'refs/heads/trunk' },
    )
    const target = resolveTarget({}, run)
    expect(target).toMatchObject({ production: false, alias: undefined })
    expect(target.warnings[0]).toContain("set 'pr-number'")
    expect(resolveTarget({ prNumber: 7 }, run)).toMatchObject({ alias: 'pr-7', prNumber: 7 })
  })
})

describe('deployTitle', () => {
  it('names the commit, the branch and the PR', () => {
    const context = pullRequest()
    expect(deployTitle(context, resolveTarget({}, context))).toBe(
      'PR #12: Deploy of aaaaaaa (feature/x) by kaixu/push',
    )
    const main = push('trunk')
    expect(deployTitle(main, resolveTarget({}, main))).toBe(
      'Deploy of bbbbbbb (trunk) by kaixu/push',
    )
    expect(deployTitle(readRunContext({}), resolveTarget({}, readRunContext({})))).toBeUndefined()
  })
})

describe('deployTitle: deploy-message, PR title, commit subject', () => {
  const withPr = (title: unknown) =>
    contextOf(
      {
        number: 12,
        pull_request: {
          number: 12,
          title,
          head: { sha: head, ref: 'feature/x', repo: { full_name: 'acme/site' } },
        },
        head_commit: { message: 'not this one' },
        repository,
      },
      { GITHUB_EVENT_NAME: 'pull_request', GITHUB_REF: 'refs/pull/12/merge', GITHUB_SHA: merge },
    )
  const withCommit = (message: unknown) =>
    contextOf(
      { ref: 'refs/heads/trunk', head_commit: { message }, repository },
      { GITHUB_EVENT_NAME: 'push', GITHUB_REF: 'refs/heads/trunk', GITHUB_SHA: merge },
    )

  it('uses the PR title, else the commit subject, else the generated title', () => {
    const pr = withPr('Add the pricing page')
    expect(deployTitle(pr, resolveTarget({}, pr))).toBe('Add the pricing page')
    const commit = withCommit('Fix the footer\n\nLonger body that Netlify need not show')
    expect(deployTitle(commit, resolveTarget({}, commit))).toBe('Fix the footer')
    const none = withCommit(42)
    expect(deployTitle(none, resolveTarget({}, none))).toBe(
      'Deploy of bbbbbbb (trunk) by kaixu/push',
    )
  })

  it('prefers the deploy-message input over both', () => {
    const pr = withPr('Add the pricing page')
    expect(deployTitle(pr, resolveTarget({}, pr), 'Release 2.1')).toBe('Release 2.1')
  })

  it('reads a workflow_run display title', () => {
    const run = contextOf(
      {
        workflow_run: {
          event: 'push',
          head_sha: head,
          head_branch: 'trunk',
          display_title: 'Bump deps',
          head_repository: { full_name: 'acme/site' },
          pull_requests: [],
        },
        repository,
      },
      { GITHUB_EVENT_NAME: 'workflow_run', GITHUB_REF: 'refs/heads/trunk' },
    )
    expect(deployTitle(run, resolveTarget({}, run))).toBe('Bump deps')
  })

  it('makes author text a title the gateway accepts: no controls, no bidi, one line, ≤ 500', () => {
    const pr = withPr('Evil\u202e title\u0007 with\tcontrols \ud800 and more')
    expect(deployTitle(pr, resolveTarget({}, pr))).toBe('Evil title with controls and more')
    const long = withPr(`${'é'.repeat(499)}😀😀`)
    const title = deployTitle(long, resolveTarget({}, long))!
    expect(Array.from(title)).toHaveLength(500)
    expect(title.endsWith('😀')).toBe(true)
    // A title of nothing but controls falls back to the generated one.
    const blank = withPr('\u0001\u202e')
    expect(deployTitle(blank, resolveTarget({}, blank))).toBe(
      'PR #12: Deploy of aaaaaaa (feature/x) by kaixu/push',
    )
  })
})
