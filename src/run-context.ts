// The workflow run as the runner describes it: `GITHUB_*` variables and the event payload at
// `GITHUB_EVENT_PATH`. Read here once, so the rest of the Action gets plain facts.
import fs from 'node:fs'

/** The pull request a run deploys for. */
export interface PullRequestInfo {
  readonly number: number
  /** The head commit: what the author pushed (GITHUB_SHA is a merge commit on PR runs). */
  readonly headSha: string | undefined
  readonly headBranch: string | undefined
}

/** What the Action needs to know about the run it is in. */
export interface RunContext {
  /** `GITHUB_EVENT_NAME`: `push`, `pull_request`, `workflow_run`, … */
  readonly eventName: string | undefined
  /** `owner/repo` of the repository the workflow runs in. */
  readonly repository: { readonly owner: string; readonly repo: string } | undefined
  /** The commit being deployed: the PR head, the `workflow_run` head, else `GITHUB_SHA`. */
  readonly sha: string | undefined
  /**
   * The branch this run deploys when it is not for a pull request: the pushed branch, or a
   * `workflow_run`'s head branch when that run came from a `push`, `workflow_dispatch` or
   * `schedule` in this repository.
   * Undefined for tags, pull requests and runs without a ref.
   */
  readonly branch: string | undefined
  /** Whether the run carries a ref at all (false outside GitHub, e.g. a local `node dist`). */
  readonly hasRef: boolean
  /** `repository.default_branch` from the payload. */
  readonly defaultBranch: string | undefined
  /** Set on `pull_request`/`pull_request_target` runs and `workflow_run`s that name one PR. */
  readonly pullRequest: PullRequestInfo | undefined
  /**
   * The code comes from another repository (a fork's pull request): secrets are withheld and the
   * token is read-only on `pull_request` runs.
   */
  readonly fromFork: boolean
  /** Whether the run was caused by a pull request (also through a `workflow_run`). */
  readonly forPullRequest: boolean
  /** `workflow_run` only: the head commit of the run that triggered this one. */
  readonly upstreamHeadSha: string | undefined
  readonly actor: string | undefined
  /**
   * What the change is called, for the deploy's title: the PR's title, else the first line of
   * the head commit's message. Author-written text: `deployTitle` cleans it before use.
   */
  readonly subject: string | undefined
  /** The run's page, for deployment `log_url` and comments. */
  readonly runUrl: string | undefined
  readonly apiUrl: string
}

type Json = Record<string, unknown>

// Upstream events of a `workflow_run` whose head branch was pushed by someone with write access.
const BRANCH_EVENTS = new Set(['push', 'workflow_dispatch', 'schedule'])

/** Reads the run context from the environment and the event payload; never throws. */
export function readRunContext(env: NodeJS.ProcessEnv = process.env): RunContext {
  const payload = readPayload(env['GITHUB_EVENT_PATH'])
  const eventName = env['GITHUB_EVENT_NAME'] || undefined
  const repository = parseRepository(env['GITHUB_REPOSITORY']) ?? payloadRepository(payload)
  const fullName = repository ? `${repository.owner}/${repository.repo}` : undefined
  const ref = env['GITHUB_REF'] || undefined
  const serverUrl = (env['GITHUB_SERVER_URL'] || 'https://github.com').replace(/\/+$/, '')
  const runId = env['GITHUB_RUN_ID']
  const attempt = Number(env['GITHUB_RUN_ATTEMPT'] ?? '1')

  const pr = record(payload['pull_request'])
  const run = record(payload['workflow_run'])
  let pullRequest: PullRequestInfo | undefined
  let sha = env['GITHUB_SHA'] || undefined
  let branch = ref?.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : undefined
  let fromFork = false
  let forPullRequest = false
  let upstreamHeadSha: string | undefined
  let subject = firstLine(record(payload['head_commit'])?.['message'])

  if (pr) {
    const head = record(pr['head'])
    const headRepo = record(head?.['repo'])
    pullRequest = {
      number: Number(pr['number'] ?? payload['number']),
      headSha: text(head?.['sha']),
      headBranch: text(head?.['ref']),
    }
    sha = pullRequest.headSha ?? sha
    subject = firstLine(pr['title']) ?? subject
    // A PR whose head repository was deleted has `head.repo: null`: treat it as a fork.
    fromFork =
      headRepo === undefined ||
      headRepo['fork'] === true ||
      (fullName !== undefined && text(headRepo['full_name']) !== fullName)
    forPullRequest = true
    branch = undefined
  } else if (run) {
    upstreamHeadSha = text(run['head_sha'])
    subject = firstLine(run['display_title']) ?? firstLine(record(run['head_commit'])?.['message'])
    sha = upstreamHeadSha ?? sha
    const headRepo = text(record(run['head_repository'])?.['full_name'])
    // As on `pull_request`: a head repository that was deleted (`null`) or is not named is a
    // fork's, since nothing shows it is this repository.
    fromFork = headRepo === undefined || (fullName !== undefined && headRepo !== fullName)
    const upstreamEvent = String(run['event'] ?? '')
    forPullRequest = upstreamEvent.startsWith('pull_request')
    // GitHub lists the PR only when its head is in this repository; for forks the caller passes
    // `pr-number` (the fork-safe recipe in the README).
    const listed = Array.isArray(run['pull_requests']) ? run['pull_requests'] : []
    const first = listed.length === 1 ? record(listed[0]) : undefined
    if (first && forPullRequest) {
      const head = record(first['head'])
      pullRequest = {
        number: Number(first['number']),
        headSha: text(head?.['sha']) ?? upstreamHeadSha,
        headBranch: text(head?.['ref']),
      }
    }
    // A fork's branch may be called `main` too, and an `issue_comment` or `pull_request_target`
    // run on `main` runs for whoever commented or opened the PR: only a push, a manual dispatch
    // or a schedule in this repository makes the upstream head branch this run's branch (and so
    // possibly production). Anything else is a preview.
    branch = fromFork || !BRANCH_EVENTS.has(upstreamEvent) ? undefined : text(run['head_branch'])
  }

  return {
    eventName,
    repository,
    sha,
    branch,
    hasRef: ref !== undefined || run !== undefined,
    defaultBranch: text(record(payload['repository'])?.['default_branch']),
    pullRequest:
      pullRequest && Number.isInteger(pullRequest.number) && pullRequest.number > 0
        ? pullRequest
        : undefined,
    fromFork,
    forPullRequest,
    upstreamHeadSha,
    actor: env['GITHUB_ACTOR'] || undefined,
    subject,
    runUrl:
      fullName && runId
        ? `${serverUrl}/${fullName}/actions/runs/${runId}` +
          (attempt > 1 ? `/attempts/${attempt}` : '')
        : undefined,
    apiUrl: (env['GITHUB_API_URL'] || 'https://api.github.com').replace(/\/+$/, ''),
  }
}

function readPayload(file: string | undefined): Json {
  if (!file) return {}
  try {
    return record(JSON.parse(fs.readFileSync(file, 'utf8'))) ?? {}
  } catch {
    return {}
  }
}

function parseRepository(value: string | undefined) {
  const match = value ? /^([^/\s]+)\/([^/\s]+)$/.exec(value) : null
  return match ? { owner: match[1]!, repo: match[2]! } : undefined
}

function payloadRepository(payload: Json) {
  return parseRepository(text(record(payload['repository'])?.['full_name']))
}

function record(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Json)
    : undefined
}

function firstLine(value: unknown): string | undefined {
  return text(typeof value === 'string' ? value.split(/\r?\n/, 1)[0]!.trim() : undefined)
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined
}
