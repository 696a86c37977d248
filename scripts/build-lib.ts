/**
 * Builds the client library of the npm package into dist/lib (never committed: `npm run build`
 * and `prepack` make it, the package tests build it): `node.js`, `browser.js` (also for workers
 * and edge runtimes) and `types/`, the declarations of both.
 */
import { execFileSync } from 'node:child_process'
import { rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
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
