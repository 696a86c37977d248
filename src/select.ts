// `include` / `exclude`: which files of `dir` are deployed, in @actions/glob's pattern language
// (the package matches; the digest's own walk keeps Netlify's rules and never reads what the
// patterns leave out).
import fs from 'node:fs'
import path from 'node:path'
import * as glob from '@actions/glob'

/** Tests of a deploy path (`/`-separated, relative to `dir`). */
export interface Selection {
  /** Whether `exclude` leaves it out (a folder: with all it holds). */
  excludes(relPath: string): boolean
  /** Whether a file is one `include` names (always, without `include`). */
  includes(relPath: string): boolean
}

/**
 * Matches the patterns against `dir` with @actions/glob: one pattern a line, relative to `dir`,
 * `*`, `**`, `?` and `[…]`, `!` to negate an earlier line, `#` for a comment, and a pattern that
 * matches a folder matches everything in it. Only paths are listed (stat), no file is opened.
 * Undefined when there is nothing to filter.
 */
export async function selectFiles(
  dir: string,
  include: readonly string[],
  exclude: readonly string[],
): Promise<Selection | undefined> {
  const included = include.length > 0 ? await matches(dir, include) : undefined
  const excluded = exclude.length > 0 ? await matches(dir, exclude) : undefined
  if (!included && !excluded) return undefined
  // The matcher does not enter a linked folder (the walk does): a file in one is included when
  // the link, or a folder above it, is. Anything the matcher did enter it has judged itself.
  const root = path.resolve(dir)
  const inLinkedMatch = (relPath: string): boolean => {
    const parents = withParents(relPath).slice(1)
    const link = parents.findLastIndex((p) => isLink(path.join(root, p)))
    return link !== -1 && parents.slice(link).some((p) => included!.has(p))
  }
  return {
    excludes: (relPath) => excluded?.has(relPath) === true,
    includes: (relPath) => !included || included.has(relPath) || inLinkedMatch(relPath),
  }
}

async function matches(dir: string, patterns: readonly string[]): Promise<Set<string>> {
  const root = path.resolve(dir)
  const lines = patterns
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const negated = line.startsWith('!')
      const pattern = (negated ? line.slice(1) : line).replace(/^\/+/, '')
      return `${negated ? '!' : ''}${path.join(root, pattern)}`
    })
  const globber = await glob.create(lines.join('\n'), {
    // The walk deploys a link inside `dir` under its own name: match that name. Not following
    // links keeps the matching to names, so an excluded link is never followed by anyone.
    followSymbolicLinks: false,
    implicitDescendants: true,
    matchDirectories: true,
    excludeHiddenFiles: false,
    omitBrokenSymbolicLinks: true,
  })
  const found = new Set<string>()
  for await (const match of globber.globGenerator()) {
    const relPath = path.relative(root, match)
    if (relPath === '' || relPath.startsWith('..') || path.isAbsolute(relPath)) continue
    found.add(relPath.split(path.sep).join('/'))
  }
  return found
}

function isLink(file: string): boolean {
  try {
    return fs.lstatSync(file).isSymbolicLink()
  } catch {
    return false
  }
}

/** `a/b/c` → `a/b/c`, `a/b`, `a`. */
function withParents(relPath: string): string[] {
  const parts = relPath.split('/')
  return parts.map((_, i) => parts.slice(0, parts.length - i).join('/'))
}
