import { randomBytes } from 'node:crypto'
import { expect, test } from '@jest/globals'
import { createVault, parseKeyring } from '../src/services/vault.ts'

test('the vault opens only full 16-byte GCM tags: a truncated tag is refused', () => {
  const vault = createVault(parseKeyring(`k1:${randomBytes(32).toString('base64')}`))
  const sealed = vault.seal('cus_a', 'secret-token')
  const [v, kid, iv, ct, tag] = sealed.ciphertext.split('.')
  expect(Buffer.from(tag!, 'base64url')).toHaveLength(16)
  expect(vault.open('cus_a', sealed.ciphertext)).toBe('secret-token')
  // GCM without authTagLength accepts a tag cut to 4 bytes, which makes forgery 2^96 times
  // easier; every length short of 16 must fail to open.
  for (const bytes of [4, 8, 12, 15]) {
    const short = Buffer.from(tag!, 'base64url').subarray(0, bytes).toString('base64url')
    expect(() => vault.open('cus_a', [v, kid, iv, ct, short].join('.'))).toThrow(/does not decrypt/)
  }
})
