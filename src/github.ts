// The only caller of GitHub's REST API (through @actions/github's Octokit): PR comments,
// deployments and their statuses. Everything else in the Action sees the small interface below.
import { getOctokit } from '@actions/github'

/** A PR (issue) comment, reduced to what the sticky comment needs. */
export interface IssueComment {
  readonly id: number
  readonly body: string
  /** The author's login; undefined for a deleted ("ghost") user. */
  readonly login: string | undefined
  readonly url: string | undefined
}

/** A deployment to create; see GitHub's `POST /repos/{owner}/{repo}/deployments`. */
export interface DeploymentSpec {
  /** The commit SHA deployed (a SHA works for forks and detached heads, a branch name may not). */
  ref: string
  environment: string
  description: string
  transient: boolean
  production: boolean
  /** Stored with the deployment so tools can tell ours apart. */
  payload: Record<string, string>
}

/** A deployment status; see `POST /repos/{owner}/{repo}/deployments/{id}/statuses`. */
export interface DeploymentStatusSpec {
  state: 'in_progress' | 'success' | 'failure' | 'error' | 'inactive' | 'queued' | 'pending'
  environmentUrl?: string | undefined
  logUrl?: string | undefined
  /** At most 140 characters (GitHub's limit); longer text is cut. */
  description: string
  /** Mark earlier deployments of the environment inactive (on success). */
  autoInactive: boolean
}

/** The calls the Action makes to GitHub. */
export interface GitHubApi {
  /**
   * The login the token acts as, from `GET /user`; undefined when the token cannot read it,
   * as an Actions `GITHUB_TOKEN` (an installation token) cannot.
   */
  viewerLogin(): Promise<string | undefined>
  /** Walks every page of a PR's comments (100 a page) and returns the first that matches. */
  findComment(
    issue: number,
    match: (comment: IssueComment) => boolean,
  ): Promise<IssueComment | undefined>
  createComment(issue: number, body: string): Promise<IssueComment>
  updateComment(id: number, body: string): Promise<IssueComment>
  createDeployment(spec: DeploymentSpec): Promise<number>
  createDeploymentStatus(id: number, spec: DeploymentStatusSpec): Promise<void>
  /** The head commit of a pull request. */
  pullRequestHeadSha(number: number): Promise<string>
}

/** Where to reach GitHub and as whom. */
export interface GitHubApiOptions {
  token: string
  /** `GITHUB_API_URL` (GitHub Enterprise and tests point it elsewhere). */
  apiUrl: string
  owner: string
  repo: string
}

// Octokit waits forever by default; a GitHub call that hangs must not hold the job after the
// deploy is done. Per call (all pages of a listing share one).
const CALL_TIMEOUT_MS = 60_000

/** Builds the API on @actions/github's Octokit (REST methods and pagination). */
export function createGitHubApi(options: GitHubApiOptions): GitHubApi {
  const octokit = getOctokit(options.token, { baseUrl: options.apiUrl })
  const base = { owner: options.owner, repo: options.repo }
  // Repository coordinates plus a fresh deadline, for each call.
  const repo = () => ({ ...base, request: { signal: AbortSignal.timeout(CALL_TIMEOUT_MS) } })
  const toComment = (c: {
    id: number
    body?: string | undefined
    user: { login: string } | null
    html_url?: string
  }): IssueComment => ({
    id: c.id,
    body: c.body ?? '',
    login: c.user?.login,
    url: c.html_url,
  })

  return {
    async viewerLogin() {
      try {
        const { data } = await octokit.rest.users.getAuthenticated({
          request: { signal: AbortSignal.timeout(CALL_TIMEOUT_MS) },
        })
        return data.login
      } catch {
        return undefined
      }
    },

    async findComment(issue, match) {
      const pages = octokit.paginate.iterator(octokit.rest.issues.listComments, {
        ...repo(),
        issue_number: issue,
        per_page: 100,
      })
      // Stops at the first match: the sticky comment is usually among the oldest.
      for await (const page of pages) {
        for (const raw of page.data) {
          const comment = toComment(raw)
          if (match(comment)) return comment
        }
      }
      return undefined
    },

    async createComment(issue, body) {
      const { data } = await octokit.rest.issues.createComment({
        ...repo(),
        issue_number: issue,
        body,
      })
      return toComment(data)
    },

    async updateComment(id, body) {
      const { data } = await octokit.rest.issues.updateComment({ ...repo(), comment_id: id, body })
      return toComment(data)
    },

    async createDeployment(spec) {
      const { data } = await octokit.rest.repos.createDeployment({
        ...repo(),
        ref: spec.ref,
        environment: spec.environment,
        description: spec.description,
        transient_environment: spec.transient,
        production_environment: spec.production,
        payload: spec.payload,
        // The deploy is already built: no merging of the default branch, no waiting for checks.
        auto_merge: false,
        required_contexts: [],
      })
      if (!('id' in data)) throw new Error(`GitHub did not create the deployment: ${data.message}`)
      return data.id
    },

    async createDeploymentStatus(id, spec) {
      await octokit.rest.repos.createDeploymentStatus({
        ...repo(),
        deployment_id: id,
        state: spec.state,
        description: spec.description.slice(0, 140),
        auto_inactive: spec.autoInactive,
        ...(spec.environmentUrl ? { environment_url: spec.environmentUrl } : {}),
        ...(spec.logUrl ? { log_url: spec.logUrl } : {}),
      })
    },

    async pullRequestHeadSha(number) {
      const { data } = await octokit.rest.pulls.get({ ...repo(), pull_number: number })
      return data.head.sha
    },
  }
}

/**
 * One line for a failed GitHub call, with the permission to grant when GitHub refused it:
 * `HTTP 403: Resource not accessible by integration (grant the job 'pull-requests: write')`.
 */
export function describeGitHubError(error: unknown, permission?: string): string {
  const status = (error as { status?: unknown } | null)?.status
  const message = error instanceof Error ? error.message : String(error)
  if (typeof status !== 'number') return message
  const hint =
    (status === 403 || status === 404) && permission
      ? ` (grant the job '${permission}' in its permissions)`
      : ''
  return `HTTP ${status}: ${message}${hint}`
}
