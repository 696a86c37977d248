#!/usr/bin/env node
// The `kaixu-push` command (bundled to dist/cli/index.js); everything is in cli-main.ts.
import { runCli } from './cli-main.ts'

/* istanbul ignore next */
process.exitCode = await runCli(process.argv.slice(2))
