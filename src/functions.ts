// Netlify Functions: found, bundled the way netlify-cli bundles them (@netlify/zip-it-and-ship-it)
// and digested with SHA-256, for push-init. Shared by the Action and the CLI.
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { z } from 'zod'
import type { FunctionDetails } from './gateway-api.ts'

/** The bundler netlify-cli uses, and the version this push was built and tested with. */
export const BUNDLER = '@netlify/zip-it-and-ship-it'
export const BUNDLER_VERSION = '16.2.3'

/** One bundled function: its zip on disk, digested, and what Netlify needs to run it. */
export interface FunctionZip {
  readonly name: string
  /** The zip (absolute), in the bundle's temporary folder. */
  readonly path: string
  readonly sha256: string
  readonly size: number
  readonly details: FunctionDetails
}

/** The functions of a push; `dispose` deletes the zips. */
export interface FunctionBundle {
  readonly zips: ReadonlyMap<string, FunctionZip>
  /** The folder the functions were bundled from. */
  readonly dir: string
  /** The push-init fields: `functions` (name → SHA-256) and `functionDetails`. */
  readonly manifest: {
    functions: Record<string, string>
    functionDetails: Record<string, FunctionDetails>
  }
  readonly totalBytes: number
  dispose(): Promise<void>
}

export interface FunctionsOptions {
  /** `functions-dir` / `--functions` (absolute); undefined: from the site's netlify.toml. */
  dir: string | undefined
  /** The netlify.toml this push deploys, if any (absolute). */
  configFile: string | undefined
  /** The project's root: where the bundler is looked for first. */
  root: string
  info: (message: string) => void
  warn: (message: string) => void
}

/**
 * Bundles the site's functions, or answers undefined when it has none: no folder named, none in
 * netlify.toml, or an empty folder. A push without functions never loads the bundler.
 */
export async function bundleFunctions(
  options: FunctionsOptions,
): Promise<FunctionBundle | undefined> {
  const fromConfig = options.configFile ? functionsDirFromConfig(options.configFile) : undefined
  const dir = options.dir ?? fromConfig
  if (dir === undefined) return undefined
  if (!isDirectory(dir)) {
    if (options.dir !== undefined) throw new Error(`The functions folder ${dir} does not exist`)
    options.warn(`netlify.toml names ${dir} as the functions folder, but it does not exist`)
    return undefined
  }
  if (fs.readdirSync(dir).length === 0) return undefined
  const started = Date.now()
  const bundler = await loadBundler(options.root)
  options.info(`Bundling the functions of ${dir} with ${bundler.source}`)
  const out = await mkdtemp(path.join(os.tmpdir(), 'kaixu-functions-'))
  try {
    const built = await bundler.zip(dir, out)
    const zips = new Map<string, FunctionZip>()
    for (const fn of built) zips.set(fn.name, await describeZip(fn))
    if (zips.size === 0) {
      await rm(out, { recursive: true, force: true })
      return undefined
    }
    const bundle = makeBundle(dir, out, zips)
    options.info(
      `Bundled ${zips.size} functions (${[...zips.keys()].join(', ')}) in ${Date.now() - started} ms`,
    )
    return bundle
  } catch (error) {
    await rm(out, { recursive: true, force: true })
    throw error
  }
}

function makeBundle(dir: string, out: string, zips: Map<string, FunctionZip>): FunctionBundle {
  const list = [...zips.values()]
  return {
    zips,
    dir,
    manifest: {
      functions: Object.fromEntries(list.map((z) => [z.name, z.sha256])),
      functionDetails: Object.fromEntries(list.map((z) => [z.name, z.details])),
    },
    totalBytes: list.reduce((n, z) => n + z.size, 0),
    dispose: () => rm(out, { recursive: true, force: true }),
  }
}

/**
 * What zip-it-and-ship-it answers per function (the fields netlify-cli reads). It is another
 * package's output, so it is checked before any of it reaches the gateway.
 */
const bundled = z.looseObject({
  name: z.string().min(1),
  path: z.string().min(1),
  runtime: z.string().min(1),
  runtimeVersion: z.string().min(1).optional(),
  invocationMode: z.string().optional(),
  schedule: z.string().optional(),
  timeout: z.number().int().positive().optional(),
  displayName: z.string().optional(),
  generator: z.string().optional(),
  routes: z.array(z.unknown()).optional(),
  excludedRoutes: z.array(z.unknown()).optional(),
  buildData: z.record(z.string(), z.unknown()).optional(),
  priority: z.number().optional(),
  trafficRules: z.unknown().optional(),
})
type Bundled = z.infer<typeof bundled>

/**
 * Digests a zip (streamed) and maps the bundler's answer to push-init's details, as netlify-cli
 * maps it to Netlify's deploy: the runtime version where there is one, the schedule, and the
 * `functions_config` entry (routes, display name, generator, build data, priority).
 */
