import * as core from '@actions/core'
import { getErrorMessage } from './errors.ts'
import { htmlLink as link, htmlText as escape } from './escape.ts'
import { formatBytes, formatCents, formatDuration } from './format.ts'
import { formatBudget } from './metering.ts'
import type { PushResult } from './deploy.ts'
import type { PlanResult } from './plan.ts'
import type { Target } from './target.ts'

/** Sets the step outputs that are known; a push that failed early leaves the rest unset. */
export function setOutputs(result: PushResult): void {
  setEach({
    'push-id': result.pushId,
    'deploy-id': result.deployId,
    'deploy-url': result.deployUrl,
    'site-url': result.siteUrl,
    'deploy-log-url': result.deployLogUrl,
    state: result.state,
    'files-total': result.filesTotal,
    'files-changed': result.filesRequired,
    'files-uploaded': result.filesUploaded,
    'bytes-uploaded': result.bytesUploaded,
    'cost-cents': result.costCents,
  })
}

/** The outputs of a dry run: `state` is `planned`, and nothing was uploaded. */
export function setPlanOutputs(plan: PlanResult): void {
  setEach({
    state: 'planned',
    'files-total': plan.filesTotal,
    'files-changed': plan.filesToUpload,
    'files-uploaded': 0,
    'bytes-uploaded': 0,
    'estimated-cost-cents': plan.estimatedCostCents,
  })
}

/** Where the deploy went and what GitHub recorded, known before and after the push. */
export function setTargetOutputs(values: {
  target?: Target | undefined
  deploymentId?: number | undefined
  commentId?: number | undefined
}): void {
  setEach({
    environment: values.target?.environment,
    production: values.target === undefined ? undefined : String(values.target.production),
    alias: values.target?.alias,
    'github-deployment-id': values.deploymentId,
    'comment-id': values.commentId,
  })
}

function setEach(outputs: Record<string, string | number | undefined>): void {
  for (const [name, value] of Object.entries(outputs)) {
    if (value !== undefined) core.setOutput(name, value)
  }
}

/** What the job summary shows; every field but `project` may be missing after an early failure. */
export interface SummaryData {
  project?: string | undefined
  result?: PushResult | undefined
  /** Set for a dry run instead of `result`. */
  plan?: PlanResult | undefined
  target?: Target | undefined
  /** The commit deployed. */
  sha?: string | undefined
  /** Time spent on the digest. */
  digestMs?: number | undefined
  /** The failure message, when the step failed. */
  error?: string | undefined
  /** Why nothing was deployed (no credentials on a fork's PR). */
  skipped?: string | undefined
  /** The PR comment written, if any. */
  commentUrl?: string | undefined
  /** The GitHub deployment recorded, if any. */
  deploymentId?: number | undefined
}

/**
 * Writes the job summary table: project, target, state, URLs, files total / changed / uploaded,
 * bytes, time per phase, cost, Netlify's error and the step's. Never throws: a summary that
 * cannot be written (no `GITHUB_STEP_SUMMARY` outside the runner) must not fail or hide the
 * deploy's own outcome.
 */
export async function writeSummary(data: SummaryData): Promise<void> {
  const { result, plan } = data
  const state = data.skipped
    ? 'skipped'
    : plan
      ? 'dry run'
      : data.error
        ? 'failed'
        : (result?.state ?? 'done')
  const heading = `Kaixu Push${data.project ? ` · ${data.project}` : ''} · ${state}`
  const rows: [string, string][] = []
  if (data.project) rows.push(['Project', escape(data.project)])
  if (data.target) rows.push(['Target', escape(describeTarget(data.target))])
  if (data.sha) rows.push(['Commit', `<code>${escape(data.sha.slice(0, 7))}</code>`])
  if (data.skipped) rows.push(['Skipped', escape(data.skipped)])
  if (result?.state) rows.push(['State', escape(result.state)])
  if (result?.siteUrl) rows.push(['Site URL', link(result.siteUrl)])
  if (result?.deployUrl) rows.push(['Deploy URL', link(result.deployUrl)])
  if (result?.deployLogUrl) rows.push(['Deploy log', link(result.deployLogUrl)])
  if (result) {
    const changed = result.filesRequired === undefined ? '' : `, ${result.filesRequired} changed`
    rows.push(['Files', `${result.filesTotal} total${changed}, ${result.filesUploaded} uploaded`])
    rows.push([
      'Bytes',
      `${formatBytes(result.bytesUploaded)} uploaded of ${formatBytes(result.bytesTotal)}`,
    ])
    if (result.costCents !== undefined) rows.push(['Cost', formatCents(result.costCents)])
  }
  if (plan) {
    rows.push([
      'Files',
      `${plan.filesTotal} total, ${plan.filesDistinct} distinct, ` +
        `${plan.filesToUpload} would be uploaded`,
    ])
    const bytes = plan.bytesToUpload === undefined ? 'unknown' : formatBytes(plan.bytesToUpload)
    rows.push(['Bytes', `${bytes} would be uploaded of ${formatBytes(plan.bytesTotal)}`])
    if (plan.estimatedCostCents !== undefined) {
      rows.push(['Estimated cost', formatCents(plan.estimatedCostCents)])
    }
    rows.push(['Dry run', 'Nothing was deployed or billed, and GitHub was not written to.'])
  }
  const limits = result?.limits ?? plan?.limits
  if (limits) rows.push([`Budget for ${escape(limits.month)}`, escape(formatBudget(limits))])
  const phases = [
    ['digest', data.digestMs],
    ['plan', plan?.planMs],
    ['init', result?.timings.initMs],
    ['upload', result?.timings.uploadMs],
    ['finalize', result?.timings.finalizeMs],
  ].filter((phase): phase is [string, number] => phase[1] !== undefined)
  if (phases.length > 0) {
    rows.push(['Time', phases.map(([name, ms]) => `${name} ${formatDuration(ms)}`).join(' · ')])
  }
  if (result?.delivery === 'zip')
    rows.push(['Delivery', 'one zip deploy (Netlify lacked nearly every file)'])
  if (result?.delivery === 'zip-fallback') {
    rows.push([
      'Delivery',
      'file by file: Netlify refused the zip deploy, so the gateway sent each file',
    ])
  }
  if (result?.pushId) rows.push(['Push id', `<code>${escape(result.pushId)}</code>`])
  if (result?.deployId) rows.push(['Deploy id', `<code>${escape(result.deployId)}</code>`])
  if (data.deploymentId !== undefined) {
    rows.push(['GitHub deployment', `<code>${data.deploymentId}</code>`])
  }
  if (data.commentUrl) rows.push(['PR comment', link(data.commentUrl)])
  if (result?.errorMessage) rows.push(['Netlify error', escape(result.errorMessage)])
  if (data.error) rows.push(['Error', escape(data.error)])

  try {
    await core.summary
      .addHeading(escape(heading), 3)
      .addTable(rows.map(([name, value]) => [{ data: name, header: true }, value]))
      .write()
  } catch (error) {
    core.debug(`No job summary written: ${getErrorMessage(error)}`)
  } finally {
    core.summary.emptyBuffer()
  }
}

/** `Preview (draft, alias pr-12, environment preview)` or `Production (environment production)`. */
export function describeTarget(target: Target): string {
  const parts = [target.draft ? 'draft' : undefined, target.alias && `alias ${target.alias}`]
  parts.push(`environment ${target.environment}`)
  const detail = parts.filter(Boolean).join(', ')
  return `${target.production ? 'Production' : 'Preview'} (${detail})`
}
