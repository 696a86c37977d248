import fs from 'node:fs'
import path from 'node:path'
import { createHash } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { pipeline } from 'node:stream/promises'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { HashPool, type FileHash } from './hash-pool.ts'
import type { Selection } from './select.ts'

/** One file of the deploy. */
export interface FileEntry {
  /** Deploy path: relative, `/`-separated, as Netlify will serve it. */
  readonly path: string
  /** Where the bytes are read from; for a followed symlink, its target. */
  readonly absPath: string
  readonly size: number
  readonly sha1: string
  /** The bytes of a file from an in-memory map (src/client/); `absPath` is then its name. */
  readonly content?: Blob | undefined
}

/** The digest of a build folder: what `push-init` sends, plus the indexes the upload needs. */
export interface Digest {
  /** Deploy path → SHA-1, sorted by path. */
  readonly files: Record<string, string>
  /** Deploy path → size in bytes. */
  readonly sizes: Record<string, number>
  readonly byPath: ReadonlyMap<string, FileEntry>
  /** SHA-1 → every file with that content, in path order. */
  readonly bySha: ReadonlyMap<string, FileEntry[]>
  readonly count: number
  readonly totalBytes: number
}

/** Options of `digestDir`. */
export interface DigestOptions {
  /** Hashing threads. Default: one per core. */
  concurrency?: number
  /**
   * Skip `node_modules` at the top: Netlify does so when the publish folder is the site's base
   * folder, which for the Action means `dir` is the workspace root.
   */
  skipNodeModules?: boolean
  /** Receives a line for each entry that is neither a file, a folder nor a symlink. */
  warn?: (message: string) => void
  /**
   * Which deploy paths to keep (`include`/`exclude`, src/select.ts). Asked before an entry is
   * stat'ed, followed or entered: what it excludes is never looked at, let alone hashed.
   */
  select?: Selection | undefined
}

/**
 * Walks `dir` with Netlify's file rules and SHA-1s every file on every core. Throws, naming the
 * file, on `#`/`?` in a name, a symlink that leaves `dir`, a broken symlink or a symlink loop.
 */
export async function digestDir(dir: string, options: DigestOptions = {}): Promise<Digest> {
  // Hashing threads boot first, so they are ready, or nearly, once the walk is over.
  const pool = new HashPool(options.concurrency)
  const found: Found = { paths: [], absPaths: [], turnAt: performance.now() + SLICE_MS }
  let hashes: FileHash[]
  const files: Record<string, string> = {}
  const sizes: Record<string, number> = {}
  const byPath = new Map<string, Mutable<FileEntry>>()
  try {
    const root = await fs.promises.realpath(dir)
    await walk(root, root, '', [root], found, options)
    // The indexes are laid out while the threads boot, the hashes filled in once known: of the
    // digest's work, only what follows the hashing has no other thread to share the time with.
    // The walk listed the paths in code-unit order: stable across platforms and locales, so the
    // manifest is reproducible.
    for (let i = 0; i < found.paths.length; i++) {
      const relPath = found.paths[i]!
      files[relPath] = ''
      sizes[relPath] = 0
      byPath.set(relPath, { path: relPath, absPath: found.absPaths[i]!, sha1: '', size: 0 })
    }
    hashes = await pool.hash(found.absPaths)
  } catch (error) {
    await pool.close()
    throw error
  }
  // The threads wind down while this one fills in the hashes.
  const closed = pool.close()

  const bySha = new Map<string, FileEntry[]>()
  let totalBytes = 0
  let i = 0
  for (const entry of byPath.values()) {
    const { sha1, size } = hashes[i++]!
    entry.sha1 = sha1
    entry.size = size
    files[entry.path] = sha1
    sizes[entry.path] = size
    const same = bySha.get(sha1)
    if (same) same.push(entry)
    else bySha.set(sha1, [entry])
    totalBytes += size
  }
  await closed
  return { files, sizes, byPath, bySha, count: hashes.length, totalBytes }
}

/**
 * SHA-1 and byte count of a file, streamed so memory stays flat with file size. The size comes
 * from the bytes hashed, so it always matches the hash even if the file changed since `stat`.
 */
export async function hashFile(absPath: string): Promise<{ sha1: string; size: number }> {
  const hash = createHash('sha1')
  let size = 0
  await pipeline(fs.createReadStream(absPath), async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) {
      size += chunk.length
      hash.update(chunk)
    }
  })
  return { sha1: hash.digest('hex'), size }
}

/** Netlify's publish rules: no dotfiles or dot-folders except `.well-known`, no `__MACOSX`. */
export function isSkipped(name: string): boolean {
  if (name.startsWith('.')) return name !== '.well-known'
  return name.startsWith('__MACOSX')
}

/**
 * Whether a path relative to the deployed folder falls under the publish rules' skips: any part
 * of it skipped by `isSkipped`, or `node_modules` at the top when that is skipped.
 */
function isSkippedPath(relPath: string, skipNodeModules: boolean): boolean {
  const parts = relPath.split('/')
  if (skipNodeModules && parts[0] === 'node_modules') return true
  return parts.some((part) => part !== '' && isSkipped(part))
}

// The walk runs on this thread for at most this long between turns of its event loop.
const SLICE_MS = 10

/** What the walk found: deploy paths and where to read them, index for index. */
type Mutable<T> = { -readonly [K in keyof T]: T[K] }

interface Found {
  paths: string[]
  absPaths: string[]
  turnAt: number
}

