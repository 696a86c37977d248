/**
 * `npm run bench`: every benchmark scenario, never part of `npm test`. Prints a table and writes
 * the figures to bench/results.json and docs/benchmarks.md. Postgres scenarios run when
 * BENCH_DATABASE_URL (or TEST_DATABASE_URL) names a server. BENCH_ONLY=push,first-push,digest,
 * batch,load,metering,chunked,dashboard picks scenarios; BENCH_RUNS (≥ 3), BENCH_DIGEST_LARGE_MIB,
 * BENCH_CHUNKED_MIB, BENCH_LOAD_SECONDS and BENCH_FIRST_PUSH_LIMITED_RUNS shorten or lengthen a run.
 */
import { cpus, loadavg, totalmem } from 'node:os'
import { mkdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { batchSection, benchBatch } from './batch.ts'
import { benchChunked, chunkedSection } from './chunked.ts'
import { benchDashboard } from './dashboard.ts'
import { benchDigest } from './digest.ts'
import { benchFirstPush, firstPushSection } from './first-push.ts'
import { benchLoad, loadSection } from './load.ts'
import { benchMetering } from './metering.ts'
import { benchIncrementalPush } from './push.ts'
import { ms, type Summary } from './stats.ts'

const root = resolve(import.meta.dirname, '..')
const pgUrl = process.env['BENCH_DATABASE_URL'] || process.env['TEST_DATABASE_URL']

const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`
const ALL = ['push', 'first-push', 'digest', 'batch', 'load', 'metering', 'chunked', 'dashboard']
const only = new Set((process.env['BENCH_ONLY'] ?? ALL.join(',')).split(','))
const sections: string[] = []
const large: string[] = []
const dashboard: string[] = []
const perf: string[] = []
const json: Record<string, unknown> = {
  machine,
  date: new Date().toISOString(),
  loadAverageAtStart: loadavg().map((l) => Number(l.toFixed(2))),
}
const s = (v: number) => `${(v / 1000).toFixed(2)} s`
const range = (x: Summary, f: (v: number) => string = s) =>
  `${f(x.median)} (${f(x.min)}–${f(x.max)})`

if (only.has('push')) {
  console.log('scenario 1: incremental push, 500 files, 10 changed…')
  const r = await benchIncrementalPush()
  json['incremental-push'] = r
  const puts = (runs: { filePuts: number }[]) =>
    [...new Set(runs.map((x) => x.filePuts))].join(', ')
  const phases = Object.entries(r.ours.phases)
    .map(([name, x]) => `| ${name} | ${range(x, (v) => `${Math.round(v)} ms`)} |`)
    .join('\n')
  perf.push(
    [
      '### Scenario 1: incremental push (500 files, 10 changed)',
      '',
      `Each round changes the same ${r.changedShas} files in both copies of the site, then pushes`,
      'both (alternating who goes first); the first push of each side is not measured. Both talk to',
      'the same in-process Netlify sandbox (default limits: 500 requests/min, 5 uploads in flight).',
      '',
      '| | wall time, median (min–max) | Netlify file PUTs per run | runs |',
      '| --- | --- | --- | --- |',
      `| Action → gateway → sandbox | ${range(r.ours.wall)} | ${puts(r.ours.runs)} | ${r.ours.wall.n} |`,
      r.netlifyCli
        ? `| ${r.netlifyCli.version.split(' ')[0]} direct to sandbox | ${range(r.netlifyCli.wall)} | ${puts(r.netlifyCli.runs)} | ${r.netlifyCli.wall.n} |`
        : `| netlify-cli | not measured: ${r.netlifyCliSkipped} | | |`,
      '',
      r.ratio === undefined
        ? ''
        : `Ratio of medians: **${r.ratio.toFixed(2)}×** netlify-cli's wall time (target ≤ 0.4×: ${r.ratio <= 0.4 ? 'met' : 'missed'}). ` +
          `Netlify file PUTs = distinct changed SHA-1s (${r.changedShas}): ${r.ours.runs.every((x) => x.filePuts === r.changedShas) ? 'met' : 'missed'}.`,
      '',
      "Phases of our push (the Action's own timings, from its job summary), median (min–max):",
      '',
      '| phase | time |',
      '| --- | --- |',
      phases,
      '',
      'The wall time of ours includes starting Node and the bundled Action (~0.3-0.5 s here).',
      "netlify-cli's includes its start-up (~2 s to load), config resolution (its extensions",
      'lookup at api.netlifysdk.com fails at once here, so it resolves again offline), the manifest',
      'PUT, and its 1 s polls for `ready`; the Action learns of `ready` through the long-poll of',
      '`push-status?waitFor=ready`, so its finalize phase is the sandbox processing time plus',
      'milliseconds.',
      '',
      'Commands:',
      '',
      `- ours: \`${r.commands['ours']}\``,
      `- baseline: \`${r.commands['netlifyCli']}\``,
      '',
    ].join('\n'),
  )
  console.log(perf.at(-1))
}

if (only.has('first-push')) {
  console.log('scenario 2: first push, 500 files…')
  const r = await benchFirstPush()
  json['first-push'] = r
  perf.push(firstPushSection(r))
  console.log(perf.at(-1))
}

