import fs from 'node:fs'
import path from 'node:path'
import * as core from '@actions/core'
import { getInputs } from './inputs.ts'
import { digestDir } from './files.ts'
import { addSiteFiles, CONFIG_NAME } from './site.ts'
import { bundleFunctions, type FunctionBundle } from './functions.ts'
import { selectFiles } from './select.ts'
import { KaixuPush } from './client/kaixu-push.ts'
import { DeployTimeoutError, PushError } from './deploy.ts'
import { getErrorMessage } from './errors.ts'
import { logLine, redact } from './escape.ts'
import { createGitHubApi, describeGitHubError } from './github.ts'
import { startDeployment } from './github-deployment.ts'
import { renderComment, upsertComment } from './pr-comment.ts'
import { readRunContext } from './run-context.ts'
import { markFinished, saveDeploymentId, savePushId } from './state.ts'
import { deployTitle, resolveTarget } from './target.ts'
import { formatBytes, formatDuration } from './format.ts'
import {
  describeTarget,
  setOutputs,
  setPlanOutputs,
  setTargetOutputs,
  writeSummary,
} from './outputs.ts'
import type { ActionInputs } from './inputs.ts'
import type { PushResult, Reporter } from './deploy.ts'
import type { GitHubApi } from './github.ts'
import type { OpenDeployment } from './github-deployment.ts'
import type { PlanResult } from './plan.ts'
import type { RunContext } from './run-context.ts'
import type { Target } from './target.ts'

// Every line the Action logs goes through here. `core.info` writes raw, so its text is escaped
// (logLine); `core.warning` and `core.debug` are workflow commands that core escapes itself.
const reporter: Reporter = {
  info: (message) => core.info(logLine(message)),
  warning: (message) => core.warning(redact(message)),
  debug: (message) => core.debug(redact(message)),
}

/**
 * The Action: read inputs → decide production or preview → digest `dir` → (dry run: plan and
 * stop) → GitHub deployment in progress → push through the gateway → outputs, deployment status,
 * sticky PR comment. Any failure ends in `core.setFailed`; the job summary is written either way,
 * and GitHub is told about failures too.
 */
