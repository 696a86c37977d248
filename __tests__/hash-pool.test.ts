import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { HashPool } from '../src/hash-pool.ts'

const sha1 = (data: Buffer) => createHash('sha1').update(data).digest('hex')

describe('HashPool', () => {
  let dir: string
  const contents: Buffer[] = []
  const paths: string[] = []

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kaixu-hash-pool-'))
    // Empty, small, and around and above the threads' 1 MiB read buffer.
    const mib = 2 ** 20
    const sizes = [0, 1, 100, 3 * mib + 7, mib - 1, mib, mib + 1, 2 * mib]
    sizes.push(...Array.from({ length: 200 }, (_, i) => i * 37))
    for (const [i, size] of sizes.entries()) {
      const content = randomBytes(size)
      contents.push(content)
      paths.push(join(dir, `f${i}.bin`))
      await writeFile(paths[i]!, content)
    }
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('answers every file’s SHA-1 and size, in the order asked', async () => {
    const pool = new HashPool(3)
    try {
      const hashes = await pool.hash(paths)
      expect(hashes).toEqual(contents.map((c) => ({ sha1: sha1(c), size: c.length })))
      // The pool is reusable, and more threads than files is fine.
      expect(await pool.hash(paths.slice(0, 1))).toEqual([{ sha1: sha1(contents[0]!), size: 0 }])
      expect(await pool.hash([])).toEqual([])
    } finally {
      await pool.close()
    }
  })

  it('hashes on this thread alone when given one thread', async () => {
    const pool = new HashPool(1)
    try {
      const hashes = await pool.hash(paths)
      expect(hashes).toEqual(contents.map((c) => ({ sha1: sha1(c), size: c.length })))
    } finally {
      await pool.close()
    }
  })

  it('rejects, rather than hangs, once its threads are stopped', async () => {
    const pool = new HashPool(2)
    await pool.close()
    await expect(pool.hash(paths)).rejects.toThrow('A hashing thread has stopped')
  })

  it('rejects naming a file that cannot be read, and stays usable', async () => {
    const pool = new HashPool(2)
    try {
      const missing = join(dir, 'gone.bin')
      await expect(pool.hash([...paths.slice(0, 50), missing])).rejects.toMatchObject({
        message: expect.stringContaining(`Cannot read '${missing}'`),
        code: 'ENOENT',
      })
      // Whichever thread met the missing file, all of them can take the next job.
      const gone = [missing, ...paths.slice(0, 50)]
      await expect(pool.hash(gone)).rejects.toMatchObject({ code: 'ENOENT' })
      expect(await pool.hash(paths.slice(0, 50))).toEqual(
        contents.slice(0, 50).map((c) => ({ sha1: sha1(c), size: c.length })),
      )
      // A NUL would shift the workers' paths: refused before any thread starts.
      await expect(pool.hash([paths[0]!, 'a\0b'])).rejects.toThrow(`Cannot read 'a\0b'`)
    } finally {
      await pool.close()
    }
  })
})
