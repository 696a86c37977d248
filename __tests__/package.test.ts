// The npm package as a user gets it: `npm pack` (whose prepack builds the CLI and the library),
// then `npm install -g --offline` of the tarball into a temp prefix. Offline works because every
// runtime dependency is bundled: the package has none. Then the CLI and the library run on the
// oldest Node the package allows (/usr/bin/node is v20 here).
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'

const root = resolve(import.meta.dirname, '..')
// The system Node where there is one (v20 on this machine and CI), else the one running jest.
const oldNode = existsSync('/usr/bin/node') ? '/usr/bin/node' : process.execPath

describe('the kaixu-push package', () => {
  let work: string
  let prefix: string
  let installed: string
  let packed: { files: { path: string }[] }

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'kaixu-package-'))
    prefix = join(work, 'prefix')
    const out = execFileSync('npm', ['pack', '--json', '--pack-destination', work], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    // npm prints the scripts' output before the JSON.
    const [entry] = JSON.parse(out.slice(out.indexOf('\n[') + 1)) as [
      { filename: string; files: { path: string }[] },
    ]
    packed = entry
    execFileSync(
      'npm',
      [
        'install',
        '-g',
        '--offline',
        '--no-audit',
        '--no-fund',
        '--prefix',
        prefix,
        join(work, entry.filename),
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    )
    installed = join(prefix, 'lib', 'node_modules', 'kaixu-push')
  }, 600_000)

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true })
  })

  it('ships the CLI and the library bundles, not the sources', () => {
    const paths = packed.files.map((f) => f.path)
    for (const path of [
      'dist/cli/index.js',
      'dist/lib/node.js',
      'dist/lib/browser.js',
      'dist/lib/types/src/client/node.d.ts',
      'dist/lib/types/src/client/index.d.ts',
      'dist/lib/types/contract/src/index.d.ts',
      'package.json',
      'README.md',
    ]) {
      expect(paths).toContain(path)
    }
    expect(paths.filter((p) => p.startsWith('src/') || p.startsWith('gateway/'))).toEqual([])
    expect(paths).not.toContain('dist/index.js') // the Action's bundle is not the package's
  })

  it('installs with zod alone and needs Node 20.19 or later', async () => {
    const manifest = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8'))
    // The bundles carry their code; zod is declared because the declarations of the wire
    // contract's request and answer types (kaixu-contract, shipped in types/) are zod's.
    expect(Object.keys(manifest.dependencies ?? {})).toEqual(['zod'])
    expect(manifest.engines).toEqual({ node: '>=20.19' })
  })

  it('`kaixu-push --help` runs on the oldest supported Node', () => {
    const version = execFileSync(oldNode, ['--version'], { encoding: 'utf8' })
    process.stderr.write(`package suite: ${oldNode} ${version}`)
    const help = execFileSync(oldNode, [join(prefix, 'bin', 'kaixu-push'), '--help'], {
      encoding: 'utf8',
    })
    expect(help).toContain('Usage: kaixu-push')
  })

  it('`import { KaixuPush } from "kaixu-push"` picks the Node entry, and the browser one on request', async () => {
    // Bare imports resolve from the script's folder: prefix/lib holds node_modules/kaixu-push.
    const script = join(prefix, 'lib', 'check.mjs')
    await writeFile(
      script,
      `import { KaixuPush, PushError } from 'kaixu-push'
const kaixu = new KaixuPush({ gatewayUrl: 'http://127.0.0.1:9', apiKey: 'k' })
const url = import.meta.resolve('kaixu-push')
console.log(JSON.stringify({ url, push: typeof kaixu.push, error: typeof PushError }))`,
    )
    const run = (...flags: string[]) =>
      JSON.parse(execFileSync(oldNode, [...flags, script], { encoding: 'utf8' })) as Record<
        string,
        string
      >
    expect(run()).toEqual({
      url: expect.stringMatching(/\/dist\/lib\/node\.js$/),
      push: 'function',
      error: 'function',
    })
    expect(run('--conditions=browser')).toMatchObject({
      url: expect.stringMatching(/\/dist\/lib\/browser\.js$/),
      push: 'function',
    })
  })

  it('its types resolve for a TypeScript consumer', async () => {
    const consumer = join(prefix, 'lib', 'consumer.ts')
    await writeFile(
      consumer,
      `import { KaixuPush, PushError, type PushResult } from 'kaixu-push'
const kaixu = new KaixuPush({ gatewayUrl: 'https://gw.example', apiKey: 'k' })
export const run = (): Promise<PushResult> =>
  kaixu.push({ 'index.html': '<h1>hi</h1>' }, { project: 'site' }).catch((e: unknown) => {
    if (e instanceof PushError) console.log(e.code, e.result.pushId)
    throw e
  })
// @ts-expect-error: a project is required
kaixu.push({}, {})
`,
    )
    execFileSync(
      process.execPath,
      [
        join(root, 'node_modules/typescript/bin/tsc'),
        ...['--noEmit', '--strict', '--module', 'nodenext', '--target', 'es2022'],
        ...['--types', 'node', '--typeRoots', join(root, 'node_modules/@types'), consumer],
      ],
      // Outside the repository, so no tsconfig.json of ours is in the way.
      { cwd: join(prefix, 'lib'), stdio: 'inherit' },
    )
  })
})
