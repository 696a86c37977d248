import { formatBytes, formatCents } from './format.ts'
import type { Digest } from './files.ts'
import type { GatewayClient } from './gateway-client.ts'
import type { PushLimits } from './gateway-api.ts'
import type { Reporter } from './deploy.ts'
import type { FunctionBundle } from './functions.ts'

/** What a dry run found out: the push it would make, and what that would cost. */
export interface PlanResult {
  /** The project's id at the gateway. */
  projectId: string
  filesTotal: number
  bytesTotal: number
  /** Distinct contents among the files. */
  filesDistinct: number
  /** Contents the gateway would ask for (not in the project's last ready deploy). */
  filesToUpload: number
  /** Bytes of those; undefined when the gateway could not tell. */
  bytesToUpload?: number
  /** Functions whose zip would be uploaded (changed or new), and their bytes. */
  functionsToUpload?: string[]
  functionBytesToUpload?: number
  /** What the push would cost at the current price; undefined when unknown. */
  estimatedCostCents?: number
  limits?: PushLimits
  planMs: number
}

/**
 * The dry run: sends the digest to `POST /v1/push-plan`, which answers what a push would upload
 * and cost. Nothing is created at the gateway or at Netlify, and nothing is billed.
 */
export async function planPush(
  client: Pick<GatewayClient, 'plan'>,
  digest: Digest,
  options: {
    project: string
    draft: boolean
    alias?: string | undefined
    timeoutMs: number
    functions?: FunctionBundle | undefined
  },
  reporter: Reporter,
): Promise<PlanResult> {
  const started = Date.now()
  const plan = await client.plan(
    {
      project: options.project,
      files: digest.files,
      sizes: digest.sizes,
      draft: options.draft,
      ...(options.alias ? { alias: options.alias } : {}),
      ...options.functions?.manifest,
    },
    AbortSignal.timeout(options.timeoutMs),
  )
  const result: PlanResult = {
    projectId: plan.project.id,
    filesTotal: plan.files.total,
    bytesTotal: digest.totalBytes,
    filesDistinct: plan.files.distinct,
    filesToUpload: plan.wouldUpload.files,
    ...(plan.wouldUpload.bytes === null ? {} : { bytesToUpload: plan.wouldUpload.bytes }),
    ...(plan.estimatedCostCents === null ? {} : { estimatedCostCents: plan.estimatedCostCents }),
    ...(plan.wouldUpload.functions ? { functionsToUpload: plan.wouldUpload.functions } : {}),
    ...(plan.wouldUpload.functionBytes === undefined
      ? {}
      : { functionBytesToUpload: plan.wouldUpload.functionBytes }),
    ...(plan.limits ? { limits: plan.limits } : {}),
    planMs: Date.now() - started,
  }
  reporter.info(describePlan(result))
  return result
}

/** `Dry run: would upload 3 of 50 files (1.2 kB of 80.0 kB), about 11 ¢. Nothing was deployed.` */
export function describePlan(plan: PlanResult): string {
  const bytes =
    plan.bytesToUpload === undefined
      ? ''
      : ` (${formatBytes(plan.bytesToUpload)} of ${formatBytes(plan.bytesTotal)})`
  const cost =
    plan.estimatedCostCents === undefined ? '' : `, about ${formatCents(plan.estimatedCostCents)}`
  const fns = plan.functionsToUpload?.length
    ? ` and ${plan.functionsToUpload.length} functions (${plan.functionsToUpload.join(', ')}; ` +
      `${formatBytes(plan.functionBytesToUpload ?? 0)})`
    : ''
  return (
    `Dry run: would upload ${plan.filesToUpload} of ${plan.filesTotal} files${bytes}${fns}${cost}. ` +
    'Nothing was deployed or billed.'
  )
}
