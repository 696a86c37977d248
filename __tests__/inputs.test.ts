import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {
  afterAll,
  afterEach,
  beforeAll,
  beforeEach,
  describe,
  expect,
  it,
  jest,
} from '@jest/globals'
import { getInputs } from '../src/inputs.ts'
import { sanitizeAlias } from '../src/validate.ts'

// The runner passes `with:` values as INPUT_<NAME>, upper-cased with the hyphens kept.
const env = (name: string) => `INPUT_${name.toUpperCase()}`
const NAMES = [
  'gateway-url',
  'kaixu-key',
  'project',
  'dir',
  'wait',
  'draft',
  'alias',
  'timeout-minutes',
  'concurrency',
  'production-branch',
  'environment',
  'pr-number',
  'github-token',
  'comment',
  'comment-author',
  'github-deployment',
  'fail-without-credentials',
  'dry-run',
  'deploy-message',
  'netlify-config-path',
  'include',
  'exclude',
]

let dir: string
let stdout: string[]

function setInputs(values: Record<string, string>): void {
  for (const name of NAMES) delete process.env[env(name)]
  for (const [name, value] of Object.entries(values)) process.env[env(name)] = value
}

function valid(): Record<string, string> {
  return {
    'gateway-url': 'https://gateway.example.com',
    'kaixu-key': 'kx_live_secret',
    project: 'site',
    dir,
  }
}

beforeAll(async () => {
  dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kaixu-inputs-'))
})

afterAll(async () => {
  await fs.promises.rm(dir, { recursive: true, force: true })
  setInputs({})
})

beforeEach(() => {
  // @actions/core writes workflow commands (::add-mask::, ::debug::) to stdout.
  stdout = []
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout.push(String(chunk))
    return true
  })
})

afterEach(() => {
  jest.restoreAllMocks()
})

