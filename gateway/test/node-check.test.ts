import { spawnSync } from 'node:child_process'
import { describe, expect, test } from '@jest/globals'
import { MIN_NODE_MAJOR, nodeProblem } from '../bin/node-check.js'
import { gatewayBin } from './helpers/processes.ts'

/** A `node` on PATH older than the gateway needs (machines here ship Node 20), if any. */
function oldNode(): { path: string; version: string } | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    const path = `${dir}/node`
    const run = spawnSync(path, ['--version'], { encoding: 'utf8' })
    const major = Number(/^v(\d+)/.exec(run.stdout ?? '')?.[1])
    if (run.status === 0 && major < MIN_NODE_MAJOR) return { path, version: run.stdout.trim() }
  }
  return undefined
}

describe('kaixu-gateway checks the Node version before loading TypeScript', () => {
  test('an old Node gets what to install, not ERR_UNKNOWN_FILE_EXTENSION', () => {
    const problem = nodeProblem('20.19.2', '/srv/kaixu/gateway/bin/kaixu-gateway.js')
    expect(problem).toContain('needs Node.js 24 or newer; this is Node.js 20.19.2')
    expect(problem).toContain('nvm install 24')
    expect(nodeProblem('22.18.0', '/srv/kaixu/gateway/bin/kaixu-gateway.js')).toContain(
      'Node.js 22.18.0',
    )
  })

  test('Node 24 and newer run from a checkout', () => {
    expect(nodeProblem('24.0.0', '/srv/kaixu/gateway/bin/kaixu-gateway.js')).toBeUndefined()
    expect(nodeProblem('25.1.0', '/srv/kaixu/gateway/bin/kaixu-gateway.js')).toBeUndefined()
  })

  test('sources under node_modules are refused with the reason (Node will not strip them)', () => {
    expect(
      nodeProblem('24.9.0', '/usr/lib/node_modules/kaixu-gateway/bin/kaixu-gateway.js'),
    ).toContain('does not run TypeScript from inside node_modules')
  })

  const old = oldNode()
  ;(old ? test : test.skip)(
    `the real bin under ${old ? `${old.path} (${old.version})` : 'an old Node (none on PATH)'} says what to install`,
    () => {
      const run = spawnSync(old!.path, [gatewayBin, '--help'], { encoding: 'utf8' })
      expect(run.status).toBe(1)
      expect(run.stderr).toContain(
        `needs Node.js 24 or newer; this is Node.js ${old!.version.slice(1)}`,
      )
      expect(run.stderr).not.toContain('ERR_UNKNOWN_FILE_EXTENSION')
      expect(run.stdout).toBe('')
    },
  )
})
