import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ConfigError } from '../config.ts'

const VERSION = 'v1'
/** GCM tag length: the full 128 bits, on sealing and (above all) on opening. */
const TAG_BYTES = 16

export interface Vault {
  /** Id of the key new ciphertexts are made with (the first of the keyring). */
  readonly activeKeyId: string
  readonly keyIds: readonly string[]
  /** Encrypts `plaintext` bound to `customerId`: the ciphertext only opens for that customer. */
  seal(customerId: string, plaintext: string): { ciphertext: string; keyId: string }
  open(customerId: string, ciphertext: string): string
}

/**
 * AES-256-GCM with a random 96-bit IV per message, stored as `v1.<kid>.<iv>.<ct>.<tag>`
 * (base64url). The customer id is the associated data, so a ciphertext copied into another
 * customer's row fails authentication instead of leaking a token across tenants.
 */
export function createVault(keys: ReadonlyMap<string, Buffer>): Vault {
  const [activeKeyId] = keys.keys()
  if (!activeKeyId) throw new ConfigError('KAIXU_VAULT_KEYS: no key given')
  const aad = (customerId: string) => Buffer.from(`kaixu:netlify-token:v1|customer=${customerId}`)
  return {
    activeKeyId,
    keyIds: [...keys.keys()],
    seal(customerId, plaintext) {
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', keys.get(activeKeyId)!, iv, {
        authTagLength: TAG_BYTES,
      })
      cipher.setAAD(aad(customerId))
      const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
      const parts = [VERSION, activeKeyId, ...[iv, ct, cipher.getAuthTag()].map(b64u)]
      return { ciphertext: parts.join('.'), keyId: activeKeyId }
    },
    open(customerId, ciphertext) {
      const [version, kid, iv, ct, tag] = ciphertext.split('.')
      if (version !== VERSION || !kid || !iv || ct === undefined || !tag) {
        throw new VaultDecryptError(customerId, 'unrecognised ciphertext format')
      }
      const key = keys.get(kid)
      if (!key) throw new VaultKeyMissingError(kid)
      try {
        // authTagLength pins the tag to 16 bytes: without it GCM also accepts a truncated tag
        // (down to 4 bytes), which makes a forged ciphertext far cheaper to find.
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'), {
          authTagLength: TAG_BYTES,
        })
        decipher.setAAD(aad(customerId))
        decipher.setAuthTag(Buffer.from(tag, 'base64url'))
        return Buffer.concat([
          decipher.update(Buffer.from(ct, 'base64url')),
          decipher.final(),
        ]).toString('utf8')
      } catch (error) {
        throw new VaultDecryptError(customerId, 'authentication failed', error)
      }
    },
  }
}

/** A ciphertext names a key this process's keyring lacks (e.g. rotated by a newer process). */
export class VaultKeyMissingError extends Error {
  override name = 'VaultKeyMissingError'
  readonly keyId: string
  constructor(keyId: string) {
    super(`Vault key '${keyId}' is not in KAIXU_VAULT_KEYS`)
    this.keyId = keyId
  }
}

/**
 * A ciphertext that does not open: tampered, truncated, or copied from another customer's row
 * (the customer id is bound in as associated data). Never a user error; always worth an alert.
 */
export class VaultDecryptError extends Error {
  override name = 'VaultDecryptError'
  constructor(customerId: string, reason: string, cause?: unknown) {
    super(`The Netlify token of ${customerId} does not decrypt: ${reason}`, { cause })
  }
}

const b64u = (b: Buffer) => b.toString('base64url')

/** Parses `kid:base64key[,kid:base64key…]`; every key must be 32 bytes. */
export function parseKeyring(spec: string): Map<string, Buffer> {
  const keys = new Map<string, Buffer>()
  for (const entry of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const match = /^([A-Za-z0-9_-]{1,32}):(.+)$/.exec(entry)
    if (!match) throw new ConfigError('KAIXU_VAULT_KEYS: each entry must look like kid:base64key')
    const [, kid, material] = match as unknown as [string, string, string]
    const key = Buffer.from(material, 'base64')
    if (key.length !== 32) {
      throw new ConfigError(`KAIXU_VAULT_KEYS: key '${kid}' must be 32 bytes of base64`)
    }
    if (keys.has(kid)) throw new ConfigError(`KAIXU_VAULT_KEYS: key id '${kid}' appears twice`)
    keys.set(kid, key)
  }
  if (keys.size === 0) throw new ConfigError('KAIXU_VAULT_KEYS: no key given')
  return keys
}

/**
 * The keyring from config; with the embedded database and no keyring, a key generated once into
 * the data directory (so a laptop demo needs no setup). Postgres deployments must bring their own.
 */
export async function loadKeyring(options: {
  vaultKeys: string | undefined
  databaseUrl: string | undefined
  dataDir: string
  warn: (message: string) => void
}): Promise<Map<string, Buffer>> {
  if (options.vaultKeys) return parseKeyring(options.vaultKeys)
  if (options.databaseUrl) {
    throw new ConfigError(
      'KAIXU_VAULT_KEYS: required with DATABASE_URL (e.g. k1:$(openssl rand -base64 32))',
    )
  }
  const file = join(options.dataDir, 'vault.key')
  let spec = await readFile(file, 'utf8').catch(() => undefined)
  if (!spec) {
    spec = `local:${randomBytes(32).toString('base64')}`
    await mkdir(options.dataDir, { recursive: true })
    await writeFile(file, spec, { mode: 0o600, flag: 'wx' }).catch(async () => {
      spec = await readFile(file, 'utf8')
    })
    options.warn(`KAIXU_VAULT_KEYS is unset: generated a vault key into ${file}; back it up`)
  }
  return parseKeyring(spec.trim())
}