async function describeZip(fn: Bundled): Promise<FunctionZip> {
  const hash = createHash('sha256')
  await pipeline(fs.createReadStream(fn.path), hash)
  const size = fs.statSync(fn.path).size
  const config = dropUndefined({
    display_name: fn.displayName,
    generator: fn.generator,
    routes: fn.routes,
    excluded_routes: fn.excludedRoutes,
    build_data: fn.buildData,
    priority: fn.priority,
    traffic_rules: fn.trafficRules,
  })
  return {
    name: fn.name,
    path: path.resolve(fn.path),
    sha256: hash.digest('hex'),
    size,
    details: {
      size,
      runtime: fn.runtimeVersion ?? fn.runtime,
      ...(fn.invocationMode ? { invocationMode: fn.invocationMode } : {}),
      ...(fn.schedule ? { schedule: fn.schedule } : {}),
      ...(fn.timeout ? { timeout: fn.timeout } : {}),
      ...(Object.keys(config).length > 0 ? { config } : {}),
    },
  }
}

function dropUndefined(record: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(record)) as Record<string, unknown>
}

/**
 * The functions folder a netlify.toml names: `[functions] directory`, else `[build] functions`,
 * relative to the file's folder (Netlify's base directory for a netlify.toml at the root). Only
 * these two string keys are read, so no TOML parser is needed.
 */
export function functionsDirFromConfig(file: string): string | undefined {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
  const found: Record<string, string> = {}
  let section = ''
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim()
    if (line.startsWith('[')) {
      // Any other table (`[functions."api-*"]`, `[[redirects]]`) ends the two we read.
      section = /^\[\s*([A-Za-z0-9_-]+)\s*\]\s*(?:#.*)?$/.exec(line)?.[1] ?? ''
      continue
    }
    const pair = /^([A-Za-z0-9_-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')\s*(?:#.*)?$/.exec(line)
    if (pair && section) found[`${section}.${pair[1]}`] = pair[2] ?? pair[3]!
  }
  const dir = found['functions.directory'] ?? found['build.functions']
  return dir ? path.resolve(path.dirname(file), dir) : undefined
}

/** zip-it-and-ship-it, wherever it was found. */
interface Bundler {
  /** Where it came from, for the log. */
  source: string
  zip(src: string, dest: string): Promise<Bundled[]>
}

/**
 * Finds zip-it-and-ship-it at run time. It cannot be bundled into `dist/`: esbuild, which it
 * uses for modern and TypeScript functions, needs its platform binary beside it. In order: the
 * project's own install, then kaixu-push's (an optional peer dependency), then `npm exec` of the
 * pinned version (which needs the npm registry once).
 */
async function loadBundler(root: string): Promise<Bundler> {
  const here = path.dirname(fileURLToPath(import.meta.url))
  for (const start of [root, here]) {
    const entry = findInstalled(start)
    if (!entry) continue
    const module = (await importAtRunTime(pathToFileURL(entry.main).href)) as {
      zipFunctions: (src: string, dest: string, options: object) => Promise<unknown>
    }
    return {
      source: `${BUNDLER} ${entry.version} (${entry.dir})`,
      zip: async (src, dest) =>
        parseBundled(await module.zipFunctions(src, dest, { archiveFormat: 'zip' })),
    }
  }
  return {
    source: `npm exec ${BUNDLER}@${BUNDLER_VERSION}`,
    zip: (src, dest) => zipWithNpmExec(src, dest),
  }
}

/**
 * `import()` that the bundler of `dist/` (ncc, webpack) cannot see: it would turn a computed
 * specifier into a lookup among the modules it bundled, which never holds this one.
 */
const importAtRunTime = new Function('specifier', 'return import(specifier)') as (
  specifier: string,
) => Promise<unknown>

/** The bundler's folder, entry file and version, installed in `start` or a folder above it. */
function findInstalled(start: string): { dir: string; main: string; version: string } | undefined {
  let dir = path.resolve(start)
  for (;;) {
    const pkgDir = path.join(dir, 'node_modules', ...BUNDLER.split('/'))
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')) as {
        main?: string
        version?: string
      }
      return {
        dir: pkgDir,
        main: path.join(pkgDir, pkg.main ?? 'dist/main.js'),
        version: pkg.version ?? '?',
      }
    } catch {
      // not here: one folder up
    }
    const parent = path.dirname(dir)
    if (parent === dir) return undefined
    dir = parent
  }
}

/** Runs the pinned bundler's own command line through npm, which prints its results as JSON. */
function zipWithNpmExec(src: string, dest: string): Promise<Bundled[]> {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const args = ['exec', '--yes', `--package=${BUNDLER}@${BUNDLER_VERSION}`, '--']
  args.push('zip-it-and-ship-it', src, dest)
  return new Promise((resolve, reject) => {
    execFile(
      npm,
      args,
      { cwd: dest, maxBuffer: 64 * 1024 * 1024, shell: process.platform === 'win32' },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`${BUNDLER} (npm exec) failed: ${stderr.trim() || error.message}`))
          return
        }
        try {
          resolve(parseBundled(JSON.parse(stdout)))
        } catch (caught) {
          reject(caught instanceof Error ? caught : new Error(String(caught)))
        }
      },
    )
  })
}

function parseBundled(value: unknown): Bundled[] {
  const parsed = z.array(bundled).safeParse(value)
  if (!parsed.success) {
    throw new Error(`${BUNDLER} answered something unexpected: ${parsed.error.issues[0]?.message}`)
  }
  return parsed.data
}

function isDirectory(dir: string): boolean {
  try {
    return fs.statSync(dir).isDirectory()
  } catch {
    return false
  }
}
