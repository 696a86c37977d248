#!/usr/bin/env node
// The `kaixu-push` command (bundled to dist/cli/index.js); everything is in cli-main.ts.
import { runCli } from './cli-main.ts'
import { useEnvProxy } from './proxy.ts'

useEnvProxy(process.env)

// Ctrl-C or a CI runner's SIGTERM: the push in flight is cancelled before the command exits.
// Once only: a second Ctrl-C kills at once, as usual.
const interrupt = new AbortController()
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => interrupt.abort(signal))
}

/* istanbul ignore next */
process.exitCode = await runCli(process.argv.slice(2), process.env, undefined, interrupt.signal)