describe('getInputs', () => {
  it('reads include and exclude as lines', () => {
    setInputs({ ...valid(), include: '**/*.html\n\n  assets  \r\n', exclude: '' })
    expect(getInputs()).toMatchObject({ include: ['**/*.html', 'assets'], exclude: [] })
  })

  it('reads deploy-message, and netlify-config-path as an existing file', async () => {
    const config = path.join(dir, 'netlify.toml')
    await fs.promises.writeFile(config, '[[redirects]]\n')
    setInputs({ ...valid(), 'deploy-message': 'Release 2.1', 'netlify-config-path': config })
    expect(getInputs()).toMatchObject({ deployMessage: 'Release 2.1', netlifyConfigPath: config })
    setInputs({ ...valid(), 'netlify-config-path': path.join(dir, 'missing.toml') })
    expect(() => getInputs()).toThrow("Input 'netlify-config-path': ")
    setInputs({ ...valid(), 'netlify-config-path': dir })
    expect(() => getInputs()).toThrow('is not a file')
  })

  it('reads valid inputs with their defaults into a frozen object', () => {
    setInputs(valid())
    const inputs = getInputs()

    expect(inputs).toEqual({
      gatewayUrl: 'https://gateway.example.com/',
      kaixuKey: 'kx_live_secret',
      project: 'site',
      dir,
      wait: true,
      draft: undefined,
      alias: undefined,
      productionBranch: undefined,
      environment: undefined,
      prNumber: undefined,
      timeoutMinutes: 20,
      concurrency: 8,
      githubToken: undefined,
      comment: true,
      commentAuthor: 'github-actions[bot]',
      githubDeployment: true,
      failWithoutCredentials: false,
      dryRun: false,
      deployMessage: undefined,
      netlifyConfigPath: undefined,
      include: [],
      exclude: [],
    })
    expect(Object.isFrozen(inputs)).toBe(true)
  })

  it('reads every optional input', () => {
    setInputs({
      ...valid(),
      wait: 'false',
      draft: 'TRUE',
      alias: 'pr-12',
      'timeout-minutes': '2.5',
      concurrency: '32',
      'production-branch': 'release',
      environment: 'docs (preview)',
      'pr-number': '#42',
      'github-token': 'ghp_token',
      comment: 'false',
      'github-deployment': 'false',
      'fail-without-credentials': 'true',
      'dry-run': 'true',
    })
    expect(getInputs()).toMatchObject({
      wait: false,
      draft: true,
      alias: 'pr-12',
      timeoutMinutes: 2.5,
      concurrency: 32,
      productionBranch: 'release',
      environment: 'docs (preview)',
      prNumber: 42,
      githubToken: 'ghp_token',
      comment: false,
      githubDeployment: false,
      failWithoutCredentials: true,
      dryRun: true,
    })
  })

  it('takes an empty kaixu-key as no key: the Action decides whether that is an error', () => {
    setInputs({ ...valid(), 'kaixu-key': '' })
    expect(getInputs().kaixuKey).toBeUndefined()
  })

  it.each([
    ['auto', true],
    ['true', true],
    ['false', false],
  ])('reads github-deployment %s as %s', (value, expected) => {
    setInputs({ ...valid(), 'github-deployment': value })
    expect(getInputs().githubDeployment).toBe(expected)
  })

  it('masks the GitHub token too', () => {
    setInputs({ ...valid(), 'github-token': 'ghp_secret_token' })
    getInputs()
    expect(stdout.join('')).toContain('::add-mask::ghp_secret_token')
    expect(stdout.join('').replace('::add-mask::ghp_secret_token', '')).not.toContain(
      'ghp_secret_token',
    )
  })

  it('masks the key at once, and never logs it', () => {
    setInputs(valid())
    getInputs()

    const output = stdout.join('')
    expect(output).toContain('::add-mask::kx_live_secret')
    expect(output.replace('::add-mask::kx_live_secret', '')).not.toContain('kx_live_secret')
  })

  it('masks the key even when another input fails', () => {
    setInputs({ ...valid(), project: '' })
    expect(() => getInputs()).toThrow("'project'")
    expect(stdout.join('')).toContain('::add-mask::kx_live_secret')
  })

  it('names gateway-url first when nothing is set', () => {
    setInputs({})
    expect(() => getInputs()).toThrow("Input 'gateway-url' is required")
  })

  it.each(['gateway-url', 'project', 'dir'])('requires %s', (name) => {
    setInputs({ ...valid(), [name]: '' })
    expect(() => getInputs()).toThrow(`Input '${name}' is required`)
  })

  it.each([
    ['gateway-url', 'not a url'],
    ['gateway-url', 'ftp://gateway.example.com'],
    ['dir', '/does/not/exist/kaixu'],
    ['wait', 'yes'],
    ['draft', '1'],
    ['alias', 'Feature/Login'],
    ['alias', '-pr'],
    ['alias', 'a'.repeat(38)],
    ['timeout-minutes', '0'],
    ['timeout-minutes', 'ten'],
    ['concurrency', '0'],
    ['concurrency', '33'],
    ['concurrency', '2.5'],
    ['pr-number', '0'],
    ['pr-number', 'twelve'],
    ['github-deployment', 'sometimes'],
    ['comment', 'no'],
    ['comment-author', 'renovate bot'],
    ['comment-author', 'x[bot]\n::add-mask::y'],
    ['dry-run', 'maybe'],
    ['fail-without-credentials', '1'],
  ])('rejects %s = %j, naming the input', (name, value) => {
    setInputs({ ...valid(), [name]: value })
    expect(() => getInputs()).toThrow(`Input '${name}'`)
  })

  it('rejects a dir that is a file', () => {
    const file = path.join(dir, 'file.txt')
    fs.writeFileSync(file, 'x')
    setInputs({ ...valid(), dir: file })
    expect(() => getInputs()).toThrow("Input 'dir'")
    fs.rmSync(file)
  })

  it('suggests a sanitised alias', () => {
    setInputs({ ...valid(), alias: 'Feature/Login_Page' })
    expect(() => getInputs()).toThrow("(try 'feature-login-page')")
  })

  it('warns about plain http to a remote gateway', () => {
    setInputs({ ...valid(), 'gateway-url': 'http://gateway.example.com' })
    getInputs()
    expect(stdout.join('')).toContain("::warning::Input 'gateway-url' uses plain http")
  })
})

describe('sanitizeAlias', () => {
  it('lowercases, joins other characters into hyphens and cuts to 37', () => {
    expect(sanitizeAlias('Feature/Login_Page')).toBe('feature-login-page')
    expect(sanitizeAlias('--PR 12--')).toBe('pr-12')
    expect(sanitizeAlias('x'.repeat(50))).toHaveLength(37)
  })
})
