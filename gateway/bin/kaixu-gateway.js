#!/usr/bin/env node
// Runs the TypeScript sources directly (Node >= 24 strips types), so there is no build step. The
// Node version is checked first, in plain JavaScript, so an old Node says what to install.
import { realpathSync } from 'node:fs'
import process from 'node:process'
import { fileURLToPath } from 'node:url'
import { nodeProblem } from './node-check.js'

const problem = nodeProblem(process.versions.node, realpathSync(fileURLToPath(import.meta.url)))
if (problem) {
  process.stderr.write(`kaixu-gateway: ${problem}\n`)
  process.exit(1)
}
await import('../src/start/cli.ts')