export async function run(): Promise<void> {
  const context = readRunContext()
  let inputs: ActionInputs | undefined
  let target: Target | undefined
  let github: GitHubApi | undefined
  let deployment: OpenDeployment | undefined
  let result: PushResult | undefined
  let plan: PlanResult | undefined
  let digestMs: number | undefined
  let functions: FunctionBundle | undefined
  let error: string | undefined
  let skipped: string | undefined
  let reportToGitHub = false
  try {
    inputs = getInputs()
    target = resolveTarget(inputs, context)
    for (const warning of target.warnings) reporter.warning(warning)
    reporter.info(`Deploying to ${describeTarget(target)}: ${target.reason}`)

    // Step 1: without a key there is nothing to deploy with; on a fork's PR that is expected.
    if (!inputs.kaixuKey) {
      const reason = noSecretsReason(context)
      if (!reason) throw new Error(`Input 'kaixu-key' is required and was not supplied`)
      if (inputs.failWithoutCredentials) {
        throw new Error(`${reason} Failing because 'fail-without-credentials' is true.`)
      }
      skipped = reason
      core.notice(`Kaixu Push skipped: ${reason}`)
      core.setOutput('state', 'skipped')
      // A 'pr-number' input is the artifact's claim, and without a token it goes unchecked.
      if (inputs.prNumber === undefined) setTargetOutputs({ target })
      return
    }

    if (inputs.githubToken && context.repository) {
      github = createGitHubApi({
        token: inputs.githubToken,
        apiUrl: context.apiUrl,
        ...context.repository,
      })
    }
    const stale = await checkPrNumber(inputs, context, github)
    if (stale) {
      skipped = stale
      reporter.warning(`Kaixu Push skipped: ${stale}`)
      core.setOutput('state', 'skipped')
      return
    }
    // Only now: the alias and environment may come from a PR number that had to be checked.
    setTargetOutputs({ target })
    // From here on GitHub hears how the push went, failures included; a dry run writes nothing.
    reportToGitHub = !inputs.dryRun

    // Step 2: digest the folder.
    const started = Date.now()
    const digest = await addSiteFiles(
      await digestDir(inputs.dir, {
        skipNodeModules: isWorkspaceRoot(inputs.dir),
        warn: reporter.warning,
        select: await selectFiles(inputs.dir, inputs.include, inputs.exclude),
      }),
      {
        dir: inputs.dir,
        root: workspace(),
        configPath: inputs.netlifyConfigPath,
        warn: reporter.warning,
      },
    )
    digestMs = Date.now() - started
    if (digest.count === 0) {
      throw new Error(
        `Input 'dir': ${inputs.dir} holds no files to deploy (dotfiles and __MACOSX are skipped` +
          `${inputs.include.length + inputs.exclude.length > 0 ? ', as is what include/exclude leave out' : ''})`,
      )
    }
    reporter.info(
      `Digest of ${inputs.dir}: ${digest.count} files, ${formatBytes(digest.totalBytes)} ` +
        `in ${formatDuration(digestMs)}`,
    )
    functions = await bundleFunctions({
      dir: inputs.functionsDir,
      configFile: digest.byPath.get(CONFIG_NAME)?.absPath,
      root: workspace(),
      info: reporter.info,
      warn: reporter.warning,
    })
    const kaixu = new KaixuPush({
      gatewayUrl: inputs.gatewayUrl,
      apiKey: inputs.kaixuKey,
      userAgent: 'kaixu-push-action',
      reporter,
    })
    const timeoutMs = inputs.timeoutMinutes * 60_000

    // Step 3 (dry run): ask the gateway what the push would do, then stop; nothing is written.
    if (inputs.dryRun) {
      plan = await kaixu.planDigest(digest, {
        project: inputs.project,
        draft: target.draft,
        ...(target.alias ? { alias: target.alias } : {}),
        timeoutMs,
        functions,
      })
      setPlanOutputs(plan)
      return
    }

    // Step 3: record the deployment on GitHub, then push through the gateway.
    if (github && inputs.githubDeployment && context.sha) {
      deployment = await startDeployment(
        github,
        {
          sha: context.sha,
          environment: target.environment,
          production: target.production,
          project: inputs.project,
          logUrl: context.runUrl,
        },
        reporter,
      )
      if (deployment) saveDeploymentId(deployment.id)
    }
    const title = deployTitle(context, target, inputs.deployMessage)
    result = await kaixu.pushDigest(digest, {
      project: inputs.project,
      draft: target.draft,
      wait: inputs.wait,
      timeoutMs,
      concurrency: inputs.concurrency,
      ...(target.alias ? { alias: target.alias } : {}),
      ...(title ? { title } : {}),
      // Saved at once: a cancelled job's post step cancels this push (post.ts).
      onInit: savePushId,
      functions,
    })
    setOutputs(result)
  } catch (caught) {
    if (caught instanceof PushError) {
      result = caught.result
      setOutputs(result)
    }
    // Redacted here, once: this text goes to the log, the deployment, the comment and the summary.
    error = redact(getErrorMessage(caught))
    if (caught instanceof Error && caught.cause instanceof DeployTimeoutError) {
      error += ". Raise 'timeout-minutes' to wait longer."
    }
    core.setFailed(error)
  } finally {
    await functions?.dispose()
    // Step 4: tell GitHub, failures included.
    let commentUrl: string | undefined
    let commentId: number | undefined
    if (reportToGitHub && inputs && target) {
      const state = error ? (result?.state === 'error' ? 'error' : 'failed') : result?.state
      const siteUrl = result?.siteUrl ?? result?.deployUrl
      await deployment?.finish({
        state: state === 'ready' ? 'success' : error ? 'failure' : 'in_progress',
        environmentUrl: siteUrl,
        description:
          state === 'ready'
            ? `Deployed ${inputs.project}`
            : error
              ? `Failed: ${error}`
              : `Queued at Netlify (state ${state ?? 'unknown'}); not waited for`,
      })
      if (github && inputs.comment && target.prNumber !== undefined) {
        const body = renderComment({
          project: inputs.project,
          sha: context.sha,
          state: state ?? 'failed',
          production: target.production,
          siteUrl,
          deployUrl: result?.deployUrl,
          deployLogUrl: result?.deployLogUrl,
          filesTotal: result?.filesTotal,
          filesChanged: result?.filesRequired,
          filesUploaded: result?.filesUploaded,
          bytesUploaded: result?.bytesUploaded,
          error: result?.errorMessage ?? error,
          runUrl: context.runUrl,
        })
        try {
          const written = await upsertComment(
            github,
            target.prNumber,
            inputs.project,
            body,
            inputs.commentAuthor,
          )
          commentUrl = written.comment.url
          commentId = written.comment.id
          reporter.info(
            `${written.created ? 'Commented on' : 'Updated the comment on'} PR #${target.prNumber}`,
          )
        } catch (caught) {
          reporter.warning(
            `Could not comment on PR #${target.prNumber}: ` +
              describeGitHubError(caught, 'pull-requests: write'),
          )
        }
      }
    }
    setTargetOutputs({ deploymentId: deployment?.id, commentId })
    await writeSummary({
      project: inputs?.project,
      result,
      plan,
      target,
      sha: context.sha,
      digestMs,
      error,
      skipped,
      commentUrl,
      deploymentId: deployment?.id,
    })
    markFinished()
  }
}

