// kaixu-contract: the wire contract of the Kaixu gateway's /v1 API, imported by the gateway, the
// Action and CLI (bundled into dist/) and the client library. Browser-safe: zod and web-platform
// APIs only, no Node built-ins.
export * from './answers.ts'
export * from './batch-frames.ts'
export * from './errors.ts'
export * from './patterns.ts'
export * from './requests.ts'
