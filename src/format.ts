/** Scales bytes to the largest decimal unit under 1000: `[1.234, 'MB']`. */
function scaleBytes(bytes: number): [number, string] {
  const units = ['kB', 'MB', 'GB', 'TB']
  let value = bytes
  let unit = -1
  do {
    value /= 1000
    unit++
  } while (value >= 1000 && unit < units.length - 1)
  return [value, units[unit]!]
}

/** Bytes for humans, in decimal units as GitHub and Netlify show them: `1.2 MB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`
  const [value, unit] = scaleBytes(bytes)
  return `${value.toFixed(1)} ${unit}`
}

/** A duration for humans: `850 ms`, `12.3 s`, `2 min 5 s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  const seconds = Math.round(ms / 1000)
  return `${Math.floor(seconds / 60)} min ${seconds % 60} s`
}

/**
 * Bytes of a budget: like `formatBytes`, but rounded down and without a trailing `.0`
 * (`49.9 GB of 50 GB`), so a remainder is never shown bigger than it is.
 */
export function formatBudgetBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`
  const [value, unit] = scaleBytes(bytes)
  // The epsilon keeps float noise (4.9999999…) from costing a tenth.
  const tenths = Math.floor(value * 10 + 1e-9) / 10
  return `${Number.isInteger(tenths) ? tenths : tenths.toFixed(1)} ${unit}`
}

/** A wait in whole seconds for humans, rounded up past a minute: `42 s`, `2 min 5 s`, `5 h 3 min`. */
export function formatWait(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds))
  if (s < 60) return `${s} s`
  if (s < 3600) return s % 60 === 0 ? `${s / 60} min` : `${Math.floor(s / 60)} min ${s % 60} s`
  // Rounded up to the minute: telling people to retry a little early would fail again.
  const minutes = Math.ceil(s / 60)
  const hours = Math.floor(minutes / 60)
  return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`
}

/** An ISO instant as `2026-12-01 00:00 UTC`; anything unparsable is shown as given. */
export function formatUtc(iso: string): string {
  const time = Date.parse(iso)
  if (Number.isNaN(time)) return iso
  return `${new Date(time).toISOString().slice(0, 16).replace('T', ' ')} UTC`
}

/** Cents for humans: `12 ¢` below a dollar, `$1.23` from there on. */
export function formatCents(cents: number): string {
  return cents < 100 ? `${cents} ¢` : `$${(cents / 100).toFixed(2)}`
}
