import fs from 'node:fs'
import path from 'node:path'
import { createHash } from 'node:crypto'
import { pipeline } from 'node:stream/promises'
import { HashPool } from './hash-pool.ts'

/** One file of the deploy. */
export interface FileEntry {
  /** Deploy path: relative, `/`-separated, as Netlify will serve it. */
  readonly path: string
  /** Where the bytes are read from; for a followed symlink, its target. */
  readonly absPath: string
  readonly size: number
  readonly sha1: string
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
}

interface Pending {
  path: string
  absPath: string
}

/**
 * Walks `dir` with Netlify's file rules and SHA-1s every file (streamed, bounded parallelism).
 * Throws, naming the file, on `#`/`?` in a name, a symlink that leaves `dir`, a broken symlink
 * or a symlink loop.
 */
export async function digestDir(dir: string, options: DigestOptions = {}): Promise<Digest> {
  const root = await fs.promises.realpath(dir)
  // Hashing runs on worker threads, every core by default; they boot while the folder is walked.
  const pool = new HashPool(options.concurrency)
  let hashed: FileEntry[]
  try {
    const pending: Pending[] = []
    await walk(root, root, '', new Set([root]), pending, options)
    const hashes = await pool.hash(pending.map((file) => file.absPath))
    hashed = pending.map((file, i) => ({ ...file, ...hashes[i]! }))
  } finally {
    await pool.close()
  }
  // Code-unit order: stable across platforms and locales, so the manifest is reproducible.
  hashed.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))

  const files: Record<string, string> = {}
  const sizes: Record<string, number> = {}
  const byPath = new Map<string, FileEntry>()
  const bySha = new Map<string, FileEntry[]>()
  let totalBytes = 0
  for (const entry of hashed) {
    files[entry.path] = entry.sha1
    sizes[entry.path] = entry.size
    byPath.set(entry.path, entry)
    const same = bySha.get(entry.sha1)
    if (same) same.push(entry)
    else bySha.set(entry.sha1, [entry])
    totalBytes += entry.size
  }
  return { files, sizes, byPath, bySha, count: hashed.length, totalBytes }
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

// `ancestors` holds the real paths of the folders on the way down, to stop symlink loops.
async function walk(
  root: string,
  realDir: string,
  relDir: string,
  ancestors: ReadonlySet<string>,
  out: Pending[],
  options: DigestOptions,
): Promise<void> {
  const entries = await fs.promises.readdir(realDir, { withFileTypes: true })
  // Sub-folders are walked concurrently; the digest is sorted afterwards, so order is free.
  const subfolders: Promise<void>[] = []
  try {
    await walkEntries()
  } catch (error) {
    // Let the sub-walks already started settle, so none rejects later with nobody listening.
    await Promise.allSettled(subfolders)
    throw error
  }
  await Promise.all(subfolders)

  async function walkEntries() {
    for (const entry of entries) {
      const name = entry.name
      if (isSkipped(name)) continue
      if (relDir === '' && options.skipNodeModules && name === 'node_modules') continue
      const relPath = relDir === '' ? name : `${relDir}/${name}`
      const absPath = path.join(realDir, name)

      // The entry's type comes with readdir on most file systems: stat only links and unknowns.
      let realPath = absPath
      let stat: Pick<fs.Dirent, 'isFile' | 'isDirectory'> = entry
      if (entry.isSymbolicLink()) {
        realPath = await resolveLink(root, absPath, relPath)
        stat = await fs.promises.stat(realPath)
      } else if (!entry.isFile() && !entry.isDirectory()) {
        stat = await fs.promises.lstat(absPath)
        if ((stat as fs.Stats).isSymbolicLink()) {
          realPath = await resolveLink(root, absPath, relPath)
          stat = await fs.promises.stat(realPath)
        }
      }

      if (stat.isDirectory()) {
        if (ancestors.has(realPath)) {
          throw new Error(`'${relPath}' is a symlink to one of its own parent folders (a loop)`)
        }
        subfolders.push(
          walk(root, realPath, relPath, new Set([...ancestors, realPath]), out, options),
        )
      } else if (stat.isFile()) {
        // Netlify refuses these names: they would be read as a URL fragment or query.
        if (relPath.includes('#') || relPath.includes('?')) {
          throw new Error(`'${relPath}': deployed file names cannot contain # or ? characters`)
        }
        out.push({ path: relPath, absPath: realPath })
      } else {
        options.warn?.(`Skipping '${relPath}': not a regular file, folder or symlink`)
      }
    }
  }
}

async function resolveLink(root: string, absPath: string, relPath: string): Promise<string> {
  let target: string
  try {
    target = await fs.promises.realpath(absPath)
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
