/**
 * A small Dockerfile reader for the image test: no Docker engine runs in CI, so the test reads
 * the Dockerfile's instructions and carries them out itself. It understands what our Dockerfile
 * uses (FROM … AS, WORKDIR, COPY [--from] [--chown], RUN, ENV k=v …, USER, EXPOSE, VOLUME,
 * HEALTHCHECK [options] CMD […], STOPSIGNAL, CMD […]) and fails loudly on anything else.
 */
export interface Instruction {
  op: string
  /** The text after the keyword, continuation lines joined. */
  rest: string
  flags: Record<string, string>
  args: string[]
}

export interface Stage {
  from: string
  name: string | undefined
  instructions: Instruction[]
}

const KNOWN = new Set([
  'FROM',
  'WORKDIR',
  'COPY',
  'RUN',
  'ENV',
  'USER',
  'EXPOSE',
  'VOLUME',
  'HEALTHCHECK',
  'STOPSIGNAL',
  'CMD',
])

/** Splits `--flag=value` options off the front of an instruction's text. */
function splitFlags(text: string): { flags: Record<string, string>; rest: string } {
  const flags: Record<string, string> = {}
  let rest = text
  for (let m = /^--([a-z-]+)=(\S+)\s+/.exec(rest); m; m = /^--([a-z-]+)=(\S+)\s+/.exec(rest)) {
    flags[m[1]!] = m[2]!
    rest = rest.slice(m[0].length)
  }
  return { flags, rest }
}

export function parseDockerfile(text: string): Stage[] {
  const lines: string[] = []
  let current = ''
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (!current && (line === '' || line.startsWith('#'))) continue
    if (line.startsWith('#')) continue // a comment inside a continued instruction
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `
      continue
    }
    lines.push(current + line)
    current = ''
  }
  if (current) throw new Error('Dockerfile ends inside a continued line')
  const stages: Stage[] = []
  for (const line of lines) {
    const m = /^([A-Za-z]+)\s+(.*)$/.exec(line)
    if (!m) throw new Error(`cannot read Dockerfile line: ${line}`)
    const op = m[1]!.toUpperCase()
    if (!KNOWN.has(op)) throw new Error(`the image test does not know ${op}: ${line}`)
    const { flags, rest } = splitFlags(m[2]!)
    const args = rest.startsWith('[') ? (JSON.parse(rest) as string[]) : rest.split(/\s+/)
    if (op === 'FROM') {
      stages.push({
        from: args[0]!,
        name: args[2] && /^as$/i.test(args[1]!) ? args[2] : undefined,
        instructions: [],
      })
      continue
    }
    const stage = stages.at(-1)
    if (!stage) throw new Error(`${op} before FROM`)
    stage.instructions.push({ op, rest, flags, args })
  }
  return stages
}

/** `ENV A=1 B=2` pairs (values without spaces or quotes, which is all our Dockerfile uses). */
export function envPairs(instruction: Instruction): Record<string, string> {
  return Object.fromEntries(
    instruction.args.map((pair) => {
      const eq = pair.indexOf('=')
      if (eq <= 0) throw new Error(`ENV needs key=value pairs: ${instruction.rest}`)
      return [pair.slice(0, eq), pair.slice(eq + 1)]
    }),
  )
}

/** The argv of `HEALTHCHECK [options] CMD [...]`. */
export function healthcheckCommand(instruction: Instruction): string[] {
  const at = instruction.rest.indexOf('CMD ')
  if (at < 0) throw new Error(`HEALTHCHECK without CMD: ${instruction.rest}`)
  return JSON.parse(instruction.rest.slice(at + 4).trim()) as string[]
}
