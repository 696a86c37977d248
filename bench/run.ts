/**
 * `npm run bench`: every benchmark scenario, never part of `npm test`. Prints a table and writes
 * the figures to bench/results.json and docs/benchmarks.md. Postgres scenarios run when
 * BENCH_DATABASE_URL (or TEST_DATABASE_URL) names a server.
 */
import { cpus, totalmem } from 'node:os'
import { writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { benchMetering } from './metering.ts'
import { ms, type Summary } from './stats.ts'

const root = resolve(import.meta.dirname, '..')
const pgUrl = process.env['BENCH_DATABASE_URL'] || process.env['TEST_DATABASE_URL']

const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`
const sections: string[] = []
const json: Record<string, unknown> = { machine, date: new Date().toISOString() }

for (const [name, url] of [
  ['PGlite', undefined],
  ...(pgUrl ? [['Postgres', pgUrl]] : []),
] as const) {
  console.log(`metering checks on ${name}…`)
  const results = await benchMetering(url)
  json[`metering-${name}`] = results
  const [base, loaded] = Object.values(results) as [Summary, Summary]
  const ratio = loaded.median / base.median
  sections.push(
    [
      `### Cap and pacing checks per push-init (${name})`,
      '',
      '| history | median | min | max | p99 | samples |',
      '| --- | --- | --- | --- | --- | --- |',
      ...Object.entries(results).map(
        ([label, s]) =>
          `| ${label} | ${ms(s.median)} | ${ms(s.min)} | ${ms(s.max)} | ${ms(s.p99)} | ${s.n} |`,
      ),
      '',
      `Ratio of medians: **${ratio.toFixed(2)}×** (target ≤ 2×: ${ratio <= 2 ? 'met' : 'missed'}).`,
      '',
    ].join('\n'),
  )
  console.log(sections.at(-1))
}

const doc = `# Benchmarks

Produced by \`npm run bench\` (Postgres rows with \`BENCH_DATABASE_URL=postgres://…\`) on ${machine},
${new Date().toISOString().slice(0, 10)}. Each figure is measured in the same run; medians of the
samples shown, with min, max and p99.

## Metering

The cap and pacing checks of one \`push-init\` (one transaction: two pacing-window upserts and the
conditional monthly reservation), with no history and with 100 000 past pushes and usage events for
the customer. They touch rows by primary key only, so history must not slow them down.

${sections.join('\n')}`
await writeFile(join(root, 'docs', 'benchmarks.md'), doc)
await writeFile(join(root, 'bench', 'results.json'), `${JSON.stringify(json, null, 2)}\n`)
console.log('wrote docs/benchmarks.md and bench/results.json')
