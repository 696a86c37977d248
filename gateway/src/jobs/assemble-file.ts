import type { Config } from '../config.ts'
import { ASSEMBLE_QUEUE, type ChunkUploads } from '../services/chunk-uploads.ts'
import { retryOptions } from './retry-options.ts'
import type { JobDefinition } from './queue.ts'

/** Assembles a chunked file and sends it to Netlify; idempotent by the upload's row state. */
export function assembleFileJob(
  chunked: ChunkUploads,
  config: Config,
): JobDefinition<{ pushId: string; sha1: string }> {
  return {
    name: ASSEMBLE_QUEUE,
    options: retryOptions(config, 30 * 60),
    handle: ({ pushId, sha1 }) => chunked.assemble(pushId, sha1),
  }
}
