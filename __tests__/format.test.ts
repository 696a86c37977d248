import { describe, expect, it } from '@jest/globals'
import {
  formatBudgetBytes,
  formatBytes,
  formatCents,
  formatUtc,
  formatWait,
} from '../src/format.ts'

describe('formatBudgetBytes', () => {
  it('rounds down and drops a trailing .0', () => {
    expect(formatBudgetBytes(120)).toBe('120 B')
    expect(formatBudgetBytes(1_000_000_000)).toBe('1 GB')
    expect(formatBudgetBytes(50_000_000_000)).toBe('50 GB')
    // formatBytes would say 50.0 GB: more than is left.
    expect(formatBytes(49_999_987_655)).toBe('50.0 GB')
    expect(formatBudgetBytes(49_999_987_655)).toBe('49.9 GB')
    expect(formatBudgetBytes(1_999)).toBe('1.9 kB')
    expect(formatBudgetBytes(0)).toBe('0 B')
  })
})

describe('formatWait', () => {
  it.each([
    [0, '0 s'],
    [42, '42 s'],
    [60, '1 min'],
    [125, '2 min 5 s'],
    [3600, '1 h'],
    [18_180, '5 h 3 min'],
    // Rounded up: retrying at 5 h 3 min would be a second too early.
    [18_181, '5 h 4 min'],
    [7_199, '2 h'],
  ])('%i s reads %s', (seconds, text) => {
    expect(formatWait(seconds)).toBe(text)
  })
})

describe('formatUtc', () => {
  it('shows an instant to the minute in UTC, and anything else as given', () => {
    expect(formatUtc('2026-12-01T00:00:00.000Z')).toBe('2026-12-01 00:00 UTC')
    expect(formatUtc('2026-12-01T01:30:00+01:00')).toBe('2026-12-01 00:30 UTC')
    expect(formatUtc('next month')).toBe('next month')
  })
})

describe('formatCents', () => {
  it('shows cents below a dollar and dollars from there', () => {
    expect(formatCents(0)).toBe('0 ¢')
    expect(formatCents(12)).toBe('12 ¢')
    expect(formatCents(100)).toBe('$1.00')
    expect(formatCents(123)).toBe('$1.23')
  })
})
