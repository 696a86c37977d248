// The GitHub deployment that shows the push on the PR and in the repository's environments:
// created before the push (in_progress), then success or failure with the URL. GitHub is a
// report here, never a reason to fail: every error becomes a warning.
import { describeGitHubError } from './github.ts'
import type { GitHubApi } from './github.ts'
import type { Reporter } from './deploy.ts'

const PERMISSION = 'deployments: write'

/** What the deployment is for. */
export interface DeploymentStart {
  sha: string
  environment: string
  production: boolean
  project: string
  logUrl?: string | undefined
}

/** How the push ended, for the final status. */
export interface DeploymentOutcome {
  state: 'success' | 'failure' | 'in_progress'
  environmentUrl?: string | undefined
  description: string
}

/** A deployment in progress; `finish` records the outcome once. */
export interface OpenDeployment {
  readonly id: number
  finish(outcome: DeploymentOutcome): Promise<void>
}

/**
 * Creates the deployment (`ref` = the head commit, transient for previews) and its
 * `in_progress` status. Undefined, with a warning, when GitHub refuses.
 */
export async function startDeployment(
  api: Pick<GitHubApi, 'createDeployment' | 'createDeploymentStatus'>,
  start: DeploymentStart,
  reporter: Reporter,
): Promise<OpenDeployment | undefined> {
  let id: number
  try {
    id = await api.createDeployment({
      ref: start.sha,
      environment: start.environment,
      description: `Kaixu Push of ${start.project}`,
      transient: !start.production,
      production: start.production,
      payload: { tool: 'kaixu-push', project: start.project },
    })
    await api.createDeploymentStatus(id, {
      state: 'in_progress',
      logUrl: start.logUrl,
      description: 'Uploading to Netlify through Kaixu',
      autoInactive: false,
    })
  } catch (error) {
    reporter.warning(`No GitHub deployment recorded: ${describeGitHubError(error, PERMISSION)}`)
    return undefined
  }
  reporter.info(`GitHub deployment ${id} (${start.environment}) is in progress`)
  return {
    id,
    async finish(outcome) {
      try {
        await api.createDeploymentStatus(id, {
          state: outcome.state,
          environmentUrl: outcome.environmentUrl,
          logUrl: start.logUrl,
          description: outcome.description,
          // A new production deploy retires the old one; previews of other PRs stay listed.
          autoInactive: start.production && outcome.state === 'success',
        })
      } catch (error) {
        reporter.warning(
          `Could not set GitHub deployment ${id} to ${outcome.state}: ` +
            describeGitHubError(error, PERMISSION),
        )
      }
    },
  }
}
