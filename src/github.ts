/**
 * The deploy title Netlify shows, from the run's commit and branch:
 * `Deploy of 3f2a1c7 (feature-x) by kaixu/push`. Undefined outside a workflow run.
 */
export function deployTitle(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const sha = env['GITHUB_SHA']
  if (!sha) return undefined
  // On pull_request runs GITHUB_REF_NAME is `12/merge`; the head branch reads better.
  const ref = env['GITHUB_HEAD_REF'] || env['GITHUB_REF_NAME']
  return `Deploy of ${sha.slice(0, 7)}${ref ? ` (${ref})` : ''} by kaixu/push`
}
