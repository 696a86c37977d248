import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { bundleFunctions, functionsDirFromConfig } from '../src/functions.ts'

let root: string
let warnings: string[]
let infos: string[]

function write(file: string, content: string): string {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, content)
  return file
}

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'kaixu-functions-'))
  warnings = []
  infos = []
})
afterEach(() => fs.rmSync(root, { recursive: true, force: true }))

const options = (dir: string | undefined, configFile?: string) => ({
  dir,
  configFile,
  root,
  info: (m: string) => infos.push(m),
  warn: (m: string) => warnings.push(m),
})

describe('functionsDirFromConfig', () => {
  it('reads [functions] directory, relative to the netlify.toml', () => {
    const file = write(
      path.join(root, 'netlify.toml'),
      '[build]\n  publish = "dist"\n\n[functions]\n  directory = "netlify/functions" # ours\n',
    )
    expect(functionsDirFromConfig(file)).toBe(path.join(root, 'netlify', 'functions'))
  })

  it('falls back to [build] functions, and [functions] directory wins over it', () => {
    const only = write(path.join(root, 'a.toml'), "[build]\nfunctions = 'fns'\n")
    expect(functionsDirFromConfig(only)).toBe(path.join(root, 'fns'))
    const both = write(
      path.join(root, 'b.toml'),
      '[build]\nfunctions = "old"\n[functions]\ndirectory = "new"\n',
    )
    expect(functionsDirFromConfig(both)).toBe(path.join(root, 'new'))
  })

  it('ignores the same keys in other tables and arrays of tables', () => {
    const file = write(
      path.join(root, 'netlify.toml'),
      '[[redirects]]\nfunctions = "no"\n[functions]\n[functions."api-*"]\ndirectory = "no"\n[context.production]\nfunctions = "no"\n',
    )
    expect(functionsDirFromConfig(file)).toBeUndefined()
  })
})

describe('bundleFunctions', () => {
  it('answers undefined without a folder, without loading the bundler', async () => {
    expect(await bundleFunctions(options(undefined))).toBeUndefined()
    const file = write(path.join(root, 'netlify.toml'), '[[redirects]]\nfrom = "/a"\nto = "/b"\n')
    expect(await bundleFunctions(options(undefined, file))).toBeUndefined()
    expect(infos).toEqual([])
  })

  it('warns when netlify.toml names a folder that is not there, and deploys no functions', async () => {
    const file = write(path.join(root, 'netlify.toml'), '[functions]\ndirectory = "missing"\n')
    expect(await bundleFunctions(options(undefined, file))).toBeUndefined()
    expect(warnings[0]).toContain('does not exist')
  })

  it('fails when the folder named by the input is not there', async () => {
    await expect(bundleFunctions(options(path.join(root, 'nope')))).rejects.toThrow(
      'does not exist',
    )
  })

  it('answers undefined for an empty folder', async () => {
    fs.mkdirSync(path.join(root, 'fns'))
    expect(await bundleFunctions(options(path.join(root, 'fns')))).toBeUndefined()
  })
})
