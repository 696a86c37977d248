// Which CI system runs the CLI, and what it says about the change being deployed. Read once from
// the variables each system documents, so the CLI can title the deploy, give a merge request's
// preview a stable alias, and refuse to publish from a merge request pipeline.
//
// Every value here is written by whoever pushed the branch or opened the merge request, so each is
// checked or cleaned before use: numbers must be numbers, a commit must be hex, and free text goes
// through `cleanTitle` (one line, no control or bidirectional characters, bounded), so the gateway
// never refuses the title or the alias built from them.
import { cleanTitle } from './target.ts'

/** The merge or pull request a pipeline runs for. */
export interface ChangeRequest {
  /** How the CI names it, for messages: `merge request !42`, `pull request #7`. */
  readonly label: string
  /** The stable preview alias, `mr-<iid>` or `pr-<number>`; undefined when the number is unknown. */
  readonly alias: string | undefined
}

/** What the CLI learns from the CI system it runs in. */
export interface CiEnv {
  readonly name: 'GitLab CI' | 'CircleCI' | 'Bitbucket Pipelines' | 'Buildkite'
  /** The branch being built (a merge request's source branch), cleaned. */
  readonly branch: string | undefined
  /** The commit being deployed, as hex. */
  readonly commit: string | undefined
  /**
   * The deploy's title: the merge request's title, else the commit's subject, else
   * `Deploy of 3f2a1c7 (feature-x) by kaixu-push` (prefixed with the merge request). Undefined
   * when not even the commit is known.
   */
  readonly title: string | undefined
  /** Set when the pipeline runs for a merge or pull request. */
  readonly changeRequest: ChangeRequest | undefined
}

type Env = NodeJS.ProcessEnv

/** Reads the CI system from the environment; undefined outside the four it knows. */
export function detectCi(env: Env): CiEnv | undefined {
  if (env['GITLAB_CI'] === 'true') return gitlab(env)
  if (env['CIRCLECI'] === 'true') return circleci(env)
  if (env['BITBUCKET_BUILD_NUMBER']) return bitbucket(env)
  if (env['BUILDKITE'] === 'true') return buildkite(env)
  return undefined
}

// https://docs.gitlab.com/ci/variables/predefined_variables/ — the CI_MERGE_REQUEST_* variables
// exist only in merge request pipelines; CI_COMMIT_BRANCH only in branch pipelines. A merged
// results pipeline builds a merge commit (CI_COMMIT_SHA): the source branch's head is the change.
function gitlab(env: Env): CiEnv {
  const iid = number(env['CI_MERGE_REQUEST_IID'])
  const external = number(env['CI_EXTERNAL_PULL_REQUEST_IID'])
  let changeRequest: ChangeRequest | undefined
  if (iid !== undefined || env['CI_PIPELINE_SOURCE'] === 'merge_request_event') {
    changeRequest = request('merge request !', 'mr-', iid)
  } else if (
    external !== undefined ||
    env['CI_PIPELINE_SOURCE'] === 'external_pull_request_event'
  ) {
    changeRequest = request('pull request #', 'pr-', external)
  }
  return build('GitLab CI', {
    branch:
      text(env['CI_MERGE_REQUEST_SOURCE_BRANCH_NAME']) ??
      text(env['CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_NAME']) ??
      text(env['CI_COMMIT_BRANCH']),
    commit:
      commit(env['CI_MERGE_REQUEST_SOURCE_BRANCH_SHA']) ??
      commit(env['CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_SHA']) ??
      commit(env['CI_COMMIT_SHA']),
    subject: firstLine(env['CI_MERGE_REQUEST_TITLE']) ?? firstLine(env['CI_COMMIT_TITLE']),
    changeRequest,
  })
}

// https://circleci.com/docs/reference/variables/ — CIRCLE_PR_NUMBER is set only for a fork's pull
// request; CIRCLE_PULL_REQUEST (the PR's URL) on any build of a branch with an open pull request.
// CircleCI names no commit message.
function circleci(env: Env): CiEnv {
  const url = env['CIRCLE_PULL_REQUEST'] ?? ''
  const fromUrl = /\/(?:pull|pull-requests|merge_requests)\/(\d+)\/?$/.exec(url)?.[1]
  const pr = number(env['CIRCLE_PR_NUMBER']) ?? number(fromUrl)
  return build('CircleCI', {
    branch: text(env['CIRCLE_BRANCH']),
    commit: commit(env['CIRCLE_SHA1']),
    subject: undefined,
    changeRequest:
      pr !== undefined || url !== '' ? request('pull request #', 'pr-', pr) : undefined,
  })
}

// https://support.atlassian.com/bitbucket-cloud/docs/variables-and-secrets/ — BITBUCKET_PR_ID
// only in a pull-requests pipeline; no commit message.
function bitbucket(env: Env): CiEnv {
  const pr = number(env['BITBUCKET_PR_ID'])
  return build('Bitbucket Pipelines', {
    branch: text(env['BITBUCKET_BRANCH']),
    commit: commit(env['BITBUCKET_COMMIT']),
    subject: undefined,
    changeRequest: pr === undefined ? undefined : request('pull request #', 'pr-', pr),
  })
}

// https://buildkite.com/docs/pipelines/environment-variables — BUILDKITE_PULL_REQUEST is the
// number or `false`; BUILDKITE_MESSAGE the commit message (the PR title on a PR's first build).
function buildkite(env: Env): CiEnv {
  const raw = env['BUILDKITE_PULL_REQUEST']
  const pr = number(raw)
  const isPr = raw !== undefined && raw !== '' && raw !== 'false'
  return build('Buildkite', {
    branch: text(env['BUILDKITE_BRANCH']),
    // `HEAD` when a build was started without a commit: not one to name.
    commit: commit(env['BUILDKITE_COMMIT']),
    subject: firstLine(env['BUILDKITE_MESSAGE']),
    changeRequest: isPr ? request('pull request #', 'pr-', pr) : undefined,
  })
}

function build(
  name: CiEnv['name'],
  facts: {
    branch: string | undefined
    commit: string | undefined
    subject: string | undefined
    changeRequest: ChangeRequest | undefined
  },
): CiEnv {
  const { branch, commit, subject, changeRequest } = facts
  let title = subject
  if (title === undefined && commit !== undefined) {
    const prefix = changeRequest?.alias ? `${changeRequest.label}: ` : ''
    title = cleanTitle(
      `${prefix}Deploy of ${commit.slice(0, 7)}${branch ? ` (${branch})` : ''} by kaixu-push`,
    )
  }
  return { name, branch, commit, title, changeRequest }
}

function request(label: string, aliasPrefix: string, n: number | undefined): ChangeRequest {
  return n === undefined
    ? { label: label.replace(/ [!#]$/, ''), alias: undefined }
    : { label: `${label}${n}`, alias: `${aliasPrefix}${n}` }
}

// A positive whole number of at most nine digits: `mr-<n>` then always fits Netlify's alias rule.
function number(value: string | undefined): number | undefined {
  return value !== undefined && /^[1-9]\d{0,8}$/.test(value) ? Number(value) : undefined
}

function commit(value: string | undefined): string | undefined {
  return value !== undefined && /^[0-9a-f]{7,64}$/i.test(value) ? value.toLowerCase() : undefined
}

/** Free text made safe for a title; undefined when nothing is left. */
function text(value: string | undefined): string | undefined {
  return cleanTitle(value ?? '') || undefined
}

function firstLine(value: string | undefined): string | undefined {
  return text(value?.split(/\r?\n/, 1)[0])
}
