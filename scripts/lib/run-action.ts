import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const root = resolve(import.meta.dirname, '..', '..')

export interface ActionRun {
  code: number
  outputs: Record<string, string>
  summary: string
  /** What the step saved for its post step (`core.saveState`), by name. */
  state: Record<string, string>
  stdout: string
  stderr: string
}

/**
 * Runs the bundled Action (`dist/index.js`) the way a GitHub runner does: inputs as `INPUT_*`
 * variables, outputs and the job summary written to the files the runner names.
 */
export async function runAction(
  inputs: Record<string, string>,
  options: {
    env?: Record<string, string>
    echo?: boolean
    event?: unknown
    /** Called with the Action's process once it runs (benchmarks sample its memory). */
    onSpawn?: (child: ChildProcess) => void
    /** Run as the post step: the state an earlier run saved comes back as STATE_* variables. */
    state?: Record<string, string>
  } = {},
): Promise<ActionRun> {
  const work = await mkdtemp(join(tmpdir(), 'kaixu-runner-'))
  const outputFile = join(work, 'output')
  const summaryFile = join(work, 'summary.md')
  const stateFile = join(work, 'state')
  await writeFile(outputFile, '')
  await writeFile(summaryFile, '')
  await writeFile(stateFile, '')
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '',
    HOME: process.env['HOME'] ?? work,
    RUNNER_TEMP: work,
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    GITHUB_STATE: stateFile,
    ...options.env,
  }
  for (const [name, value] of Object.entries(options.state ?? {})) env[`STATE_${name}`] = value
  if (options.event !== undefined) {
    env['GITHUB_EVENT_PATH'] = join(work, 'event.json')
    await writeFile(env['GITHUB_EVENT_PATH'], JSON.stringify(options.event))
  }
  for (const [name, value] of Object.entries(inputs)) env[`INPUT_${name.toUpperCase()}`] = value
  try {
    const child = spawn(process.execPath, [join(root, 'dist', 'index.js')], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    options.onSpawn?.(child)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      stdout += d
      if (options.echo) process.stdout.write(asRunnerShows(d.toString()))
    })
    child.stderr.on('data', (d: Buffer) => {
      stderr += d
      if (options.echo) process.stderr.write(d)
    })
    const code = await new Promise<number>((done) => child.on('close', (c) => done(c ?? 1)))
    return {
      code,
      outputs: parseOutputs(await readFile(outputFile, 'utf8')),
      summary: await readFile(summaryFile, 'utf8'),
      // The state file has the output file's format.
      state: parseOutputs(await readFile(stateFile, 'utf8')),
      stdout,
      stderr,
    }
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

/** Workflow commands as a runner's log shows them: masks and debug lines hidden. */
function asRunnerShows(text: string): string {
  return text
    .split('\n')
    .filter((line) => !/^::(debug|add-mask)::/.test(line))
    .map((line) =>
      line.replace(/^::(error|warning|notice)[^:]*::/, (_m, kind: string) => `${kind}: `),
    )
    .join('\n')
}

/** Reads the runner's output file: `name=value` lines and `name<<DELIMITER … DELIMITER` blocks. */
export function parseOutputs(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line)
    if (heredoc) {
      const name = heredoc[1]!
      const delimiter = heredoc[2]!
      const value: string[] = []
      while (++i < lines.length && lines[i] !== delimiter) value.push(lines[i]!)
      out[name] = value.join('\n')
    } else if (line.indexOf('=') > 0) {
      out[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1)
    }
  }
  return out
}
