import { parentPort, workerData } from 'node:worker_threads'
import { readManifest, type ManifestLimits } from './manifest.ts'

// One manifest at a time: bytes in, the validated manifest (or its refusal) out.
const limits = workerData as ManifestLimits
parentPort!.on('message', (body: Uint8Array) => {
  parentPort!.postMessage(readManifest(body, limits))
})
