// What the main step leaves for the post step. As in actions/checkout, one bundle serves both:
// the runner hands saved state back to the post step as STATE_* variables, and `isPost` is the
// flag the main step saves first. Each value is written the moment it is known, so a main step
// killed mid-push (cancelled job, timeout) has already left what the post step needs.
import * as core from '@actions/core'

const POST = 'isPost'
const PUSH_ID = 'pushId'
const DEPLOYMENT_ID = 'deploymentId'
const FINISHED = 'finished'

/** Whether this process is the post step (the main step ran before and set the flag). */
export const isPost = (): boolean => core.getState(POST) === 'true'

export const markMainStarted = (): void => core.saveState(POST, 'true')
export const savePushId = (pushId: string): void => core.saveState(PUSH_ID, pushId)
export const saveDeploymentId = (id: number): void => core.saveState(DEPLOYMENT_ID, String(id))
/** The main step reached its end (success or failure) and told GitHub itself. */
export const markFinished = (): void => core.saveState(FINISHED, 'true')

export interface SavedRun {
  pushId: string | undefined
  deploymentId: number | undefined
  finished: boolean
}

export function savedRun(): SavedRun {
  const deploymentId = Number(core.getState(DEPLOYMENT_ID))
  return {
    pushId: core.getState(PUSH_ID) || undefined,
    deploymentId: Number.isSafeInteger(deploymentId) && deploymentId > 0 ? deploymentId : undefined,
    finished: core.getState(FINISHED) === 'true',
  }
}
