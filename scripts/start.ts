/**
 * `npm start`: runs the demo (scripts/demo.ts) in a Node set up to idle small. The settings have
 * to be in place before Node starts (glibc reads its variables once, V8 sizes its heap once), so
 * this process replaces itself with the tuned one (execve: same pid, nothing left resident beside
 * it, Ctrl+C reaches it as before). What each saves is measured in docs/benchmarks.md ("Idle
 * memory of `npm start`").
 */
import { fileURLToPath } from 'node:url'

const demo = fileURLToPath(new URL('./demo.ts', import.meta.url))

const flags = [
  // PGlite's Postgres is 9 MB of WebAssembly. V8's optimizing tier recompiles its hot functions
  // for a speed the demo's few queries never notice, and glibc keeps the compiler's memory.
  '--liftoff-only',
  // The young generation grows to 2 × 32 MB while the gateway starts and stays committed.
  '--max-semi-space-size=4',
  // V8's own trade of speed for memory (smaller heap growth steps, less code kept).
  '--optimize-for-size',
  // For the collection after PGlite's initdb (gateway/src/db/db.ts).
  '--expose-gc',
]
const env = {
  // glibc keeps what the start-up frees at the top of its heap (and, past its adaptive mmap
  // threshold, large buffers in the heap too): an explicit threshold hands it back to the OS.
  MALLOC_TRIM_THRESHOLD_: '131072',
  ...process.env,
}

// Windows has no execve: the demo then runs here, untuned.
if (process.execve) {
  process.execve(
    process.execPath,
    [process.execPath, ...flags, ...process.execArgv, demo, ...process.argv.slice(2)],
    env,
  )
}
await import('./demo.ts')
