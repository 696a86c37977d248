import { formatBytes, formatCents } from './format.ts'
import type { Digest } from './files.ts'
import type { GatewayClient } from './gateway-client.ts'
import type { PushLimits } from 'kaixu-contract'
import type { Reporter } from './deploy.ts'

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
  options: { project: string; draft: boolean; alias?: string | undefined; timeoutMs: number },
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
  return (
    `Dry run: would upload ${plan.filesToUpload} of ${plan.filesTotal} files${bytes}${cost}. ` +
    'Nothing was deployed or billed.'
  )
}
