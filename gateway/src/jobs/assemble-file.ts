import type { Config } from '../config.ts'
import { ASSEMBLE_QUEUE, type ChunkUploads } from '../services/chunk-uploads.ts'
import { retryOptions } from './retry-options.ts'
import type { JobDefinition } from './queue.ts'

/**
 * Assembles a chunked file and sends it to Netlify; idempotent by the upload's row state. When
 * the send must wait (a Retry-After, another attempt holding the file), the job re-queues itself
 * for later instead of waiting in its worker; `round` counts those re-queues.
 */
export function assembleFileJob(
  chunked: ChunkUploads,
  config: Config,
): JobDefinition<{ pushId: string; sha1: string; round?: number }> {
  return {
    name: ASSEMBLE_QUEUE,
    options: retryOptions(config, 30 * 60),
    handle: async ({ pushId, sha1, round = 0 }) => {
      const later = await chunked.assemble(pushId, sha1, round)
      if (!later) return undefined
      return {
        afterSeconds: later.afterSeconds,
        data: { pushId, sha1, round: round + 1 },
        singletonKey: `${pushId}:${sha1}`,
        customerId: later.customerId,
      }
    },
  }
}
