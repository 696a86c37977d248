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
    // Empty, small and one larger than the workers' 1 MiB read buffer.
    const sizes = [0, 1, 100, 3 * 2 ** 20 + 7, ...Array.from({ length: 200 }, (_, i) => i * 37)]
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

  it('rejects naming a file that cannot be read', async () => {
    const pool = new HashPool(2)
    try {
      const missing = join(dir, 'gone.bin')
      await expect(pool.hash([...paths.slice(0, 50), missing])).rejects.toMatchObject({
        message: expect.stringContaining(`Cannot read '${missing}'`),
        code: 'ENOENT',
      })
    } finally {
      await pool.close()
    }
  })
})
