import { ConfigError } from '../config.ts'
import { ERRORS } from '../errors.ts'

/**
 * The CLI's client for a running gateway's admin API (KAIXU_GATEWAY_URL + KAIXU_ADMIN_TOKEN).
 * With the embedded database, `serve` owns the data directory, so commands beside it go here;
 * answers are the same JSON the local services return.
 */
export function createAdminClient(baseUrl: string, adminToken: string) {
  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response
    try {
      res = await fetch(`${baseUrl}/admin/api${path}`, {
        method,
        headers: {
          authorization: `Bearer ${adminToken}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(5 * 60_000),
      })
    } catch (error) {
      throw new ConfigError(
        `KAIXU_GATEWAY_URL: cannot reach ${baseUrl} (${(error as Error).message}); is the gateway running?`,
      )
    }
    const text = await res.text()
    let json: { error?: { code?: string; message?: string; details?: unknown } } | undefined
    try {
      json = JSON.parse(text)
    } catch {
      json = undefined
    }
    if (!res.ok) {
      const e = json?.error
      throw ERRORS.fromAnswer(
        e?.code,
        e?.message ?? `The gateway answered ${res.status}: ${text.slice(0, 200)}`,
        (e?.details as Record<string, unknown>) ?? {},
      )
    }
    return json as T
  }
  const seg = encodeURIComponent
  return {
    get: <T>(path: string) => call<T>('GET', path),
    post: <T>(path: string, body?: unknown) => call<T>('POST', path, body ?? {}),
    put: <T>(path: string, body: unknown) => call<T>('PUT', path, body),
    delete: <T>(path: string) => call<T>('DELETE', path),
    /** Encodes one path segment. */
    seg,
  }
}

export type AdminClient = ReturnType<typeof createAdminClient>
