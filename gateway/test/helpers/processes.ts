import { spawn, type ChildProcess } from 'node:child_process'
import { resolve } from 'node:path'
import { createInterface } from 'node:readline'

export const root = resolve(import.meta.dirname, '..', '..', '..')
export const gatewayBin = resolve(root, 'gateway', 'bin', 'kaixu-gateway.js')

export interface Started {
  child: ChildProcess
  /** The first stdout line that `match` accepted, parsed as JSON. */
  line: Record<string, unknown>
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/**
 * Starts a long-running command and waits for a JSON stdout line accepted by `match` (e.g. the
 * gateway's "listening" log line), so tests learn the port it chose.
 */
export function startProcess(
  args: string[],
  env: Record<string, string>,
  match: (json: Record<string, unknown>) => boolean,
  timeoutMs = 30_000,
): Promise<Started> {
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => (stderr += d))
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)))
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    return exited
  }
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      void stop('SIGKILL')
      reject(new Error(`timed out starting ${args.join(' ')}\n${stderr}`))
    }, timeoutMs)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`${args.join(' ')} exited with ${code}\n${stderr}`))
    })
    const lines = createInterface({ input: child.stdout! })
    lines.on('line', (text) => {
      let json: Record<string, unknown>
      try {
        json = JSON.parse(text) as Record<string, unknown>
      } catch {
        return
      }
      if (match(json)) {
        clearTimeout(timer)
        resolvePromise({ child, line: json, stop })
      }
    })
  })
}

/** What a finished command printed, and its exit status. */
export interface Finished {
  stdout: string
  stderr: string
  code: number
}

/** Collects a spawned command's stdout and stderr (both piped) until it closes. */
export function finished(child: ChildProcess): Promise<Finished> {
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d: Buffer) => (stdout += d))
  child.stderr!.on('data', (d: Buffer) => (stderr += d))
  return new Promise((done) =>
    child.on('close', (code) => done({ stdout, stderr, code: code ?? 1 })),
  )
}

/** Runs a kaixu-gateway command to completion: what it printed and its exit status. */
export function runCli(args: string[], env: Record<string, string>): Promise<Finished> {
  return finished(
    spawn(process.execPath, [gatewayBin, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  )
}

/** Runs CLI commands with `--json` in `env`: answers the parsed output, rejects with stderr. */
export const cliJson =
  (env: Record<string, string>) =>
  async (...args: string[]): Promise<Record<string, any>> => {
    const res = await runCli([...args, '--json'], env)
    if (res.code !== 0) throw new Error(`kaixu-gateway ${args.join(' ')}: ${res.stderr}`)
    return JSON.parse(res.stdout) as Record<string, any>
  }
