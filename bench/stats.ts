export interface Summary {
  median: number
  min: number
  max: number
  p99: number
  n: number
}

/** Median, min, max and p99 of a list of milliseconds. */
export function summarize(values: number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
  return { median: at(0.5), min: sorted[0]!, max: sorted.at(-1)!, p99: at(0.99), n: sorted.length }
}

export const ms = (v: number) => `${v.toFixed(2)} ms`
