#!/usr/bin/env node
// Runs the TypeScript sources directly (Node >= 24 strips types), so there is no build step.
await import('../src/start/cli.ts')
