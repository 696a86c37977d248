import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createHash } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { digestDir } from '../src/files.ts'
import { addSiteFiles } from '../src/site.ts'

let root: string
let site: string
let warnings: string[]

const sha1 = (content: string) => createHash('sha1').update(content).digest('hex')

async function write(file: string, content: string): Promise<void> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true })
  await fs.promises.writeFile(file, content)
}

async function digest(configPath?: string) {
  return addSiteFiles(await digestDir(site), {
    dir: site,
    root,
    configPath,
    warn: (message) => warnings.push(message),
  })
}

const REDIRECT = '[[redirects]]\nfrom = "/old"\nto = "/new"\nstatus = 301\n'

beforeEach(async () => {
  // The project root (the checkout), with the publish folder inside it.
  root = await fs.promises.realpath(
    await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kaixu-site-')),
  )
  site = path.join(root, 'public')
  await write(path.join(site, 'index.html'), '<h1>hi</h1>')
  await write(path.join(site, 'z.html'), 'z')
  warnings = []
})

afterEach(async () => {
  await fs.promises.rm(root, { recursive: true, force: true })
})

describe('addSiteFiles: netlify.toml', () => {
  it('deploys the project root’s netlify.toml at the deploy root, as netlify-cli does', async () => {
    await write(path.join(root, 'netlify.toml'), REDIRECT)
    const result = await digest()
    expect(result.files).toEqual({
      'index.html': sha1('<h1>hi</h1>'),
      'netlify.toml': sha1(REDIRECT),
      'z.html': sha1('z'),
    })
    // In code-unit order, as the walk lists paths.
    expect(Object.keys(result.files)).toEqual(['index.html', 'netlify.toml', 'z.html'])
    expect(result.count).toBe(3)
    expect(result.totalBytes).toBe(11 + 1 + REDIRECT.length)
    expect(result.byPath.get('netlify.toml')?.absPath).toBe(path.join(root, 'netlify.toml'))
    expect(result.bySha.get(sha1(REDIRECT))?.map((entry) => entry.path)).toEqual(['netlify.toml'])
    expect(warnings).toEqual([])
  })

  it('keeps the one in dir over the one at the root', async () => {
    await write(path.join(root, 'netlify.toml'), REDIRECT)
    await write(path.join(site, 'netlify.toml'), '# the site’s own\n')
    const result = await digest()
    expect(result.files['netlify.toml']).toBe(sha1('# the site’s own\n'))
    expect(result.count).toBe(3)
  })

  it('deploys a named config at the root, replacing the one in dir with a warning', async () => {
    const named = path.join(root, 'config', 'prod.toml')
    await write(named, REDIRECT)
    await write(path.join(site, 'netlify.toml'), '# the site’s own\n')
    const result = await digest(named)
    expect(result.files['netlify.toml']).toBe(sha1(REDIRECT))
    expect(result.count).toBe(3)
    expect(warnings).toEqual([expect.stringContaining('is replaced at the deploy root by')])
  })

  it('changes nothing when the named config is the one in dir', async () => {
    await write(path.join(site, 'netlify.toml'), REDIRECT)
    const plain = await digestDir(site)
    expect((await digest(path.join(site, 'netlify.toml'))).files).toEqual(plain.files)
    expect(warnings).toEqual([])
  })

  it('does not follow a netlify.toml symlink it only found', async () => {
    await write(path.join(root, 'secret.txt'), 'secret')
    await fs.promises.symlink(path.join(root, 'secret.txt'), path.join(root, 'netlify.toml'))
    const result = await digest()
    expect(Object.keys(result.files)).toEqual(['index.html', 'z.html'])
    expect(warnings).toEqual([expect.stringContaining('is not a regular file')])
  })

  it('deploys no config when there is none', async () => {
    const result = await digest()
    expect(Object.keys(result.files)).toEqual(['index.html', 'z.html'])
  })
})

describe('addSiteFiles: Edge Functions', () => {
  it('warns about a netlify/edge-functions folder at the root or in dir', async () => {
    await write(path.join(root, 'netlify', 'edge-functions', 'hello.ts'), 'export default 1')
    await digest()
    expect(warnings).toEqual([
      expect.stringContaining('does not deploy Edge Functions yet: this deploy will not have them'),
    ])
    expect(warnings[0]).toContain(path.join(root, 'netlify', 'edge-functions'))

    warnings = []
    await fs.promises.rm(path.join(root, 'netlify'), { recursive: true })
    await write(path.join(site, 'netlify', 'edge-functions', 'a.js'), 'export default 1')
    await digest()
    expect(warnings).toEqual([expect.stringContaining(path.join(site, 'netlify'))])
  })

  it('warns about edge functions declared in netlify.toml', async () => {
    await write(
      path.join(root, 'netlify.toml'),
      '[[edge_functions]]\npath = "/admin"\nfunction = "auth"\n',
    )
    await digest()
    expect(warnings).toEqual([expect.stringContaining('Edge Functions found')])
  })

  it('stays quiet for a site without them', async () => {
    await write(path.join(root, 'netlify.toml'), REDIRECT)
    await write(path.join(root, 'netlify', 'functions', 'f.js'), 'export default 1')
    await digest()
    expect(warnings).toEqual([])
  })
})
