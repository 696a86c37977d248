import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createHash } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { digestDir, isSkipped } from '../src/files.ts'

let root: string
let site: string

const sha1 = (content: string | Buffer) => createHash('sha1').update(content).digest('hex')

async function write(relPath: string, content: string | Buffer): Promise<void> {
  const file = path.join(site, relPath)
  await fs.promises.mkdir(path.dirname(file), { recursive: true })
  await fs.promises.writeFile(file, content)
}

beforeEach(async () => {
  // `root` holds the site and a file outside it, for the escaping symlink.
  root = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kaixu-files-'))
  site = path.join(root, 'site')
  await fs.promises.mkdir(site)
})

afterEach(async () => {
  await fs.promises.rm(root, { recursive: true, force: true })
})

describe('digestDir', () => {
  it('hashes every file with SHA-1, nested folders and empty files included', async () => {
    const big = Buffer.alloc(200_000, 'ab')
    await write('index.html', '<h1>hi</h1>')
    await write('assets/css/app.css', 'body{}')
    await write('empty.txt', '')
    await write('big.bin', big)

    const digest = await digestDir(site)

    expect(digest.files).toEqual({
      'assets/css/app.css': sha1('body{}'),
      'big.bin': sha1(big),
      'empty.txt': sha1(''),
      'index.html': sha1('<h1>hi</h1>'),
    })
    expect(Object.keys(digest.files)).toEqual(Object.keys(digest.files).sort())
    expect(digest.sizes).toEqual({
      'assets/css/app.css': 6,
      'big.bin': 200_000,
      'empty.txt': 0,
      'index.html': 11,
    })
    expect(digest.count).toBe(4)
    expect(digest.totalBytes).toBe(200_017)
    expect(digest.byPath.get('index.html')?.absPath).toBe(
      path.join(fs.realpathSync(site), 'index.html'),
    )
  })

  it('gives the same digest on any number of threads, in code-unit order', async () => {
    // Names around '/' (0x2F) in code-unit order: '-' and '.' sort before it, 'A' and '_' after.
    const names = ['a', 'a-b', 'a.b', 'a/b', 'a/c/d', 'aA', 'a_', 'B', 'é']
    for (const [i, name] of names.entries()) {
      for (let f = 0; f < 40; f++) await write(`${name}/f${f}.txt`, `${i}:${f % 7}`)
    }
    await write('b.txt', '')

    const digests = await Promise.all(
      [1, 2, 3].map((concurrency) => digestDir(site, { concurrency })),
    )

    const paths = Object.keys(digests[0]!.files)
    expect(paths).toHaveLength(names.length * 40 + 1)
    expect(paths).toEqual([...paths].sort())
    expect([...digests[0]!.byPath.keys()]).toEqual(paths)
    expect(digests[0]!.files['a/c/d/f3.txt']).toBe(sha1('4:3'))
    for (const digest of digests.slice(1)) {
      expect(digest.files).toEqual(digests[0]!.files)
      expect(Object.keys(digest.files)).toEqual(paths)
      expect([...digest.bySha]).toEqual([...digests[0]!.bySha])
    }
  })

  // root reads any file whatever its mode, so there is nothing to check as root.
  const unlessRoot = process.getuid?.() === 0 ? it.skip : it
  unlessRoot('rejects a file it cannot read, naming it', async () => {
    await write('index.html', 'x')
    await write('secret.txt', 'x')
    await fs.promises.chmod(path.join(site, 'secret.txt'), 0)
    await expect(digestDir(site)).rejects.toThrow(/Cannot read '.*secret\.txt': EACCES/)
  })

  it('groups files with the same content by SHA-1', async () => {
    await write('a.txt', 'same')
    await write('b/a.txt', 'same')
    await write('c.txt', 'other')

    const digest = await digestDir(site)

    expect(digest.bySha.get(sha1('same'))?.map((f) => f.path)).toEqual(['a.txt', 'b/a.txt'])
    expect(digest.bySha.get(sha1('other'))?.map((f) => f.path)).toEqual(['c.txt'])
  })

  it('skips dotfiles and dot-folders but keeps .well-known; skips __MACOSX', async () => {
    await write('index.html', 'x')
    await write('.env', 'SECRET=1')
    await write('.git/config', 'x')
    await write('docs/.DS_Store', 'x')
    await write('.well-known/security.txt', 'contact')
    await write('__MACOSX/._index.html', 'x')

    const digest = await digestDir(site)

    expect(Object.keys(digest.files)).toEqual(['.well-known/security.txt', 'index.html'])
  })

  it('keeps unicode and spaces in names as they are', async () => {
    const nfd = 'cafe\u0301.txt'
    await write('über uns/index.html', 'x')
    await write('日本語.html', 'y')
    await write(nfd, 'z')

    const digest = await digestDir(site)

    expect(Object.keys(digest.files).sort()).toEqual(
      ['über uns/index.html', '日本語.html', nfd].sort(),
    )
  })

  it.each(['page#1.html', 'what?.html', 'dir#x/index.html'])(
    'rejects %s, naming it',
    async (name) => {
      await write(name, 'x')
      await expect(digestDir(site)).rejects.toThrow(`'${name}'`)
    },
  )

  it('follows a symlink that stays inside the folder, to a file or a folder', async () => {
    await write('real/data.json', '{}')
    await fs.promises.symlink('real/data.json', path.join(site, 'alias.json'))
    await fs.promises.symlink('real', path.join(site, 'linked'))

    const digest = await digestDir(site)

    expect(digest.files).toEqual({
      'alias.json': sha1('{}'),
      'linked/data.json': sha1('{}'),
      'real/data.json': sha1('{}'),
    })
    expect(digest.byPath.get('alias.json')?.absPath).toBe(
      path.join(fs.realpathSync(site), 'real', 'data.json'),
    )
  })

  it('rejects a symlink that escapes the folder, relative or absolute, naming it', async () => {
    await fs.promises.writeFile(path.join(root, 'secret.txt'), 'secret')
    await write('index.html', 'x')
    await fs.promises.symlink('../secret.txt', path.join(site, 'index2.html'))
    await expect(digestDir(site)).rejects.toThrow(/^'index2\.html' is a symlink to .* outside/)

    await fs.promises.rm(path.join(site, 'index2.html'))
    await write('sub/keep.txt', 'x')
    await fs.promises.symlink(path.join(root, 'secret.txt'), path.join(site, 'sub', 'leak.txt'))
    await expect(digestDir(site)).rejects.toThrow(/^'sub\/leak\.txt' is a symlink to .* outside/)
  })

  it('rejects a broken symlink and a symlink loop', async () => {
    await fs.promises.symlink('nowhere', path.join(site, 'broken'))
    await expect(digestDir(site)).rejects.toThrow(`'broken' is a broken symlink`)

    await fs.promises.rm(path.join(site, 'broken'))
    await write('a/file.txt', 'x')
    await fs.promises.symlink('..', path.join(site, 'a', 'up'))
    await expect(digestDir(site)).rejects.toThrow(`'a/up'`)
  })

  it('skips node_modules at the top only when asked', async () => {
    await write('node_modules/pkg/index.js', 'x')
    await write('lib/node_modules/keep.js', 'y')

    const all = await digestDir(site)
    const skipped = await digestDir(site, { skipNodeModules: true })

    expect(Object.keys(all.files)).toHaveLength(2)
    expect(Object.keys(skipped.files)).toEqual(['lib/node_modules/keep.js'])
  })
})

describe('isSkipped', () => {
  it('follows the Netlify rules', () => {
    expect(isSkipped('.htaccess')).toBe(true)
    expect(isSkipped('.well-known')).toBe(false)
    expect(isSkipped('__MACOSX')).toBe(true)
    expect(isSkipped('index.html')).toBe(false)
  })
})
