import * as core from '@actions/core'
import { getErrorMessage } from './errors.ts'
import { formatBytes, formatCents, formatDuration } from './format.ts'
import { formatBudget } from './metering.ts'
import type { PushResult } from './deploy.ts'

/** Sets the step outputs that are known; a push that failed early leaves the rest unset. */
export function setOutputs(result: PushResult): void {
  const outputs: Record<string, string | number | undefined> = {
    'push-id': result.pushId,
    'deploy-id': result.deployId,
    'deploy-url': result.deployUrl,
    'site-url': result.siteUrl,
    state: result.state,
    'files-total': result.filesTotal,
    'files-uploaded': result.filesUploaded,
    'bytes-uploaded': result.bytesUploaded,
    'cost-cents': result.costCents,
  }
  for (const [name, value] of Object.entries(outputs)) {
    if (value !== undefined) core.setOutput(name, value)
  }
}

/** What the job summary shows; every field but `project` may be missing after an early failure. */
export interface SummaryData {
  project?: string
  result?: PushResult
  /** Time spent on the digest. */
  digestMs?: number
  /** The failure message, when the step failed. */
  error?: string
}

/**
 * Writes the job summary table: project, state, URLs, files, bytes, time per phase, error.
 * Never throws: a summary that cannot be written (no `GITHUB_STEP_SUMMARY` outside the runner)
 * must not fail or hide the deploy's own outcome.
 */
export async function writeSummary(data: SummaryData): Promise<void> {
  const { result } = data
  const heading = data.error ? 'Kaixu Push failed' : `Kaixu Push: ${result?.state ?? 'done'}`
  const rows: [string, string][] = []
  if (data.project) rows.push(['Project', escape(data.project)])
  if (result?.state) rows.push(['State', escape(result.state)])
  if (result?.deployUrl) rows.push(['Deploy URL', link(result.deployUrl)])
  if (result?.siteUrl) rows.push(['Site URL', link(result.siteUrl)])
  if (result) {
    const required = result.filesRequired === undefined ? '' : `, ${result.filesRequired} required`
    rows.push(['Files', `${result.filesTotal} total${required}, ${result.filesUploaded} uploaded`])
    rows.push([
      'Bytes',
      `${formatBytes(result.bytesUploaded)} uploaded of ${formatBytes(result.bytesTotal)}`,
    ])
    if (result.costCents !== undefined) rows.push(['Cost', formatCents(result.costCents)])
    if (result.limits) {
      rows.push([`Budget for ${escape(result.limits.month)}`, escape(formatBudget(result.limits))])
    }
  }
  const phases = [
    ['digest', data.digestMs],
    ['init', result?.timings.initMs],
    ['upload', result?.timings.uploadMs],
    ['finalize', result?.timings.finalizeMs],
  ].filter((phase): phase is [string, number] => phase[1] !== undefined)
  if (phases.length > 0) {
    rows.push(['Time', phases.map(([name, ms]) => `${name} ${formatDuration(ms)}`).join(' · ')])
  }
  if (result?.pushId) rows.push(['Push id', `<code>${escape(result.pushId)}</code>`])
  if (result?.deployId) rows.push(['Deploy id', `<code>${escape(result.deployId)}</code>`])
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

// Summary cells are raw HTML; gateway messages and paths must not inject markup.
function escape(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
}

function link(url: string): string {
  const safe = escape(url)
  return /^https?:\/\//i.test(url) ? `<a href="${safe}">${safe}</a>` : safe
}
