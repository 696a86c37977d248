// `import { KaixuPush } from 'kaixu-push'` on Node: the browser-safe client, plus folders on disk,
// digested on every core (worker threads, src/hash-pool.ts) with Netlify's file rules.
import { digestDir } from '../files.ts'
import { KaixuPush as WebKaixuPush } from './kaixu-push.ts'
import type { PushResult } from '../deploy.ts'
import type { Digest } from '../files.ts'
import type { PlanResult } from '../plan.ts'
import type { DeployOptions } from './kaixu-push.ts'
import type { FileMap } from './memory.ts'

export * from './index.ts'

/**
 * The client, where `push` and `plan` also take a folder's path: its files are deployed as the
 * Action deploys a folder (dotfiles and `__MACOSX` skipped, symlinks inside it followed).
 */
export class KaixuPush extends WebKaixuPush {
  // Only the type widens: the base hands `files` to `makeDigest`, which this class overrides.
  override push(files: FileMap | string, options: DeployOptions): Promise<PushResult> {
    return super.push(files as FileMap, options)
  }

  override plan(files: FileMap | string, options: DeployOptions): Promise<PlanResult> {
    return super.plan(files as FileMap, options)
  }

  protected override async makeDigest(files: FileMap | string): Promise<Digest> {
    if (typeof files !== 'string') return super.makeDigest(files)
    const digest = await digestDir(files)
    if (digest.count === 0)
      throw new Error(`${files} holds no files to deploy (dotfiles are skipped)`)
    return digest
  }
}
