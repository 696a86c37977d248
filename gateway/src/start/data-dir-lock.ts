import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/**
 * PGlite is a single process: two processes opening one data directory corrupt it. The serving
 * process records its pid; anyone else refuses while that process lives.
 */
export async function acquireDataDirLock(dataDir: string): Promise<() => Promise<void>> {
  await mkdir(dataDir, { recursive: true })
  const file = join(dataDir, 'gateway.pid')
  const holder = await lockHolder(dataDir)
  if (holder !== undefined && holder !== process.pid) {
    throw new DataDirBusyError(dataDir, holder)
  }
  await writeFile(file, String(process.pid))
  return async () => {
    if ((await lockHolder(dataDir)) === process.pid) await rm(file, { force: true })
  }
}

/** The pid of a live process holding `dataDir`, if any (stale files are ignored). */
export async function lockHolder(dataDir: string): Promise<number | undefined> {
  const text = await readFile(join(dataDir, 'gateway.pid'), 'utf8').catch(() => undefined)
  const pid = Number(text)
  if (!text || !Number.isInteger(pid) || pid <= 0) return undefined
  try {
    process.kill(pid, 0)
    return pid
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined
  }
}

export class DataDirBusyError extends Error {
  override name = 'DataDirBusyError'
  constructor(dataDir: string, pid: number) {
    super(
      `The gateway (pid ${pid}) holds ${dataDir}; the embedded database allows one process. ` +
        'Stop it first, set KAIXU_GATEWAY_URL (with KAIXU_ADMIN_TOKEN) to send commands through ' +
        'its admin API, or point DATABASE_URL at Postgres to run commands beside it.',
    )
  }
}
