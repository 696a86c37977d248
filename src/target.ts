// Production or preview: decided once from the run and the inputs, then used for the deploy,
// the GitHub deployment, the comment and the summary alike.
import type { RunContext } from './run-context.ts'

/** What the user asked for; every field may be left to the defaults. */
export interface TargetInputs {
  productionBranch?: string | undefined
  draft?: boolean | undefined
  alias?: string | undefined
  environment?: string | undefined
  prNumber?: number | undefined
}

/** Where this deploy goes. */
export interface Target {
  /** Published as the site's production deploy (not a draft). */
  readonly production: boolean
  /** Sent as `draft` to the gateway: the deploy gets its own URL and production is untouched. */
  readonly draft: boolean
  readonly alias: string | undefined
  /** The GitHub deployment environment. */
  readonly environment: string
  /** The pull request to comment on, if any. */
  readonly prNumber: number | undefined
  readonly productionBranch: string
  /** Why, in one line for the log. */
  readonly reason: string
  /** Things the user should know (an input that was ignored, say). */
  readonly warnings: readonly string[]
}

/**
 * Production when the run is for the production branch (default: the repository's default
 * branch, else `main`) and not for a pull request; otherwise a draft preview, aliased
 * `pr-<number>` on pull requests. Explicit `draft` and `alias` inputs win.
 */
export function resolveTarget(inputs: TargetInputs, context: RunContext): Target {
  const productionBranch = inputs.productionBranch || context.defaultBranch || 'main'
  const prNumber = inputs.prNumber ?? context.pullRequest?.number
  const warnings: string[] = []

  let reason: string
  let wantsProduction: boolean
  if (prNumber !== undefined || context.forPullRequest) {
    wantsProduction = false
    reason = prNumber === undefined ? 'a pull request' : `pull request #${prNumber}`
  } else if (!context.hasRef) {
    // Outside a workflow (a local run of the bundle) there is no branch to judge by.
    wantsProduction = true
    reason = 'no branch known (not a workflow run)'
  } else if (context.branch === productionBranch) {
    wantsProduction = true
    reason = `branch ${context.branch} is the production branch`
  } else {
    wantsProduction = false
    reason = context.branch
      ? `branch ${context.branch} is not the production branch (${productionBranch})`
      : `not a branch of this repository (production branch: ${productionBranch})`
  }
  if (context.forPullRequest && prNumber === undefined) {
    warnings.push(
      "This run is for a pull request but names none: set 'pr-number' for a pr-<number> alias " +
        'and a comment.',
    )
  }

  const draft = inputs.draft ?? !wantsProduction
  const production = !draft
  if (inputs.draft !== undefined && inputs.draft === wantsProduction) {
    reason += `; 'draft: ${inputs.draft}' overrides`
  }
  let alias = inputs.alias ?? (prNumber === undefined ? undefined : `pr-${prNumber}`)
  if (production && alias !== undefined) {
    // Netlify treats an aliased deploy as a branch deploy, never as production.
    if (inputs.alias !== undefined) {
      warnings.push(`Input 'alias' (${alias}) is ignored: this deploy goes to production.`)
    }
    alias = undefined
  }
  return {
    production,
    draft,
    alias,
    environment: inputs.environment || (production ? 'production' : 'preview'),
    prNumber,
    productionBranch,
    reason,
    warnings,
  }
}

/**
 * The deploy title Netlify shows: the `deploy-message` input, else the PR's title or the commit's
 * subject, else `Deploy of 3f2a1c7 (feature-x) by kaixu/push` (with the PR number on previews).
 * Undefined when none of these is known.
 */
export function deployTitle(
  context: RunContext,
  target: Target,
  message?: string,
): string | undefined {
  // The gateway refuses control and bidirectional characters in a title (a 400 would fail the
  // push over a commit subject), and Netlify shows one line: so they become spaces here.
  const chosen = cleanTitle(message ?? context.subject ?? '')
  if (chosen !== '') return chosen
  if (!context.sha) return undefined
  const branch = context.pullRequest?.headBranch ?? context.branch
  const pr = target.prNumber === undefined ? '' : `PR #${target.prNumber}: `
  return `${pr}Deploy of ${context.sha.slice(0, 7)}${branch ? ` (${branch})` : ''} by kaixu/push`
}

// The gateway's limit for a deploy title.
const TITLE_MAX = 500

/** One line of at most `TITLE_MAX` characters, without control or bidirectional characters. */
export function cleanTitle(value: string): string {
  const flat = value
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, ' ')
    .replace(/[\ud800-\udfff]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim()
  // Array.from splits by code point, so no surrogate pair is cut in half.
  const points = Array.from(flat)
  return points.length <= TITLE_MAX ? flat : points.slice(0, TITLE_MAX).join('').trimEnd()
}
