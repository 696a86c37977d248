// What netlify-cli deploys beside the publish folder, and what it would deploy that this push
// cannot: the site's `netlify.toml`, and Edge Functions. Shared by the Action and the CLI.
import fs from 'node:fs'
import path from 'node:path'
import { withFile } from './files.ts'
import type { Digest } from './files.ts'

/** Where Netlify reads a site's configuration from: the deploy root. */
export const CONFIG_NAME = 'netlify.toml'

/** Where to look for the site's files outside the publish folder. */
export interface SiteOptions {
  /** The folder deployed (absolute). */
  dir: string
  /** The project's root: the Action's workspace, the CLI's working directory. */
  root: string
  /** `netlify-config-path` / `--netlify-config`: an existing file (absolute), if given. */
  configPath?: string | undefined
  warn: (message: string) => void
}

/**
 * Adds the site's `netlify.toml` to the digest at the deploy root, where Netlify applies its
 * `[[redirects]]` and `[[headers]]` (netlify-cli uploads it the same way): the named file, else
 * the one in `dir` (already in the digest), else the one at the project root. Warns when the
 * site has Edge Functions, which this push does not deploy.
 */
export async function addSiteFiles(digest: Digest, options: SiteOptions): Promise<Digest> {
  const config = findConfig(digest, options)
  warnEdgeFunctions(options, config)
  // The walk keeps real paths, so a named file that is the one in `dir` is compared as one.
  if (config === undefined || realPath(config) === digest.byPath.get(CONFIG_NAME)?.absPath) {
    return digest
  }
  if (digest.byPath.has(CONFIG_NAME)) {
    options.warn(
      `${path.join(options.dir, CONFIG_NAME)} is replaced at the deploy root by ${config}, ` +
        'the configuration named for this push',
    )
  }
  return withFile(digest, CONFIG_NAME, config)
}

/** The `netlify.toml` to deploy at the root, or undefined when it is already there or none is. */
function findConfig(digest: Digest, options: SiteOptions): string | undefined {
  if (options.configPath !== undefined) return options.configPath
  const inDir = digest.byPath.get(CONFIG_NAME)
  if (inDir) return inDir.absPath
  const atRoot = path.join(options.root, CONFIG_NAME)
  let stat: fs.Stats
  try {
    stat = fs.lstatSync(atRoot)
  } catch {
    return undefined
  }
  // Found, not named: a symlink here could point anywhere the runner can read, and only a file
  // someone named on purpose is followed.
  if (!stat.isFile()) {
    options.warn(`${atRoot} is not a regular file, so it is not deployed`)
    return undefined
  }
  return atRoot
}

// netlify-cli's default Edge Functions folder, and the netlify.toml settings that declare some.
const EDGE_DIR = path.join('netlify', 'edge-functions')
const EDGE_CONFIG = /^\s*(\[\[\s*edge_functions\s*\]\]|edge_functions\s*=)/m

function warnEdgeFunctions(options: SiteOptions, config: string | undefined): void {
  const found = [options.root, options.dir]
    .map((base) => path.join(base, EDGE_DIR))
    .filter((folder, i, all) => all.indexOf(folder) === i && isDirectory(folder))
  if (config !== undefined && EDGE_CONFIG.test(readText(config))) found.push(config)
  if (found.length === 0) return
  options.warn(
    `Edge Functions found (${found.join(', ')}), but Kaixu Push does not deploy Edge Functions ` +
      'yet: this deploy will not have them, and the routes they serve will not run them.',
  )
}

function realPath(file: string): string {
  try {
    return fs.realpathSync(file)
  } catch {
    return file
  }
}

function isDirectory(folder: string): boolean {
  try {
    return fs.statSync(folder).isDirectory()
  } catch {
    return false
  }
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch {
    return ''
  }
}
