/**
 * Benchmark (issue 8, scenario 3): digest throughput of the Action (`digestDir` of src/files.ts)
 * against `sha1sum` over the same trees, on every core: 10 000 small files, and four large files
 * (256 MiB each by default; BENCH_DIGEST_LARGE_MIB makes them smaller for a quick run).
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { once } from 'node:events'
import { digestDir } from '../src/files.ts'
import { summarize, type Summary } from './stats.ts'

const RUNS = Math.max(3, Number(process.env['BENCH_RUNS'] ?? 3))
// A run over the small tree takes well under a second, so it gets more of them: on a shared
// machine its median is otherwise at the mercy of whatever else runs for those few seconds.
const SMALL_RUNS = Math.max(RUNS, 9)
const LARGE_MIB = Number(process.env['BENCH_DIGEST_LARGE_MIB'] ?? 256)
const SMALL_FILES = 10_000

export interface DigestTreeResult {
  tree: string
  files: number
  bytes: number
  /** Wall milliseconds per method. */
  ours: Summary
  sha1sumParallel: Summary
  sha1sumOne: Summary
  /** sha1sum-on-every-core median ÷ ours: ≥ 1 means ours is at least as fast. */
  ratio: number
  /** The faster sha1sum way's median ÷ ours (a loaded machine can favour one process). */
  ratioBest: number
  commands: Record<string, string>
}

/** 10 000 files of 1-8 KiB in 100 folders: a large static site. */
async function smallTree(dir: string): Promise<number> {
  let bytes = 0
  for (let d = 0; d < 100; d++) {
    await mkdir(join(dir, `d${d}`))
    await Promise.all(
      Array.from({ length: SMALL_FILES / 100 }, (_, f) => {
        const data = randomBytes(1024 + ((d * 131 + f * 977) % 7168))
        bytes += data.length
        return writeFile(join(dir, `d${d}`, `f${f}.bin`), data)
      }),
    )
  }
  return bytes
}

/** Four large files, written in 8 MiB random blocks so memory stays flat. */
async function largeTree(dir: string): Promise<number> {
  const block = 8 * 2 ** 20
  const total = LARGE_MIB * 2 ** 20
  for (let i = 0; i < 4; i++) {
    const out = createWriteStream(join(dir, `large-${i}.bin`))
    for (let written = 0; written < total; written += block) {
      if (!out.write(randomBytes(Math.min(block, total - written)))) await once(out, 'drain')
    }
    out.end()
    await once(out, 'finish')
  }
  return 4 * total
}

function sh(command: string): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile('sh', ['-c', command], { maxBuffer: 64 * 2 ** 20 }, (error) =>
      error ? reject(error) : resolve(),
    ),
  )
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now()
  await fn()
  return performance.now() - t0
}

async function measureTree(
  tree: string,
  dir: string,
  files: number,
  bytes: number,
  runCount: number,
): Promise<DigestTreeResult> {
  const cores = availableParallelism()
  // Enough files per sha1sum process to keep start-up cost small, and one batch per core at least.
  const perProcess = Math.max(1, Math.ceil(files / (cores * 4)))
  const commands = {
    ours: 'digestDir(<tree>) of src/files.ts, in-process (hashing: this thread + a worker per other core)',
    sha1sumParallel: `find . -type f -print0 | xargs -0 -P ${cores} -n ${perProcess} sha1sum`,
    sha1sumOne: 'find . -type f -print0 | xargs -0 sha1sum',
  }
  const runs: Record<'ours' | 'sha1sumParallel' | 'sha1sumOne', number[]> = {
    ours: [],
    sha1sumParallel: [],
    sha1sumOne: [],
  }
  // One warm-up of each (page cache), then interleaved runs so drift hits every method alike.
  await digestDir(dir)
  await sh(`cd '${dir}' && ${commands.sha1sumOne} > /dev/null`)
  for (let i = 0; i < runCount; i++) {
    runs.ours.push(await time(() => digestDir(dir)))
    runs.sha1sumParallel.push(
      await time(() => sh(`cd '${dir}' && ${commands.sha1sumParallel} > /dev/null`)),
    )
    runs.sha1sumOne.push(await time(() => sh(`cd '${dir}' && ${commands.sha1sumOne} > /dev/null`)))
  }
  const ours = summarize(runs.ours)
  const sha1sumParallel = summarize(runs.sha1sumParallel)
  return {
    tree,
    files,
    bytes,
    ours,
    sha1sumParallel,
    sha1sumOne: summarize(runs.sha1sumOne),
    ratio: sha1sumParallel.median / ours.median,
    ratioBest: Math.min(sha1sumParallel.median, summarize(runs.sha1sumOne).median) / ours.median,
    commands,
  }
}

/** Runs scenario 3 on freshly written trees (removed afterwards). */
export async function benchDigest(): Promise<DigestTreeResult[]> {
  const work = await mkdtemp(join(tmpdir(), 'kaixu-bench-digest-'))
  try {
    const small = join(work, 'small')
    const large = join(work, 'large')
    await mkdir(small)
    await mkdir(large)
    const results: DigestTreeResult[] = []
    console.log(`  writing ${SMALL_FILES} small files…`)
    const smallBytes = await smallTree(small)
    results.push(
      await measureTree(`${SMALL_FILES} small files`, small, SMALL_FILES, smallBytes, SMALL_RUNS),
    )
    await rm(small, { recursive: true, force: true })
    console.log(`  writing 4 × ${LARGE_MIB} MiB…`)
    const largeBytes = await largeTree(large)
    results.push(await measureTree(`4 × ${LARGE_MIB} MiB`, large, 4, largeBytes, RUNS))
    return results
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}
