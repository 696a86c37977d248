/** Counters a test can read through `GET /__sandbox/stats`. */
export interface SandboxStats {
  /** `<METHOD> <route template>` (relative to /api/v1) → requests received, faulted ones included. */
  requests: Record<string, number>
  /** File PUTs that were accepted (200). */
  filePuts: number
  /** Accepted file PUTs per sha1 and per deploy path. */
  filePutsBySha: Record<string, number>
  filePutsByPath: Record<string, number>
  /** Function zip PUTs that were accepted (200), in all and per function name. */
  functionPuts: number
  functionPutsByName: Record<string, number>
  /** Bytes of accepted uploads. */
  uploadedBytes: number
  /** File PUTs refused because the body did not hash to the path's sha. */
  uploadMismatches: number
  sitesCreated: number
  /** Deploys created, from a digest or a zip. */
  deploysCreated: number
  /** Deploys created from a zip archive, the archives' bytes and the files they held. */
  zipDeploys: number
  zipBytes: number
  zipFiles: number
  /** 429s from the request rate limit, the upload concurrency cap and the deploy-creation limit. */
  rateLimited: number
  concurrencyLimited: number
  deployRateLimited: number
  /** Requests hit by a scheduled fault. */
  faultsInjected: number
  /** GET/HEAD requests to deployed sites. */
  siteRequests: number
}

/** Mutable counters behind `GET /__sandbox/stats`. */
export class StatsCounter {
  private stats: SandboxStats = emptyStats()

  /** Counts one API request under its route template. */
  request(key: string): void {
    this.stats.requests[key] = (this.stats.requests[key] ?? 0) + 1
  }

  /** Counts an accepted upload. */
  filePut(sha: string, path: string, size: number): void {
    this.stats.filePuts++
    this.stats.filePutsBySha[sha] = (this.stats.filePutsBySha[sha] ?? 0) + 1
    this.stats.filePutsByPath[path] = (this.stats.filePutsByPath[path] ?? 0) + 1
    this.stats.uploadedBytes += size
  }

  /** Counts an accepted function zip. */
  functionPut(name: string, size: number): void {
    this.stats.functionPuts++
    this.stats.functionPutsByName[name] = (this.stats.functionPutsByName[name] ?? 0) + 1
    this.stats.uploadedBytes += size
  }

  /** Counts a deploy created from a zip archive of `size` bytes holding `files` files. */
  zipDeploy(size: number, files: number): void {
    this.stats.zipDeploys++
    this.stats.zipBytes += size
    this.stats.zipFiles += files
  }

  /** Increments a plain counter. */
  bump(
    key:
      | 'uploadMismatches'
      | 'sitesCreated'
      | 'deploysCreated'
      | 'rateLimited'
      | 'concurrencyLimited'
      | 'deployRateLimited'
      | 'faultsInjected'
      | 'siteRequests',
  ): void {
    this.stats[key]++
  }

  /** A deep copy, safe to serialise while requests keep counting. */
  snapshot(): SandboxStats {
    return structuredClone(this.stats)
  }

  /** Sets every counter back to zero. */
  reset(): void {
    this.stats = emptyStats()
  }
}

function emptyStats(): SandboxStats {
  return {
    requests: {},
    filePuts: 0,
    filePutsBySha: {},
    filePutsByPath: {},
    functionPuts: 0,
    functionPutsByName: {},
    uploadedBytes: 0,
    uploadMismatches: 0,
    sitesCreated: 0,
    deploysCreated: 0,
    zipDeploys: 0,
    zipBytes: 0,
    zipFiles: 0,
    rateLimited: 0,
    concurrencyLimited: 0,
    deployRateLimited: 0,
    faultsInjected: 0,
    siteRequests: 0,
  }
}
