import * as core from '@actions/core'
import { KaixuPush } from './client/kaixu-push.ts'
import type { Reporter } from './deploy.ts'
import { getErrorMessage } from './errors.ts'
import { createGitHubApi, describeGitHubError } from './github.ts'
import { getInputs } from './inputs.ts'
import { readRunContext } from './run-context.ts'
import { savedRun } from './state.ts'

const reporter: Reporter = {
  info: (message) => core.info(message),
  warning: (message) => core.warning(message),
  debug: (message) => core.debug(message),
}

/**
 * The post step (`post:` in action.yml, run after the job's steps, also when the job was
 * cancelled or timed out). When the main step did not reach its end, its push is cancelled at
 * the gateway, and its GitHub deployment is marked `inactive` (cancelled) or `error`, never left
 * `in_progress`. After a main step that finished it does nothing.
 */
export async function post(): Promise<void> {
  const saved = savedRun()
  if (saved.finished || (!saved.pushId && saved.deploymentId === undefined)) return
  core.info('The deploy step stopped before the push finished (job cancelled or timed out)')
  try {
    const inputs = getInputs()
    let state: string | undefined
    if (saved.pushId && inputs.kaixuKey) {
      const kaixu = new KaixuPush({
        gatewayUrl: inputs.gatewayUrl,
        apiKey: inputs.kaixuKey,
        userAgent: 'kaixu-push-action',
        reporter,
      })
      state = await kaixu.cancel(saved.pushId)
    }
    const context = readRunContext()
    if (saved.deploymentId === undefined || !inputs.githubToken || !context.repository) return
    const github = createGitHubApi({
      token: inputs.githubToken,
      apiUrl: context.apiUrl,
      ...context.repository,
    })
    const cancelled = state === 'cancelled'
    try {
      await github.createDeploymentStatus(saved.deploymentId, {
        state: cancelled ? 'inactive' : 'error',
        logUrl: context.runUrl,
        description: cancelled
          ? 'Cancelled: the job stopped before the push finished'
          : `The job stopped before the push finished (push ${state ?? 'state unknown'})`,
        autoInactive: false,
      })
      core.info(
        `GitHub deployment ${saved.deploymentId} marked ${cancelled ? 'inactive' : 'error'}`,
      )
    } catch (error) {
      core.warning(
        `Could not update GitHub deployment ${saved.deploymentId}: ` +
          describeGitHubError(error, 'deployments: write'),
      )
    }
  } catch (error) {
    // The post step cleans up; it never turns a run red on its own.
    core.warning(`Cleaning up the push failed: ${getErrorMessage(error)}`)
  }
}
