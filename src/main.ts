import fs from 'node:fs'
import path from 'node:path'
import * as core from '@actions/core'
import { getInputs } from './inputs.ts'
import { digestDir } from './files.ts'
import { GatewayClient } from './gateway-client.ts'
import { DeployTimeoutError, PushError, push } from './deploy.ts'
import { getErrorMessage } from './errors.ts'
import { deployTitle } from './github.ts'
import { formatBytes, formatDuration } from './format.ts'
import { setOutputs, writeSummary } from './outputs.ts'
import type { ActionInputs } from './inputs.ts'
import type { PushResult, Reporter } from './deploy.ts'

const reporter: Reporter = {
  info: (message) => core.info(message),
  warning: (message) => core.warning(message),
  debug: (message) => core.debug(message),
}

/**
 * The Action: read inputs → digest `dir` → push through the gateway → outputs. Any failure ends
 * in `core.setFailed`; the job summary is written either way.
 */
export async function run(): Promise<void> {
  let inputs: ActionInputs | undefined
  let result: PushResult | undefined
  let digestMs: number | undefined
  let error: string | undefined
  try {
    inputs = getInputs()

    // Step 1: digest the folder.
    const started = Date.now()
    const digest = await digestDir(inputs.dir, {
      skipNodeModules: isWorkspaceRoot(inputs.dir),
      warn: reporter.warning,
    })
    digestMs = Date.now() - started
    if (digest.count === 0) {
      throw new Error(
        `Input 'dir': ${inputs.dir} holds no files to deploy (dotfiles and __MACOSX are skipped)`,
      )
    }
    core.info(
      `Digest of ${inputs.dir}: ${digest.count} files, ${formatBytes(digest.totalBytes)} ` +
        `in ${formatDuration(digestMs)}`,
    )

    // Step 2: push through the gateway.
    const client = new GatewayClient({
      baseUrl: inputs.gatewayUrl,
      apiKey: inputs.kaixuKey,
      userAgent: 'kaixu-push-action',
      log: reporter.info,
    })
    const title = deployTitle()
    result = await push(
      client,
      digest,
      {
        project: inputs.project,
        draft: inputs.draft,
        wait: inputs.wait,
        timeoutMs: inputs.timeoutMinutes * 60_000,
        concurrency: inputs.concurrency,
        ...(inputs.alias ? { alias: inputs.alias } : {}),
        ...(title ? { title } : {}),
      },
      reporter,
    )
    setOutputs(result)
  } catch (caught) {
    if (caught instanceof PushError) {
      result = caught.result
      setOutputs(result)
    }
    error = getErrorMessage(caught)
    if (caught instanceof Error && caught.cause instanceof DeployTimeoutError) {
      error += ". Raise 'timeout-minutes' to wait longer."
    }
    core.setFailed(error)
  } finally {
    await writeSummary({ project: inputs?.project, result, digestMs, error })
  }
}

// Netlify skips node_modules when the publish folder is the site's base folder; for a workflow
// that is `dir: .`, the checkout itself.
function isWorkspaceRoot(dir: string): boolean {
  const workspace = path.resolve(process.env['GITHUB_WORKSPACE'] ?? process.cwd())
  try {
    return fs.realpathSync(dir) === fs.realpathSync(workspace)
  } catch {
    return false
  }
}
