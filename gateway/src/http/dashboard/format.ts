/** Display formats shared by the dashboard's pages. */

export const fmtInt = (n: number) => n.toLocaleString('en-US')

export function fmtBytes(n: number): string {
  if (n < 1000) return `${n} B`
  const units = ['kB', 'MB', 'GB', 'TB', 'PB']
  let v = n
  let i = -1
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000
    i++
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`
}

export const fmtCents = (cents: number) =>
  `$${(cents / 100).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`

/** UTC, to the second: the operator compares these with logs, which are UTC too. */
export const fmtTime = (d: Date | string | null | undefined) =>
  d ? `${new Date(d).toISOString().slice(0, 19).replace('T', ' ')} UTC` : '—'

export function fmtDuration(from: Date, to: Date | null | undefined): string {
  if (!to) return '—'
  const ms = new Date(to).getTime() - new Date(from).getTime()
  return ms < 1000
    ? `${ms} ms`
    : ms < 60_000
      ? `${(ms / 1000).toFixed(1)} s`
      : `${(ms / 60_000).toFixed(1)} min`
}
