/**
 * Where the push flow finds a file's bytes: `content` when the file came from an in-memory map
 * (a Blob, which every runtime can slice and stream again for a retry), else `absPath` on disk.
 */
export interface ContentRef {
  /** Deploy path, for messages. */
  readonly path?: string
  /** The file on disk; for an in-memory file, its deploy path (never opened). */
  readonly absPath: string
  readonly size: number
  readonly content?: Blob | undefined
}
