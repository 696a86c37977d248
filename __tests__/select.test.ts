import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { digestDir } from '../src/files.ts'
import { selectFiles } from '../src/select.ts'

let site: string

async function write(relPath: string, content = relPath): Promise<void> {
  const file = path.join(site, relPath)
  await fs.promises.mkdir(path.dirname(file), { recursive: true })
  await fs.promises.writeFile(file, content)
}

async function paths(include: string[], exclude: string[]): Promise<string[]> {
  const select = await selectFiles(site, include, exclude)
  return Object.keys((await digestDir(site, { select })).files)
}

beforeEach(async () => {
  site = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kaixu-select-'))
  await write('index.html')
  await write('about/index.html')
  await write('assets/app.js')
  await write('assets/app.js.map')
  await write('assets/vendor/lib.js.map')
  await write('drafts/secret.html')
})

afterEach(async () => {
  await fs.promises.rm(site, { recursive: true, force: true })
})

describe('selectFiles: include / exclude with @actions/glob semantics', () => {
  it('filters nothing without patterns', async () => {
    expect(await selectFiles(site, [], [])).toBeUndefined()
    expect(await paths([], [])).toHaveLength(6)
  })

  it('excludes by glob, ** across folders, a folder with all it holds', async () => {
    expect(await paths([], ['**/*.map', 'drafts'])).toEqual([
      'about/index.html',
      'assets/app.js',
      'index.html',
    ])
  })

  it('includes only what matches, a folder with all it holds, then excludes from that', async () => {
    expect(await paths(['*.html', 'assets'], ['assets/vendor'])).toEqual([
      'assets/app.js',
      'assets/app.js.map',
      'index.html',
    ])
  })

  it('includes the files of a linked folder that include names', async () => {
    await fs.promises.symlink(path.join(site, 'about'), path.join(site, 'team'))
    expect(await paths(['team'], [])).toEqual(['team/index.html'])
    // A negation still holds inside a folder the matcher entered.
    expect(await paths(['assets', '!assets/app.js.map'], [])).toEqual([
      'assets/app.js',
      'assets/vendor/lib.js.map',
    ])
  })

  it('takes ! to negate an earlier line and # as a comment', async () => {
    expect(
      await paths([], ['# source maps stay private', '**/*.map', '!assets/app.js.map']),
    ).toEqual([
      'about/index.html',
      'assets/app.js',
      'assets/app.js.map',
      'drafts/secret.html',
      'index.html',
    ])
  })

  it('never looks at an excluded entry: not even a link the walk would refuse', async () => {
    // Followed, this link fails the digest (it leaves the folder): excluded, nothing follows it.
    const outside = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kaixu-outside-'))
    await fs.promises.writeFile(path.join(outside, 'secret'), 'secret')
    await fs.promises.symlink(path.join(outside, 'secret'), path.join(site, 'drafts/link.txt'))
    try {
      await expect(digestDir(site)).rejects.toThrow('outside the folder to deploy')
      const select = await selectFiles(site, [], ['drafts/link.txt'])
      const digest = await digestDir(site, { select })
      expect(Object.keys(digest.files)).not.toContain('drafts/link.txt')
      expect(digest.count).toBe(6)
      // An excluded folder is not entered either.
      const folder = await selectFiles(site, [], ['drafts'])
      expect((await digestDir(site, { select: folder })).count).toBe(5)
    } finally {
      await fs.promises.rm(outside, { recursive: true, force: true })
    }
  })
})
