import { createHash } from 'node:crypto'

/** SHA-1 in hex: how pushes name files. */
export const sha1 = (data: string | Buffer) => createHash('sha1').update(data).digest('hex')

/**
 * A batch body: "KXB1", count, (sha1, size) per file, then the bytes. `sha` and `size` override
 * a file's row of the table (to send one that lies).
 */
export function frame(
  files: (Buffer | { content: Buffer; sha?: string; size?: number })[],
): Buffer {
  const entries = files.map((f) => (Buffer.isBuffer(f) ? { content: f } : f))
  const head = Buffer.alloc(8 + 24 * entries.length)
  head.write('KXB1', 0, 'latin1')
  head.writeUInt32BE(entries.length, 4)
  entries.forEach((f, i) => {
    Buffer.from(f.sha ?? sha1(f.content), 'hex').copy(head, 8 + 24 * i)
    head.writeUInt32BE(f.size ?? f.content.length, 8 + 24 * i + 20)
  })
  return Buffer.concat([head, ...entries.map((f) => f.content)])
}
