/**
 * Builds the client library of the npm package into dist/lib (never committed: `npm run build`
 * and `prepack` make it, the package tests build it): `node.js`, `browser.js` (also for workers
 * and edge runtimes) and `types/`, the declarations of both.
 */
import { execFileSync } from 'node:child_process'
import { readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import { buildBrowserLibrary, buildNodeLibrary } from './lib/build-lib.ts'

const root = resolve(import.meta.dirname, '..')
const out = resolve(process.argv[2] ?? join(root, 'dist', 'lib'))

await rm(out, { recursive: true, force: true })
await Promise.all([
  buildNodeLibrary(join(out, 'node.js')),
  buildBrowserLibrary(join(out, 'browser.js')),
])
execFileSync(
  process.execPath,
  [
    join(root, 'node_modules/typescript/bin/tsc'),
    ...['-p', join(root, 'src/client/tsconfig.json'), '--outDir', join(out, 'types')],
  ],
  { stdio: 'inherit' },
)

// The wire contract is a workspace package, not published: its declarations ship in types/contract
// (src/client/tsconfig.json lists it), and each declaration's `kaixu-contract` import is pointed
// at that copy so a consumer's TypeScript resolves it.
const types = join(out, 'types')
const contractIndex = join(types, 'contract', 'src', 'index.js')
for (const entry of await readdir(types, { recursive: true })) {
  if (!entry.endsWith('.d.ts')) continue
  const file = join(types, entry)
  const text = await readFile(file, 'utf8')
  let target = relative(dirname(file), contractIndex).replaceAll('\\', '/')
  if (!target.startsWith('.')) target = `./${target}`
  const rewritten = text.replaceAll(/(['"])kaixu-contract\1/g, `'${target}'`)
  if (rewritten !== text) await writeFile(file, rewritten)
}
