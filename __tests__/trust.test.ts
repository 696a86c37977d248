// Issue 17, "The Action trusts nothing it did not make": the unit-level findings. The end-to-end
// ones (through dist/index.js against a hostile gateway) are in trust-e2e.test.ts.
import fs from 'node:fs'
import * as core from '@actions/core'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals'
import {
  htmlLink,
  htmlText,
  keepSecret,
  logLine,
  markdownCode,
  markdownLink,
  redact,
} from '../src/escape.ts'
import { digestDir } from '../src/files.ts'
import { readRunContext } from '../src/run-context.ts'
import { resolveTarget } from '../src/target.ts'
import { isLoopback, parseGatewayUrl, parsePublishedUrl } from '../src/validate.ts'
import { pushRecord } from 'kaixu-contract'

describe('symlinks follow the publish rules by their target', () => {
  let root: string
  beforeEach(async () => {
    root = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kaixu-trust-'))
  })
  afterEach(async () => {
    await fs.promises.rm(root, { recursive: true, force: true })
  })

  it('never deploys .env, .git/config or .git through a link with an innocent name', async () => {
    // `dir: .` after actions/checkout: credentials persisted in .git/config.
    await fs.promises.mkdir(path.join(root, '.git'))
    await fs.promises.writeFile(path.join(root, '.git', 'config'), 'extraheader = AUTHORIZATION')
    await fs.promises.writeFile(path.join(root, '.env'), 'SECRET=1')
    await fs.promises.mkdir(path.join(root, '__MACOSX'))
    await fs.promises.writeFile(path.join(root, '__MACOSX', 'x'), 'x')
    await fs.promises.writeFile(path.join(root, 'index.html'), '<h1>hi</h1>')
    await fs.promises.symlink('.env', path.join(root, 'env.txt'))
    await fs.promises.symlink('.git/config', path.join(root, 'gitconfig.txt'))
    await fs.promises.symlink('.git', path.join(root, 'gitdir'))
    await fs.promises.symlink('__MACOSX', path.join(root, 'mac'))
    await fs.promises.mkdir(path.join(root, 'sub'))
    await fs.promises.symlink('../.git/config', path.join(root, 'sub', 'deep.txt'))
    const warnings: string[] = []

    const digest = await digestDir(root, { warn: (m) => warnings.push(m) })

    expect(Object.keys(digest.files)).toEqual(['index.html'])
    expect(warnings).toEqual(
      expect.arrayContaining([
        expect.stringContaining(`'env.txt': a symlink to '.env'`),
        expect.stringContaining(`'gitdir': a symlink to '.git'`),
        expect.stringContaining(`'sub/deep.txt': a symlink to '.git/config'`),
      ]),
    )
  })

  it('still follows links to ordinary files, and to .well-known', async () => {
    await fs.promises.mkdir(path.join(root, '.well-known'))
    await fs.promises.writeFile(path.join(root, '.well-known', 'security.txt'), 'x')
    await fs.promises.writeFile(path.join(root, 'a.html'), 'a')
    await fs.promises.symlink('a.html', path.join(root, 'b.html'))
    await fs.promises.symlink('.well-known/security.txt', path.join(root, 'security.txt'))

    const digest = await digestDir(root)

    expect(Object.keys(digest.files)).toEqual([
      '.well-known/security.txt',
      'a.html',
      'b.html',
      'security.txt',
    ])
  })

  it('skips a link into node_modules when node_modules is skipped', async () => {
    await fs.promises.mkdir(path.join(root, 'node_modules', 'pkg'), { recursive: true })
    await fs.promises.writeFile(path.join(root, 'node_modules', 'pkg', 'x.js'), 'x')
    await fs.promises.writeFile(path.join(root, 'index.html'), 'i')
    await fs.promises.symlink('node_modules/pkg', path.join(root, 'vendor'))

    expect(Object.keys((await digestDir(root, { skipNodeModules: true })).files)).toEqual([
      'index.html',
    ])
    expect(Object.keys((await digestDir(root)).files)).toHaveLength(3)
  })
})

