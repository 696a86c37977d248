// `kaixu-push --dotenv FILE`: the deploy's URLs as `KEY=value` lines, for GitLab's dotenv report
// artifact (`environment:url: $KAIXU_SITE_URL`) or any CI that sources such a file. GitLab reads
// the file without quotes or escapes, one variable a line, so a value holding a line break would
// define a variable of its own: only values made of URL characters are written (the same check as
// the Action's outputs), whatever the gateway answered.
import fs from 'node:fs'
import { parsePublishedUrl } from './validate.ts'
import type { PushResult } from './deploy.ts'

/** The variables written, by name, and the result field each comes from. */
export const DOTENV_VARIABLES = {
  /** The stable URL: the merge request's alias URL, production, or a plain draft's own URL. */
  KAIXU_SITE_URL: 'siteUrl',
  /** This deploy's own URL, which never changes. */
  KAIXU_DEPLOY_URL: 'deployUrl',
  /** The deploy's page in Netlify's admin, when the gateway names the site. */
  KAIXU_DEPLOY_LOG_URL: 'deployLogUrl',
} as const satisfies Record<string, keyof PushResult>

/** The file's text: one `NAME=url` line per known URL; a URL that fails the check is left out. */
export function dotenvText(result: PushResult, warn: (message: string) => void): string {
  let text = ''
  for (const [name, field] of Object.entries(DOTENV_VARIABLES)) {
    const value = result[field]
    if (value === undefined) continue
    try {
      text += `${name}=${parsePublishedUrl(value, name)}\n`
    } catch (error) {
      warn(`--dotenv: ${name} is left out: ${(error as Error).message}`)
    }
  }
  return text
}

/** Writes (replaces) `file` with the result's URLs. */
export function writeDotenv(file: string, result: PushResult, warn: (m: string) => void): void {
  fs.writeFileSync(file, dotenvText(result, warn))
}
