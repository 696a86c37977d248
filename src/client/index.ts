// `import { KaixuPush } from 'kaixu-push'` in browsers, workers and edge runtimes (the `browser`,
// `worker` and `edge-light` conditions): in-memory file maps only, fetch and Web Crypto only.
export { KaixuPush } from './kaixu-push.ts'
export { PushError, DeployTimeoutError } from '../deploy.ts'
export { GatewayError } from '../errors.ts'
export { digestFiles } from './memory.ts'
export type { DeployOptions, KaixuPushOptions } from './kaixu-push.ts'
export type { FileContent, FileMap } from './memory.ts'
export type { PushFailure, PushProgress, PushResult, Reporter } from '../deploy.ts'
export type { PlanResult } from '../plan.ts'
export type { PushRecord, PushState } from 'kaixu-contract'