describe('isLoopback parses the address', () => {
  it.each(['localhost', 'site-1.localhost', '127.0.0.1', '127.1.2.3', '[::1]'])(
    '%s is loopback',
    (host) => {
      expect(isLoopback(host)).toBe(true)
    },
  )

  it.each(['127.evil.com', '127.0.0.1.nip.io', 'localhost.evil.com', '128.0.0.1', '10.0.0.1'])(
    '%s is not',
    (host) => {
      expect(isLoopback(host)).toBe(false)
    },
  )

  it('warns about plain http to a host that only starts like a loopback address', () => {
    const warnings: string[] = []
    parseGatewayUrl('http://127.evil.com/', 'gateway-url', (m) => warnings.push(m))
    parseGatewayUrl('http://127.0.0.1:8080/', 'gateway-url', (m) => warnings.push(m))
    expect(warnings).toEqual(['gateway-url uses plain http: the Kaixu key travels unencrypted'])
  })
})

describe('parsePublishedUrl', () => {
  it.each([
    'https://pr-7--site.netlify.app',
    'https://site.example.com/',
    'https://abc123--site.netlify.app/path/x.html',
    'http://127.0.0.1:8888/sites/x/',
    'http://localhost:3000',
    'http://abc--site-1.localhost:42597',
  ])('takes %s', (url) => {
    expect(parsePublishedUrl(url, 'site_url')).toBe(url)
  })

  it.each([
    'https://x"; echo PWNED-$GITHUB_TOKEN; echo "',
    'https://x$(id).example.com',
    'https://x.example.com/`id`',
    'javascript:alert(1)',
    'JAVASCRIPT:alert(1)',
    'data:text/html,hi',
    'http://site.example.com',
    'http://127.evil.com',
    'https://x.example.com/\n::set-output name=x::y',
    'https://x.example.com/ a',
    'https://x.example.com/)![i](https://evil/i.png',
    "https://x.example.com/'",
    'https://user:pass@x.example.com',
    'https://x.example.com/<script>',
    '',
  ])('refuses %j', (url) => {
    expect(() => parsePublishedUrl(url, 'site_url')).toThrow(/^site_url is not a URL to publish/)
  })

  it('quotes the refused value on one line', () => {
    expect(() => parsePublishedUrl('https://a\n::add-mask::x', 'site_url')).toThrow(
      'site_url is not a URL to publish (only letters, digits and URL punctuation are taken): ' +
        '"https://a\\n::add-mask::x"',
    )
  })
})

describe('a workflow_run deploys to production only after a push, dispatch or schedule here', () => {
  let tmp: string
  beforeEach(async () => {
    tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kaixu-trust-run-'))
  })
  afterEach(async () => {
    await fs.promises.rm(tmp, { recursive: true, force: true })
  })

  function upstream(event: string, headRepository: unknown = { full_name: 'acme/site' }) {
    const file = path.join(tmp, `${event}-${String(Math.random()).slice(2)}.json`)
    fs.writeFileSync(
      file,
      JSON.stringify({
        workflow_run: {
          event,
          head_sha: 'a'.repeat(40),
          head_branch: 'main',
          head_repository: headRepository,
          pull_requests: [],
        },
        repository: { full_name: 'acme/site', default_branch: 'main' },
      }),
    )
    const context = readRunContext({
      GITHUB_REPOSITORY: 'acme/site',
      GITHUB_EVENT_PATH: file,
      GITHUB_EVENT_NAME: 'workflow_run',
      GITHUB_REF: 'refs/heads/main',
    })
    return { context, target: resolveTarget({}, context) }
  }

  it.each(['push', 'workflow_dispatch', 'schedule'])('%s on main is production', (event) => {
    expect(upstream(event).target.production).toBe(true)
  })

  it.each(['issue_comment', 'pull_request_target', 'workflow_run', 'release', ''])(
    '%j on main is a preview',
    (event) => {
      const { context, target } = upstream(event)
      expect(context.branch).toBeUndefined()
      expect(target.production).toBe(false)
    },
  )

  it('a deleted fork (head_repository: null) is a fork, as on pull_request', () => {
    const { context, target } = upstream('push', null)
    expect(context.fromFork).toBe(true)
    expect(target.production).toBe(false)
  })
})

/**
 * The shell text of every `run:` step in a workflow: the inline value, or the indented lines of a
 * `run: |` / `run: >` block.
 */
function runScripts(yaml: string): string[] {
  const lines = yaml.split('\n')
  const scripts: string[] = []
  lines.forEach((line, i) => {
    const match = /^(\s*)(?:- )?run:\s*(.*)$/.exec(line)
    if (!match) return
    const indent = match[1]!.length
    const value = match[2]!
    if (!/^[|>][-+]?$/.test(value)) return void scripts.push(value)
    const block: string[] = []
    for (let j = i + 1; j < lines.length; j++) {
      const next = lines[j]!
      if (next.trim() !== '' && next.length - next.trimStart().length <= indent) break
      block.push(next)
    }
    scripts.push(block.join('\n'))
  })
  return scripts
}

