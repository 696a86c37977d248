import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from '@jest/globals'
import { dotenvText, writeDotenv } from '../src/dotenv.ts'
import type { PushResult } from '../src/deploy.ts'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kaixu-dotenv-'))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

const base: PushResult = {
  filesTotal: 1,
  bytesTotal: 1,
  filesUploaded: 1,
  bytesUploaded: 1,
  timings: {},
}

/** The variables a dotenv reader (GitLab: one `KEY=value` a line, no quotes) would define. */
function parse(text: string): Record<string, string> {
  const vars: Record<string, string> = {}
  for (const line of text.split(/\r\n|\r|\n/)) {
    const at = line.indexOf('=')
    if (at > 0) vars[line.slice(0, at)] = line.slice(at + 1)
  }
  return vars
}

describe('--dotenv', () => {
  it('writes the stable URL, the deploy’s own URL and its log page', () => {
    const file = path.join(tmp, 'deploy.env')
    fs.writeFileSync(file, 'OLD=1\n')
    writeDotenv(
      file,
      {
        ...base,
        siteUrl: 'https://mr-42--site.netlify.app',
        deployUrl: 'https://65a1--site.netlify.app',
        deployLogUrl: 'https://app.netlify.com/sites/site/deploys/65a1',
      },
      () => {},
    )
    expect(fs.readFileSync(file, 'utf8')).toBe(
      'KAIXU_SITE_URL=https://mr-42--site.netlify.app\n' +
        'KAIXU_DEPLOY_URL=https://65a1--site.netlify.app\n' +
        'KAIXU_DEPLOY_LOG_URL=https://app.netlify.com/sites/site/deploys/65a1\n',
    )
  })

  it('leaves out what is not known', () => {
    expect(dotenvText({ ...base, deployUrl: 'https://65a1--site.netlify.app' }, () => {})).toBe(
      'KAIXU_DEPLOY_URL=https://65a1--site.netlify.app\n',
    )
    expect(dotenvText(base, () => {})).toBe('')
  })

  it.each([
    'https://site.netlify.app\nKAIXU_INJECTED=1',
    'https://site.netlify.app\rKAIXU_INJECTED=1',
    'https://site.netlify.app\u2028KAIXU_INJECTED=1',
    'https://site.netlify.app "$(touch pwned)"',
    'javascript:alert(1)',
    'http://evil.example.com',
  ])('never writes %j: a URL that fails the check is left out, with a warning', (hostile) => {
    const warnings: string[] = []
    const text = dotenvText(
      { ...base, siteUrl: hostile, deployUrl: 'https://65a1--site.netlify.app' },
      (m) => warnings.push(m),
    )
    expect(parse(text)).toEqual({ KAIXU_DEPLOY_URL: 'https://65a1--site.netlify.app' })
    expect(text.split('\n')).toEqual(['KAIXU_DEPLOY_URL=https://65a1--site.netlify.app', ''])
    expect(warnings).toEqual([expect.stringContaining('--dotenv: KAIXU_SITE_URL is left out')])
    expect(warnings[0]).not.toMatch(/[\n\r]/)
  })
})