/**
 * Why a run has no secrets when GitHub withholds them by design: a fork's pull request, or a
 * Dependabot run (which gets Dependabot secrets, not Actions secrets). Undefined otherwise: then
 * a missing key is a mistake in the workflow.
 */
function noSecretsReason(context: RunContext): string | undefined {
  if (context.forPullRequest && context.fromFork) {
    return (
      'this pull request comes from a fork, and GitHub gives such runs no secrets, so there is ' +
      'no Kaixu key. Nothing was deployed. To preview forks, see the workflow_run recipe in the ' +
      'README.'
    )
  }
  if (context.actor === 'dependabot[bot]') {
    return (
      'Dependabot runs get no Actions secrets, so there is no Kaixu key. Nothing was deployed. ' +
      'Add the key to the Dependabot secrets to preview its pull requests.'
    )
  }
  return undefined
}

/**
 * A `workflow_run` gets its PR number from the triggering run's artifact, which a fork's
 * author controls. Deploying as `pr-<n>` and commenting on PR n is only right when PR n's head is
 * the commit that run built. Answers why not to deploy when it is not (a newer push moved the
 * PR on, or the number is wrong); throws when it cannot be checked.
 */
async function checkPrNumber(
  inputs: ActionInputs,
  context: RunContext,
  github: GitHubApi | undefined,
): Promise<string | undefined> {
  if (inputs.prNumber === undefined || context.upstreamHeadSha === undefined) return undefined
  if (!github) {
    throw new Error(`Input 'pr-number' cannot be checked without 'github-token'`)
  }
  let head: string
  try {
    head = await github.pullRequestHeadSha(inputs.prNumber)
  } catch (caught) {
    throw new Error(
      `Input 'pr-number': could not read PR #${inputs.prNumber}: ` +
        describeGitHubError(caught, 'pull-requests: read'),
      { cause: caught },
    )
  }
  if (head === context.upstreamHeadSha) return undefined
  return (
    `PR #${inputs.prNumber} is at ${head.slice(0, 7)}, but the run that built this site was for ` +
    `${context.upstreamHeadSha.slice(0, 7)}. Nothing was deployed: a newer push gets its own ` +
    'run, and a PR number that does not match the build is never trusted.'
  )
}

// Netlify skips node_modules when the publish folder is the site's base folder; for a workflow
// that is `dir: .`, the checkout itself.
function isWorkspaceRoot(dir: string): boolean {
  try {
    return fs.realpathSync(dir) === fs.realpathSync(workspace())
  } catch {
    return false
  }
}

/** The checkout: the project's root, where a `netlify.toml` or `netlify/` folder is looked for. */
function workspace(): string {
  return path.resolve(process.env['GITHUB_WORKSPACE'] ?? process.cwd())
}