describe('README and examples pass expressions to run: through env:', () => {
  const root = path.resolve(import.meta.dirname, '..')
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8')
  const sources = [
    ...[...readme.matchAll(/```ya?ml\n([\s\S]*?)```/g)].map(
      (m, i) => [`README.md block ${i + 1}`, m[1]!] as const,
    ),
    ...fs
      .readdirSync(path.join(root, 'examples', 'workflows'))
      .map(
        (name) =>
          [name, fs.readFileSync(path.join(root, 'examples', 'workflows', name), 'utf8')] as const,
      ),
  ]

  it.each(sources)('%s has no ${{ }} inside a run: step', (_name, yaml) => {
    expect(runScripts(yaml).filter((script) => script.includes('${{'))).toEqual([])
  })

  it('the check finds an expression inline and in a block', () => {
    expect(runScripts('      - run: echo "${{ steps.push.outputs.site-url }}"\n')).toHaveLength(1)
    expect(
      runScripts('      - run: |\n          echo hi\n          echo ${{ x }}\n      - uses: a\n'),
    ).toEqual(['          echo hi\n          echo ${{ x }}'])
  })
})

describe('escape helpers', () => {
  it('logLine escapes %, CR and LF exactly as @actions/core escapes a command message', () => {
    const text = 'a%b\r\n::add-mask::x\n::stop-commands::t'
    const written: string[] = []
    const spy = jest
      .spyOn(process.stdout, 'write')
      .mockImplementation((chunk: string | Uint8Array) => {
        written.push(String(chunk))
        return true
      })
    try {
      // core.debug is a workflow command: its message goes through core's own escapeData.
      core.debug(text)
    } finally {
      spy.mockRestore()
    }
    expect(written.join('')).toBe(`::debug::${logLine(text)}\n`)
    expect(logLine(text)).not.toMatch(/[\r\n]/)
  })

  it('redact cuts out a registered secret and each line of a multi-line one', () => {
    keepSecret('kx_live_aaaa\nbbbbbbbb')
    expect(redact('Bearer kx_live_aaaa\nbbbbbbbb!')).toBe('Bearer ***!')
    expect(redact('"Bearer kx_live_aaaa\\nbbbbbbbb"')).toBe('"Bearer ***\\n***"')
    expect(logLine('key kx_live_aaaa')).toBe('key ***')
    expect(htmlText('key bbbbbbbb')).toBe('key ***')
    expect(markdownCode('key bbbbbbbb')).toBe('`key ***`')
  })

  it('markdownCode makes one code span of any text, so no Markdown in it renders', () => {
    expect(markdownCode('@octocat `x` | [a](b)\n\n# h')).toBe("`@octocat 'x' \\| [a](b) # h`")
  })

  it('links only URLs fit to publish', () => {
    expect(markdownLink('https://a.example')).toBe('<https://a.example>')
    expect(markdownLink('https://a.example', 'run')).toBe('[run](https://a.example)')
    expect(markdownLink('javascript:alert(1)')).toBe('`javascript:alert(1)`')
    expect(htmlLink('https://a.example/?q=1')).toBe(
      '<a href="https://a.example/?q=1">https://a.example/?q=1</a>',
    )
    expect(htmlLink('javascript:alert(1)')).toBe('javascript:alert(1)')
    expect(htmlText('a\n\n<b>"x"</b>')).toBe('a &lt;b&gt;&quot;x&quot;&lt;/b&gt;')
  })
})

describe('the deploy log URL is built only from a checked site name', () => {
  const record = (siteName: unknown) => ({
    pushId: 'push_1',
    deployId: 'd1',
    state: 'ready',
    project: { id: 'prj_1', name: 'site', siteId: 's1', siteName },
  })

  it('accepts a Netlify site name, and null before the deploy has a URL', () => {
    expect(pushRecord.parse(record('my-site-2')).project?.siteName).toBe('my-site-2')
    expect(pushRecord.parse(record(null)).project?.siteName).toBeNull()
  })

  it.each([
    'evil.com/x',
    'a b',
    'site?x=1',
    '../../settings',
    'Site',
    '-site',
    'x'.repeat(64),
    '](javascript:alert(1))',
  ])('refuses %j', (siteName) => {
    expect(() => pushRecord.parse(record(siteName))).toThrow('must be a Netlify site name')
  })
})
