import { randomBytes } from 'node:crypto'

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'

/** Base62 of `bytes` random bytes (rejection sampling keeps it uniform). */
export function randomBase62(length: number): string {
  let out = ''
  while (out.length < length) {
    for (const b of randomBytes(length * 2)) {
      if (b < 248 && out.length < length) out += ALPHABET[b % 62]
    }
  }
  return out
}

/** Prefixed ids (`push_…`) say what they name in logs and support tickets. */
export const newId = (prefix: 'cus' | 'prj' | 'push' | 'key' | 'inv') =>
  `${prefix}_${randomBase62(20)}`
