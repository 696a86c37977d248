import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, describe, expect, it } from '@jest/globals'

const root = resolve(import.meta.dirname, '..')
const validatorCli = join(root, 'node_modules', '@action-validator', 'cli', 'cli.mjs')
const scratch = mkdtempSync(join(tmpdir(), 'kaixu-workflows-'))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

/**
 * Runs `@action-validator/cli` on a file, which validates it against the schemas of GitHub
 * workflows and actions (a file named `action.yml` is an action, anything else a workflow).
 */
function validate(file: string): { ok: boolean; report: string } {
  const run = spawnSync(process.execPath, [validatorCli, file], { encoding: 'utf8' })
  return { ok: run.status === 0, report: `${run.stdout}${run.stderr}` }
}

const workflowsIn = (dir: string) =>
  readdirSync(join(root, dir))
    .filter((name) => /\.ya?ml$/.test(name))
    .map((name) => join(dir, name))

const workflows = [...workflowsIn('.github/workflows'), ...workflowsIn('examples/workflows')]
const actionYml = readFileSync(join(root, 'action.yml'), 'utf8')
const readme = readFileSync(join(root, 'README.md'), 'utf8')

describe('action.yml', () => {
  it('is a valid action (the validator schema stops at node20, so node24 is checked apart)', () => {
    // @action-validator 0.6.0 ships a schema whose `runs.using` enum ends at node20; GitHub
    // runs node24 (and removed node20). Validate everything else with that one value swapped.
    expect(actionYml).toMatch(/^runs:\n {2}using: node24\n {2}main: dist\/index\.js\n/m)
    const copy = join(scratch, 'action.yml')
    writeFileSync(copy, actionYml.replace('using: node24', 'using: node20'))
    const result = validate(copy)
    expect(result.report).toBe('')
    expect(result.ok).toBe(true)
  })

  it('the validator does catch a broken action', () => {
    const copy = join(scratch, 'broken', 'action.yml')
    mkdirSync(join(scratch, 'broken'), { recursive: true })
    writeFileSync(
      copy,
      actionYml.replace('using: node24', 'using: node20').replace('main:', 'mian:'),
    )
    expect(validate(copy).ok).toBe(false)
  })

  it('documents every input with a description and, unless required, its default', () => {
    const inputs = section(actionYml, 'inputs')
    expect(Object.keys(inputs)).toEqual(
      expect.arrayContaining([
        'gateway-url',
        'kaixu-key',
        'project',
        'dir',
        'production-branch',
        'alias',
        'draft',
        'pr-number',
        'environment',
        'github-token',
        'comment',
        'github-deployment',
        'fail-without-credentials',
        'dry-run',
        'wait',
        'timeout-minutes',
        'concurrency',
      ]),
    )
    for (const [name, body] of Object.entries(inputs)) {
      expect([name, /^ {4}description:/m.test(body)]).toEqual([name, true])
      const required = /^ {4}required: true$/m.test(body)
      expect([name, required || /^ {4}default:/m.test(body)]).toEqual([name, true])
    }
    expect(inputs['github-token']).toContain('default: ${{ github.token }}')
    expect(inputs['github-deployment']).toContain('default: auto')
  })

  it('documents every output the Action sets', () => {
    const outputs = section(actionYml, 'outputs')
    const set = new Set<string>()
    // Outputs are set in outputs.ts (`setEach({ name: value, … })`) and by `core.setOutput`.
    const helpers = readFileSync(join(root, 'src', 'outputs.ts'), 'utf8')
    for (const [, block] of helpers.matchAll(/setEach\(\{\n([\s\S]*?)\n {2}\}\)/g)) {
      for (const match of block!.matchAll(/^ {4}'?([a-z][a-z-]*)'?:/gm)) set.add(match[1]!)
    }
    const main = readFileSync(join(root, 'src', 'main.ts'), 'utf8')
    for (const match of main.matchAll(/setOutput\('([a-z-]+)'/g)) set.add(match[1]!)
    expect(set.size).toBeGreaterThan(10)
    for (const name of set) expect([name, name in outputs]).toEqual([name, true])
    for (const [name, body] of Object.entries(outputs)) {
      expect([name, /^ {4}description:/m.test(body)]).toEqual([name, true])
    }
  })
})

describe.each(workflows)('%s', (file) => {
  it('is a valid workflow', () => {
    const result = validate(join(root, file))
    expect(result.report).toBe('')
    expect(result.ok).toBe(true)
  })
})

describe('the reusable workflow', () => {
  const text = readFileSync(join(root, '.github/workflows/kaixu-push.yml'), 'utf8')

  it('is called with workflow_call and takes the documented inputs, secret and output', () => {
    expect(text).toMatch(/^on:\n {2}workflow_call:\n/m)
    for (const input of [
      'node-version',
      'working-directory',
      'install-command',
      'build-command',
      'dir',
      'project',
      'gateway-url',
      'production-branch',
    ]) {
      expect(text).toMatch(new RegExp(`^ {6}${input}:\\n {8}description:`, 'm'))
    }
    expect(text).toMatch(/^ {4}secrets:\n {6}kaixu-key:/m)
    expect(text).toMatch(/^ {6}deploy-url:\n(?: {8}.*\n)* {8}value: \$\{\{ jobs\.deploy\.outputs/m)
  })

  it('asks for the least privileges: nothing at the top, three scopes in the job', () => {
    expect(text).toMatch(/^permissions: \{\}$/m)
    const job = /^ {4}permissions:\n((?: {6}.*\n)+)/m.exec(text)?.[1] ?? ''
    const scopes = [...job.matchAll(/^ {6}([a-z-]+): (\w+)/gm)].map((m) => `${m[1]}: ${m[2]}`)
    expect(scopes.sort()).toEqual(['contents: read', 'deployments: write', 'pull-requests: write'])
  })
})

describe('README', () => {
  const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!)
  const workflowBlocks = blocks.filter((block) => /^on:/m.test(block))

  it('shows the minimal case, PR previews, a monorepo, the reusable workflow and the fork recipe', () => {
    expect(workflowBlocks.length).toBeGreaterThanOrEqual(6)
    expect(readme).toContain('uses: kaixu/push/.github/workflows/kaixu-push.yml@v1')
    expect(readme).toContain('workflow_run:')
  })

  it.each(workflowsIn('examples/workflows'))('shows %s exactly as the file is', (file) => {
    // The file's leading comment may differ; the workflow itself must be the same text.
    const text = readFileSync(join(root, file), 'utf8').replace(/^(#.*\n)+/, '')
    expect(readme).toContain(text)
  })

  it('has only valid workflows', () => {
    workflowBlocks.forEach((block, index) => {
      const file = join(scratch, `readme-${index}.yml`)
      writeFileSync(file, block)
      const result = validate(file)
      expect([index, result.report]).toEqual([index, ''])
    })
  })
})

/** The entries of a top-level map in action.yml (`inputs`, `outputs`): name → indented body. */
function section(text: string, name: string): Record<string, string> {
  const body = new RegExp(`^${name}:\\n((?:(?: .*)?\\n)+)`, 'm').exec(text)?.[1] ?? ''
  const entries: Record<string, string> = {}
  let current: string | undefined
  for (const line of body.split('\n')) {
    const key = /^ {2}([a-z][a-z-]*):$/.exec(line)
    if (key) {
      current = key[1]!
      entries[current] = ''
    } else if (current) {
      entries[current] += `${line}\n`
    }
  }
  return entries
}
