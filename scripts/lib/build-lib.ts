// The client library's bundles, built with esbuild: ncc targets Node only, and the browser entry
// needs the `browser` condition (src/platform/web.ts for `#platform`) and a browser platform.
// Every runtime dependency is bundled, so the package installs with none.
import { join, resolve } from 'node:path'
import { build, type BuildOptions } from 'esbuild'

const root = resolve(import.meta.dirname, '..', '..')

const common: BuildOptions = {
  bundle: true,
  format: 'esm',
  minify: true,
  legalComments: 'linked',
  logLevel: 'warning',
}

/** The entry of browsers, workers and edge runtimes; it must import nothing from `node:`. */
export async function buildBrowserLibrary(outfile: string): Promise<void> {
  await build({
    ...common,
    entryPoints: [join(root, 'src/client/index.ts')],
    outfile,
    platform: 'browser',
    conditions: ['browser'],
    target: 'es2022',
  })
}

/** The Node entry: folders on disk, hashed on worker threads. */
export async function buildNodeLibrary(outfile: string): Promise<void> {
  await build({
    ...common,
    entryPoints: [join(root, 'src/client/node.ts')],
    outfile,
    platform: 'node',
    target: 'node20.19',
  })
}
