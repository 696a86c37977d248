import type { Config } from '../config.ts'
import { jobKind, pushRetryPolicy, type Later } from './job.ts'

type AssembleData = { pushId: string; sha1: string; round?: number }

/** One assembly job per file of a push. */
export const assembleFile = jobKind<AssembleData>({
  name: 'push-assemble',
  singletonKey: ({ pushId, sha1 }) => `${pushId}:${sha1}`,
  options: (config) => pushRetryPolicy(config, 30 * 60),
})

/**
 * Assembles a chunked file and sends it to Netlify; idempotent by the upload's row state. When
 * the send must wait (a Retry-After, another attempt holding the file), the job re-queues itself
 * for later instead of waiting in its worker; `round` counts those re-queues.
 */
export function assembleFileJob(
  chunked: {
    assemble(
      pushId: string,
      sha1: string,
      round: number,
    ): Promise<Omit<Later<AssembleData>, 'data'> | undefined>
  },
  config: Config,
) {
  return assembleFile.definition(config, async ({ pushId, sha1, round = 0 }) => {
    const later = await chunked.assemble(pushId, sha1, round)
    if (!later) return undefined
    return { ...later, data: { pushId, sha1, round: round + 1 } }
  })
}
