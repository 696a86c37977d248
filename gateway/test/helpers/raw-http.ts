import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http'

/** One HTTP answer, its body read whole. */
export interface Answer {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
  /** The body as UTF-8 text. */
  text: () => string
  /** The body parsed as JSON (throws when it is not). */
  json: <T = Record<string, unknown>>() => T
}

/** Reads a response whole into an Answer. */
export function readAnswer(res: IncomingMessage): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    res.on('data', (c: Buffer) => chunks.push(c))
    res.on('error', reject)
    res.on('end', () => {
      const body = Buffer.concat(chunks)
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        body,
        text: () => body.toString('utf8'),
        json: <T>() => JSON.parse(body.toString('utf8')) as T,
      })
    })
  })
}

/**
 * One raw HTTP request to 127.0.0.1:`port`: the path goes on the wire exactly as given (no URL
 * normalisation), and the Host header can name `*.localhost`, which Node cannot resolve.
 */
export function sendRaw(
  port: number,
  method: string,
  path: string,
  options: {
    token?: string | undefined
    json?: unknown
    body?: Buffer | string
    host?: string
    headers?: Record<string, string>
  } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers }
  let payload: Buffer | undefined
  if (options.token) headers['authorization'] = `Bearer ${options.token}`
  if (options.json !== undefined) {
    payload = Buffer.from(JSON.stringify(options.json))
    headers['content-type'] = 'application/json'
  } else if (options.body !== undefined) {
    payload = Buffer.from(options.body)
    headers['content-type'] ??= 'application/octet-stream'
  }
  if (payload) headers['content-length'] = String(payload.length)
  if (options.host) headers['host'] = options.host
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) =>
      readAnswer(res).then(resolve, reject),
    )
    req.on('error', reject)
    req.end(payload)
  })
}
