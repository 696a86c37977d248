import { createHash } from 'node:crypto'
import { crc32 } from 'node:zlib'
import { randomBase62 } from '../lib/ids.ts'

/**
 * Kaixu API keys: `kx_live_` + 32 base62 characters (~190 bits) + a 6-character base62 CRC32 of
 * everything before it. The fixed prefix lets secret scanners find leaked keys; the checksum lets
 * us (and them) reject a mistyped or made-up key without touching the database.
 */
export const KEY_PREFIX = 'kx_live_'
const BODY_LENGTH = 32
const CHECKSUM_LENGTH = 6
const KEY_PATTERN = new RegExp(`^${KEY_PREFIX}[0-9A-Za-z]{${BODY_LENGTH + CHECKSUM_LENGTH}}$`)
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'

function checksum(payload: string): string {
  let n = crc32(payload)
  let out = ''
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = ALPHABET[n % 62] + out
    n = Math.floor(n / 62)
  }
  return out
}

export interface NewApiKey {
  /** The key itself: shown once, never stored. */
  key: string
  hash: string
  /** Enough of the key to recognise it in a list. */
  start: string
}

export function generateApiKey(): NewApiKey {
  const payload = KEY_PREFIX + randomBase62(BODY_LENGTH)
  const key = payload + checksum(payload)
  return { key, hash: hashApiKey(key), start: key.slice(0, KEY_PREFIX.length + 4) }
}

/** Format and checksum only; says nothing about whether the key exists. */
export function isWellFormedApiKey(key: string): boolean {
  if (!KEY_PATTERN.test(key)) return false
  const payload = key.slice(0, -CHECKSUM_LENGTH)
  return checksum(payload) === key.slice(-CHECKSUM_LENGTH)
}

/** Keys carry ~190 random bits, so a fast hash is enough; lookups are by equality. */
export const hashApiKey = (key: string) => createHash('sha256').update(key).digest('hex')
