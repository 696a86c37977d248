import pLimit from 'p-limit'
import type { FunctionBundle } from './functions.ts'
import type { GatewayClient } from './gateway-client.ts'

/**
 * Uploads the functions Netlify asked for (`requiredFunctions` of push-init), a few at a time;
 * an unchanged function is not required, so it is not sent. Answers how many the gateway took
 * and the bytes it counted.
 */
export async function uploadFunctions(
  client: Partial<Pick<GatewayClient, 'uploadFunction'>>,
  pushId: string,
  names: readonly string[],
  bundle: FunctionBundle,
  options: { concurrency: number; signal?: AbortSignal | undefined; log: (line: string) => void },
): Promise<{ functions: number; bytes: number }> {
  const unchanged = bundle.zips.size - names.length
  options.log(
    `${names.length} of ${bundle.zips.size} functions to upload` +
      (names.length > 0 ? `: ${names.join(', ')}` : '') +
      (unchanged > 0 ? ` (${unchanged} unchanged)` : ''),
  )
  if (names.length === 0) return { functions: 0, bytes: 0 }
  const zips = names.map((name) => {
    const zip = bundle.zips.get(name)
    // The gateway can only ask for what this push announced.
    if (!zip) throw new Error(`The gateway asked for function ${name}, which this push has not`)
    return zip
  })
  if (!client.uploadFunction) throw new Error('This client cannot upload functions')
  const upload = client.uploadFunction.bind(client)
  const limit = pLimit(options.concurrency)
  const answers = await Promise.all(
    zips.map((zip) => limit(() => upload(pushId, zip, options.signal))),
  )
  return {
    functions: answers.filter((a) => !a.skipped).length,
    bytes: answers.reduce((n, a) => n + a.bytes, 0),
  }
}