// Sync calls: on a warm tree a folder's listing is microseconds, and the async calls' overhead
// cost ~2.5× the time of the whole walk. It yields every `SLICE_MS` so the event loop still turns.
// `ancestors` holds the real paths of the folders on the way down, to stop symlink loops.
async function walk(
  root: string,
  realDir: string,
  relDir: string,
  ancestors: readonly string[],
  found: Found,
  options: DigestOptions,
): Promise<void> {
  if (performance.now() > found.turnAt) {
    await nextTurn()
    found.turnAt = performance.now() + SLICE_MS
  }
  // Files go in as their name, folders as their name and '/': sorting these keys and walking in
  // their order lists the deploy paths in code-unit order, since '/' is what ends a folder's part
  // of a path (so `a-b` < `a/x`, `a` < `a/x`). Then the digest needs no global sort.
  const keys: string[] = []
  // Where a key's bytes are, when a symlink makes that other than `realDir`/name.
  let links: Map<string, string> | undefined
  for (const entry of fs.readdirSync(realDir, { withFileTypes: true })) {
    const name = entry.name
    if (isSkipped(name)) continue
    if (relDir === '' && options.skipNodeModules && name === 'node_modules') continue
    const relPath = relDir === '' ? name : `${relDir}/${name}`
    if (options.select?.excludes(relPath)) continue

    // The entry's type comes with readdir on most file systems: stat only links and unknowns.
    let realPath: string | undefined
    let stat: Pick<fs.Dirent, 'isFile' | 'isDirectory'> = entry
    let isLink = entry.isSymbolicLink()
    if (!isLink && !entry.isFile() && !entry.isDirectory()) {
      const lstat = fs.lstatSync(join(realDir, name))
      stat = lstat
      isLink = lstat.isSymbolicLink()
    }
    if (isLink) {
      realPath = resolveLink(root, join(realDir, name), relPath)
      // The publish rules hold for what a link points to, not only for its name: `env.txt →
      // .env` or `gitdir → .git` would otherwise publish what the rules keep back.
      const target = path.relative(root, realPath).split(path.sep).join('/')
      if (isSkippedPath(target, options.skipNodeModules === true)) {
        options.warn?.(
          `Skipping '${relPath}': a symlink to '${target}', which is never deployed ` +
            '(dotfiles, dot-folders and __MACOSX are skipped wherever a link points to them)',
        )
        continue
      }
      stat = fs.statSync(realPath)
    }

    let key: string
    if (stat.isDirectory()) {
      if (realPath !== undefined && ancestors.includes(realPath)) {
        throw new Error(`'${relPath}' is a symlink to one of its own parent folders (a loop)`)
      }
      key = `${name}/`
    } else if (stat.isFile()) {
      // Folders are entered whatever `include` says: it may name files inside them.
      if (options.select && !options.select.includes(relPath)) continue
      // Netlify refuses these names: they would be read as a URL fragment or query.
      if (relPath.includes('#') || relPath.includes('?')) {
        throw new Error(`'${relPath}': deployed file names cannot contain # or ? characters`)
      }
      key = name
    } else {
      options.warn?.(`Skipping '${relPath}': not a regular file, folder or symlink`)
      continue
    }
    keys.push(key)
    if (realPath !== undefined) (links ??= new Map()).set(key, realPath)
  }

  for (const key of keys.sort()) {
    if (key.endsWith('/')) {
      const name = key.slice(0, -1)
      const realPath = links?.get(key) ?? join(realDir, name)
      const relPath = relDir === '' ? name : `${relDir}/${name}`
      await walk(root, realPath, relPath, [...ancestors, realPath], found, options)
    } else {
      found.paths.push(relDir === '' ? key : `${relDir}/${key}`)
      found.absPaths.push(links?.get(key) ?? join(realDir, key))
    }
  }
}

// `dir` is a real path, so a plain join is already normal (path.join would normalize it again).
function join(dir: string, name: string): string {
  return dir.endsWith(path.sep) ? dir + name : `${dir}${path.sep}${name}`
}

function resolveLink(root: string, absPath: string, relPath: string): string {
  let target: string
  try {
    target = fs.realpathSync.native(absPath)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ELOOP') throw new Error(`'${relPath}' is a symlink loop`, { cause: error })
    throw new Error(`'${relPath}' is a broken symlink`, { cause: error })
  }
  // Following a link out of the folder could publish anything the runner can read (~/.ssh …).
  if (target !== root && !target.startsWith(root + path.sep)) {
    throw new Error(
      `'${relPath}' is a symlink to '${target}', outside the folder to deploy; ` +
        'copy the file in instead',
    )
  }
  return target
}

/**
 * The digest with one more file at `deployPath` (replacing any file there), read from `absPath`:
 * how a `netlify.toml` from outside the deployed folder joins the deploy, as netlify-cli adds it.
 */
export async function withFile(
  digest: Digest,
  deployPath: string,
  absPath: string,
): Promise<Digest> {
  const { sha1, size } = await hashFile(absPath)
  const entries = [...digest.byPath.values()].filter((entry) => entry.path !== deployPath)
  entries.push({ path: deployPath, absPath, sha1, size })
  // Code-unit order, as the walk lists paths, so the manifest stays reproducible.
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  const files: Record<string, string> = {}
  const sizes: Record<string, number> = {}
  const byPath = new Map<string, FileEntry>()
  const bySha = new Map<string, FileEntry[]>()
  let totalBytes = 0
  for (const entry of entries) {
    files[entry.path] = entry.sha1
    sizes[entry.path] = entry.size
    byPath.set(entry.path, entry)
    const same = bySha.get(entry.sha1)
    if (same) same.push(entry)
    else bySha.set(entry.sha1, [entry])
    totalBytes += entry.size
  }
  return { files, sizes, byPath, bySha, count: entries.length, totalBytes }
}
