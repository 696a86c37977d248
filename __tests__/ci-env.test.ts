import { describe, expect, it } from '@jest/globals'
import { initBodySchema } from '../gateway/src/http/schemas.ts'
import { detectCi } from '../src/ci-env.ts'

const sha = 'ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12'
const merged = 'ffffffffffffffffffffffffffffffffffffffff'

describe('detectCi', () => {
  it('is undefined outside the CI systems it knows', () => {
    expect(detectCi({})).toBeUndefined()
    expect(detectCi({ CI: 'true', GITHUB_ACTIONS: 'true' })).toBeUndefined()
  })

  it('GitLab: a merge request pipeline names the MR, its source branch and head', () => {
    expect(
      detectCi({
        GITLAB_CI: 'true',
        CI_PIPELINE_SOURCE: 'merge_request_event',
        CI_MERGE_REQUEST_IID: '42',
        CI_MERGE_REQUEST_TITLE: 'Add the pricing page',
        CI_MERGE_REQUEST_SOURCE_BRANCH_NAME: 'feature/pricing',
        // A merged results pipeline builds a merge commit; the change is the source head.
        CI_MERGE_REQUEST_SOURCE_BRANCH_SHA: sha,
        CI_COMMIT_SHA: merged,
        CI_COMMIT_TITLE: "Merge branch 'feature/pricing' into main",
      }),
    ).toEqual({
      name: 'GitLab CI',
      branch: 'feature/pricing',
      commit: sha,
      title: 'Add the pricing page',
      changeRequest: { label: 'merge request !42', alias: 'mr-42' },
    })
  })

  it('GitLab: a branch pipeline names the branch and the commit title', () => {
    expect(
      detectCi({
        GITLAB_CI: 'true',
        CI_PIPELINE_SOURCE: 'push',
        CI_COMMIT_BRANCH: 'main',
        CI_COMMIT_SHA: sha,
        // An MR pipeline leaves this empty outside merged results pipelines.
        CI_MERGE_REQUEST_SOURCE_BRANCH_SHA: '',
        CI_COMMIT_TITLE: 'Fix the footer',
      }),
    ).toEqual({
      name: 'GitLab CI',
      branch: 'main',
      commit: sha,
      title: 'Fix the footer',
      changeRequest: undefined,
    })
  })

  it('CircleCI: the PR number from CIRCLE_PULL_REQUEST, else CIRCLE_PR_NUMBER (forks)', () => {
    const pr = detectCi({
      CIRCLECI: 'true',
      CIRCLE_BRANCH: 'feature/x',
      CIRCLE_SHA1: sha,
      CIRCLE_PULL_REQUEST: 'https://github.com/acme/site/pull/7',
    })
    expect(pr).toEqual({
      name: 'CircleCI',
      branch: 'feature/x',
      commit: sha,
      // CircleCI names no commit message: the generated title.
      title: 'pull request #7: Deploy of ab12cd3 (feature/x) by kaixu-push',
      changeRequest: { label: 'pull request #7', alias: 'pr-7' },
    })
    const fork = detectCi({ CIRCLECI: 'true', CIRCLE_PR_NUMBER: '8', CIRCLE_SHA1: sha })
    expect(fork?.changeRequest).toEqual({ label: 'pull request #8', alias: 'pr-8' })
    const bitbucketPr = detectCi({
      CIRCLECI: 'true',
      CIRCLE_PULL_REQUEST: 'https://bitbucket.org/acme/site/pull-requests/9',
    })
    expect(bitbucketPr?.changeRequest?.alias).toBe('pr-9')
    const main = detectCi({ CIRCLECI: 'true', CIRCLE_BRANCH: 'main', CIRCLE_SHA1: sha })
    expect(main).toMatchObject({
      changeRequest: undefined,
      title: 'Deploy of ab12cd3 (main) by kaixu-push',
    })
  })

  it('Bitbucket: BITBUCKET_PR_ID in a pull-requests pipeline', () => {
    expect(
      detectCi({
        BITBUCKET_BUILD_NUMBER: '31',
        BITBUCKET_BRANCH: 'feature/y',
        BITBUCKET_COMMIT: sha,
        BITBUCKET_PR_ID: '5',
      }),
    ).toEqual({
      name: 'Bitbucket Pipelines',
      branch: 'feature/y',
      commit: sha,
      title: 'pull request #5: Deploy of ab12cd3 (feature/y) by kaixu-push',
      changeRequest: { label: 'pull request #5', alias: 'pr-5' },
    })
    expect(detectCi({ BITBUCKET_BUILD_NUMBER: '32', BITBUCKET_COMMIT: sha })).toMatchObject({
      changeRequest: undefined,
      title: 'Deploy of ab12cd3 by kaixu-push',
    })
  })

  it('Buildkite: BUILDKITE_PULL_REQUEST is a number or "false"; the message’s first line', () => {
    expect(
      detectCi({
        BUILDKITE: 'true',
        BUILDKITE_BRANCH: 'feature/z',
        BUILDKITE_COMMIT: sha,
        BUILDKITE_MESSAGE: 'Tidy the nav\n\nBody text',
        BUILDKITE_PULL_REQUEST: '11',
      }),
    ).toEqual({
      name: 'Buildkite',
      branch: 'feature/z',
      commit: sha,
      title: 'Tidy the nav',
      changeRequest: { label: 'pull request #11', alias: 'pr-11' },
    })
    const branch = detectCi({
      BUILDKITE: 'true',
      BUILDKITE_BRANCH: 'main',
      BUILDKITE_COMMIT: 'HEAD',
      BUILDKITE_PULL_REQUEST: 'false',
    })
    expect(branch).toMatchObject({ changeRequest: undefined, commit: undefined, title: undefined })
  })

  it('a merge request whose number is not a number still counts, without an alias', () => {
    const mr = detectCi({
      GITLAB_CI: 'true',
      CI_PIPELINE_SOURCE: 'merge_request_event',
      CI_MERGE_REQUEST_IID: '42; rm -rf /',
    })
    expect(mr?.changeRequest).toEqual({ label: 'merge request', alias: undefined })
    const huge = detectCi({ BUILDKITE: 'true', BUILDKITE_PULL_REQUEST: '1'.repeat(40) })
    expect(huge?.changeRequest).toEqual({ label: 'pull request', alias: undefined })
  })

  describe('hostile values: the gateway accepts whatever the CI environment holds', () => {
    const init = initBodySchema({ maxFileBytes: 1 << 20 })
    const accepted = (title: string | undefined, alias: string | undefined) =>
      init.safeParse({
        project: 'site',
        files: { '/index.html': sha },
        ...(title === undefined ? {} : { title }),
        ...(alias === undefined ? {} : { alias }),
      })
    const hostile = [
      'evil\u202e\u2066 branch\nwith\r\nlines\u0000\u0007\ud800',
      '😀'.repeat(800),
      'x'.repeat(5000),
      '\u202e',
    ]

    it.each(hostile)('branch %j', (branch) => {
      for (const env of [
        { CIRCLECI: 'true', CIRCLE_BRANCH: branch, CIRCLE_SHA1: sha, CIRCLE_PR_NUMBER: '3' },
        { BITBUCKET_BUILD_NUMBER: '1', BITBUCKET_BRANCH: branch, BITBUCKET_COMMIT: sha },
        {
          GITLAB_CI: 'true',
          CI_MERGE_REQUEST_IID: '4',
          CI_MERGE_REQUEST_SOURCE_BRANCH_NAME: branch,
          CI_COMMIT_SHA: sha,
        },
      ]) {
        const ci = detectCi(env)!
        expect(ci.title).toMatch(/Deploy of ab12cd3/)
        const result = accepted(ci.title, ci.changeRequest?.alias)
        expect(result.error?.issues).toBeUndefined()
        // eslint-disable-next-line no-control-regex -- the characters the gateway refuses
        expect(ci.branch ?? '').not.toMatch(/[\n\r\u0000-\u001f\u202a-\u202e\u2066-\u2069]/)
      }
    })

    it.each(hostile)('title %j', (title) => {
      for (const env of [
        { GITLAB_CI: 'true', CI_MERGE_REQUEST_IID: '4', CI_MERGE_REQUEST_TITLE: title },
        { GITLAB_CI: 'true', CI_COMMIT_TITLE: title, CI_COMMIT_SHA: sha },
        { BUILDKITE: 'true', BUILDKITE_MESSAGE: title, BUILDKITE_PULL_REQUEST: '2' },
      ]) {
        const ci = detectCi(env)!
        expect(accepted(ci.title, ci.changeRequest?.alias).error?.issues).toBeUndefined()
        expect(ci.title ?? '').not.toContain('\n')
      }
    })
  })
})
