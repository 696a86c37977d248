// The sticky pull request comment: one per project and PR, found again by a hidden marker and
// edited on every push, so a PR with ten pushes has one comment, not ten.
import { createHash } from 'node:crypto'
import { markdownCode, markdownLink } from './escape.ts'
import { formatBytes } from './format.ts'
import type { GitHubApi, IssueComment } from './github.ts'

/** What the comment reports about one push. */
export interface CommentReport {
  project: string
  /** The commit deployed. */
  sha?: string | undefined
  /** `ready`, `error`, `finalizing`, … or `failed` when the step failed before Netlify decided. */
  state: string
  production: boolean
  /** The stable URL (alias or production). */
  siteUrl?: string | undefined
  /** The unique URL of this deploy. */
  deployUrl?: string | undefined
  /** The deploy's page in Netlify's admin. */
  deployLogUrl?: string | undefined
  filesTotal?: number | undefined
  filesChanged?: number | undefined
  filesUploaded?: number | undefined
  bytesUploaded?: number | undefined
  error?: string | undefined
  runUrl?: string | undefined
  /** Injected in tests. */
  now?: Date
}

/**
 * The hidden marker of a project's comment: a hash, so the project's id stays out of the page
 * source and any name is safe inside an HTML comment.
 */
export function commentMarker(project: string): string {
  const hash = createHash('sha256').update(project).digest('hex').slice(0, 16)
  return `<!-- kaixu-push:project=${hash} -->`
}

/** The comment's Markdown, marker first. */
export function renderComment(report: CommentReport): string {
  const { state } = report
  const icon = state === 'ready' ? '✅' : state === 'error' || state === 'failed' ? '❌' : '⏳'
  const kind = report.production ? 'Production' : 'Preview'
  const headline =
    state === 'ready'
      ? `${kind} ready`
      : state === 'error' || state === 'failed'
        ? `${kind} deploy failed`
        : `${kind} deploy ${markdownCode(state)}`
  // Every value from outside (gateway, files, errors) goes through markdownCode or markdownLink.
  const rows: [string, string][] = []
  if (report.siteUrl) rows.push([kind, markdownLink(report.siteUrl)])
  if (report.deployUrl && report.deployUrl !== report.siteUrl) {
    rows.push(['This deploy', markdownLink(report.deployUrl)])
  }
  if (report.deployLogUrl) rows.push(['Deploy log', markdownLink(report.deployLogUrl)])
  if (report.sha) rows.push(['Commit', markdownCode(report.sha.slice(0, 7))])
  rows.push(['State', markdownCode(state)])
  if (report.filesTotal !== undefined) {
    const changed = report.filesChanged === undefined ? '' : `, ${report.filesChanged} changed`
    const uploaded =
      report.filesUploaded === undefined
        ? ''
        : `, ${report.filesUploaded} uploaded (${formatBytes(report.bytesUploaded ?? 0)})`
    rows.push(['Files', `${report.filesTotal} total${changed}${uploaded}`])
  }
  if (report.error) rows.push(['Error', markdownCode(report.error)])

  const when = (report.now ?? new Date()).toISOString().slice(0, 16).replace('T', ' ')
  const run = report.runUrl ? ` by ${markdownLink(report.runUrl, 'this run')}` : ''
  return [
    commentMarker(report.project),
    `### ${icon} Kaixu Push · ${markdownCode(report.project)} · ${headline}`,
    '',
    '| | |',
    '| --- | --- |',
    ...rows.map(([name, value]) => `| **${name}** | ${value} |`),
    '',
    `<sub>Updated ${when} UTC${run}. This comment is edited on every push.</sub>`,
    '',
  ].join('\n')
}

/** The login an Actions `GITHUB_TOKEN` comments as. */
export const ACTIONS_BOT = 'github-actions[bot]'

/**
 * Whose comments count as ours: the token's own login when GitHub tells it (a personal token),
 * else `author` (the `comment-author` input, for a GitHub App token: `<app>[bot]`), else
 * `github-actions[bot]`. An Actions `GITHUB_TOKEN` cannot read `GET /user`; any other bot on the
 * PR (Renovate, a linter) quoting our marker must not have its comment taken for ours.
 */
export function ownedBy(
  viewer: string | undefined,
  author: string = ACTIONS_BOT,
): (login: string | undefined) => boolean {
  const ours = viewer ?? author
  return (login) => login === ours
}

/**
 * Creates the project's comment on the PR, or edits the one already there: the first comment
 * carrying the marker and written by us, searched across every page.
 */
export async function upsertComment(
  api: Pick<GitHubApi, 'viewerLogin' | 'findComment' | 'createComment' | 'updateComment'>,
  issue: number,
  project: string,
  body: string,
  author?: string,
): Promise<{ comment: IssueComment; created: boolean }> {
  const marker = commentMarker(project)
  const ours = ownedBy(await api.viewerLogin(), author)
  const existing = await api.findComment(
    issue,
    (comment) => ours(comment.login) && comment.body.includes(marker),
  )
  if (existing) return { comment: await api.updateComment(existing.id, body), created: false }
  return { comment: await api.createComment(issue, body), created: true }
}