if (only.has('digest')) {
  console.log('scenario 3: digest throughput…')
  const results = await benchDigest()
  json['digest'] = results
  perf.push(
    [
      '### Scenario 3: digest throughput against sha1sum',
      '',
      '| tree | ours (`digestDir`) | sha1sum, every core | sha1sum, one process | ours vs sha1sum (every core) | ours vs the faster sha1sum | runs |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      ...results.map(
        (r) =>
          `| ${r.tree} (${(r.bytes / 2 ** 20).toFixed(0)} MiB) | ${range(r.ours)} | ${range(r.sha1sumParallel)} | ${range(r.sha1sumOne)} | **${r.ratio.toFixed(2)}×** (target ≥ 1.0×: ${r.ratio >= 1 ? 'met' : 'missed'}) | ${r.ratioBest.toFixed(2)}× | ${r.ours.n} |`,
      ),
      '',
      'Medians (min–max) of wall time, page cache warm (one unmeasured run of each first).',
      'The digest hashes on the calling thread plus one worker per other core, every thread taking',
      'the next file from one counter in shared memory. Large files beat sha1sum (Node uses',
      "OpenSSL's SHA-1). On 10 000 small files the two are close: the worker's start-up (~35-60 ms)",
      "is most of what separates them (ours spends ~197 ms of CPU against sha1sum's ~173 ms), and",
      'on this shared 2-core machine single runs vary 2-5x, so the small-file ratio moves around',
      '1.0x from run to run. Commands:',
      '',
      ...Object.entries(results[0]!.commands).map(([k, v]) => `- ${k}: \`${v}\``),
      '',
    ].join('\n'),
  )
  console.log(perf.at(-1))
}

if (only.has('batch')) {
  console.log('scenario 4: small files in batches…')
  const cases = await benchBatch()
  json['batch'] = cases
  perf.push(batchSection(cases))
  console.log(perf.at(-1))
}

if (only.has('load')) {
  console.log('scenario 5: the gateway under load…')
  const r = await benchLoad(pgUrl)
  json['load'] = r
  perf.push(loadSection(r))
  console.log(perf.at(-1))
}

for (const [name, url] of [
  ['PGlite', undefined],
  ...(pgUrl ? [['Postgres', pgUrl]] : []),
] as const) {
  if (!only.has('metering')) break
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

if (only.has('chunked')) {
  console.log('large file through chunks…')
  const r = await benchChunked()
  json['chunked'] = r
  large.push(chunkedSection(r))
  console.log(large.at(-1))
}

if (only.has('dashboard')) {
  for (const [name, url] of [
    ['PGlite', undefined],
    ...(pgUrl ? [['Postgres', pgUrl]] : []),
  ] as const) {
    console.log(`dashboard pages with 100 000 pushes on ${name}…`)
    const results = await benchDashboard(url)
    json[`dashboard-${name}`] = results
    dashboard.push(
      [
        `### Dashboard pages with 100 000 pushes (${name})`,
        '',
        '| page | median | min | max | p99 | samples | median < 100 ms |',
        '| --- | --- | --- | --- | --- | --- | --- |',
        ...Object.entries(results).map(
          ([label, x]) =>
            `| ${label} | ${ms(x.median)} | ${ms(x.min)} | ${ms(x.max)} | ${ms(x.p99)} | ${x.n} | ${x.median < 100 ? 'met' : 'missed'} |`,
        ),
        '',
      ].join('\n'),
    )
    console.log(dashboard.at(-1))
  }
}

const doc = `# Benchmarks

Produced by \`npm run bench\` (Postgres rows with \`BENCH_DATABASE_URL=postgres://…\`) on ${machine},
${new Date().toISOString().slice(0, 10)}, load average ${(json['loadAverageAtStart'] as number[]).join(' / ')} at the start (the
machine is shared: figures are noisy). Each figure is measured in the same run as its baseline;
medians of the samples shown, with min and max.

## Performance (issue 8)

${perf.join('\n')}
## Large files (issue 4)

One file pushed by \`node dist/index.js\` through chunks to a \`kaixu-gateway serve\` process (PGlite)
and on to a separate Netlify sandbox process, against a raw loopback HTTP copy of the same bytes.
Memory is sampled from /proc every 100 ms; the gateway's growth is counted from after a 16 MiB
warm-up push (the embedded database settles at a fixed size first). The gateway streams each
chunk on to Netlify as it arrives (assembly overlaps the upload), so the file is ready about half
a second after its last chunk. What is left is CPU: the whole push spends about 22 CPU-seconds
per GiB on this 2-core machine (Action ~5 for reading, hashing and sending; gateway ~12 for
receiving, storing, hashing again and sending on; sandbox ~4 for hashing and writing), while the
raw copy only moves bytes, so the ratio stays near 0.3x however the phases overlap. Reaching 0.5x
would need about 40% less CPU per byte (larger chunks save ~2 CPU-s per GiB; fewer database
round trips per chunk on PGlite would save more).

${large.join('\n')}
## Dashboard (issue 7)

Server round trip for the admin pages (signed in, on loopback) with 100 000 pushes seeded by SQL.

${dashboard.join('\n')}
## Metering

The cap and pacing checks of one \`push-init\` (one transaction: two pacing-window upserts and the
conditional monthly reservation), with no history and with 100 000 past pushes and usage events for
the customer. They touch rows by primary key only, so history must not slow them down.

${sections.join('\n')}`
if (!ALL.every((name) => only.has(name))) {
  // A partial run must not replace the recorded figures of the scenarios it skipped.
  await mkdir(join(root, 'bench', '.cache'), { recursive: true })
  await writeFile(
    join(root, 'bench', '.cache', 'partial.json'),
    `${JSON.stringify(json, null, 2)}\n`,
  )
  console.log('partial run (BENCH_ONLY): wrote bench/.cache/partial.json only')
  process.exit(0)
}
await writeFile(join(root, 'docs', 'benchmarks.md'), doc)
await writeFile(join(root, 'bench', 'results.json'), `${JSON.stringify(json, null, 2)}\n`)
console.log('wrote docs/benchmarks.md and bench/results.json')
