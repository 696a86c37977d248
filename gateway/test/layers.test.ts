import { readdir, readFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { describe, expect, test } from '@jest/globals'
import { parseCircular, parseDependencyTree } from 'dpdm'
import { ESLint } from 'eslint'

/**
 * The layering of docs/architecture.md, checked on the sources: http/ over application services
 * only, no import cycle, every failure made by the ERRORS factory, SQL only in db/.
 */
const ROOT = join(import.meta.dirname, '..', '..')
const GATEWAY_SRC = join(ROOT, 'gateway', 'src')

async function sources(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name))
}

const rel = (file: string) => relative(ROOT, file).split('\\').join('/')

/** Every module a file names in `import … from`, `export … from` or `import()`. */
function specifiers(text: string): string[] {
  const found: string[] = []
  for (const m of text.matchAll(/(?:\bfrom\s+|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g))
    found.push(m[1]!)
  return found
}

describe('layers', () => {
  test('nothing under http/ imports db/, jobs/ or start/', async () => {
    const offenders: string[] = []
    for (const file of await sources(join(GATEWAY_SRC, 'http'))) {
      for (const spec of specifiers(await readFile(file, 'utf8'))) {
        if (!spec.startsWith('.')) continue
        const target = rel(join(file, '..', spec))
        if (/^gateway\/src\/(db|jobs|start)\//.test(target))
          offenders.push(`${rel(file)} → ${spec}`)
      }
    }
    expect(offenders).toEqual([])
  })

  test('eslint refuses such an import in http/ (and allows a service)', async () => {
    const eslint = new ESLint({ cwd: ROOT })
    const lint = async (code: string) =>
      (
        await eslint.lintText(code, { filePath: join(GATEWAY_SRC, 'http', 'routes', 'x.ts') })
      )[0]!.messages
        .filter((m) => m.ruleId === 'no-restricted-imports')
        .map((m) => m.message)
    expect(await lint("import type { Db } from '../../db/db.ts'\nexport type X = Db\n")).toEqual([
      expect.stringContaining('application services'),
    ])
    expect(
      await lint(
        "import type { Services } from '../../start/gateway.ts'\nexport type X = Services\n",
      ),
    ).toHaveLength(1)
    expect(
      await lint(
        "import type { Billing } from '../../services/billing.ts'\nexport type X = Billing\n",
      ),
    ).toEqual([])
  })

  test.each([
    ['gateway/src', 'gateway/src/**/*.ts'],
    ['src', 'src/**/*.ts'],
  ])('no import cycle in %s', async (_name, glob) => {
    const tree = await parseDependencyTree(glob, {
      cwd: ROOT,
      context: ROOT,
      // Type-only imports count too: a cycle of types is still two modules that know each other.
      transform: false,
      // Only our own modules: node_modules are not followed.
      exclude: /node_modules/,
      tsconfig: undefined,
    })
    expect(Object.keys(tree).length).toBeGreaterThan(10)
    expect(parseCircular(tree).map((cycle) => cycle.join(' → '))).toEqual([])
  })

  test('every AppError is made by the ERRORS factory in errors.ts', async () => {
    const offenders: string[] = []
    for (const file of [...(await sources(GATEWAY_SRC)), ...(await sources(join(ROOT, 'src')))]) {
      if (rel(file) === 'gateway/src/errors.ts') continue
      if ((await readFile(file, 'utf8')).includes('new AppError(')) offenders.push(rel(file))
    }
    expect(offenders).toEqual([])
  })

  test('SQL lives in db/ (and the job queue adapter, over pg-boss tables only)', async () => {
    const SQL = /\b(SELECT|INSERT INTO|DELETE FROM|UPDATE [a-z_.]+ SET)\b|\.query(<[^>]*>)?\(/
    const offenders: string[] = []
    for (const file of await sources(GATEWAY_SRC)) {
      const path = rel(file)
      // The Netlify sandbox is a stand-in for Netlify with its own storage, not the gateway.
      if (/^gateway\/src\/(db|netlify\/sandbox)\//.test(path)) continue
      const text = await readFile(file, 'utf8')
      if (path === 'gateway/src/jobs/queue.ts') {
        // pg-boss's own tables, and the transaction adapter it is handed.
        const tables = [...text.matchAll(/\b(?:FROM|JOIN|INTO|UPDATE)\s+([a-z_.]+)/g)].map(
          (m) => m[1],
        )
        expect(tables.filter((t) => !t!.startsWith('pgboss.'))).toEqual([])
        continue
      }
      if (SQL.test(text)) offenders.push(path)
    }
    expect(offenders).toEqual([])
  })
})
