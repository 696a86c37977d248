import type { RequestHandler } from 'express'

/** How long a refused client may go on sending before the socket is cut. */
const LINGER_MS = 2_000

/**
 * A request answered before its body was read (a refusal: bad key, unknown push, too large)
 * must not keep its connection: Node would otherwise read and discard the rest of the body to
 * reuse the socket, so a client trickling a huge body holds a connection for as long as the
 * request timeout. The answer says `Connection: close`; once it is out, the socket is ended and,
 * if the client still has not stopped after a short linger (which lets it read the answer
 * instead of losing it to a reset), destroyed.
 */
export const closeUnreadBodies: RequestHandler = (req, res, next) => {
  const writeHead = res.writeHead
  res.writeHead = function (this: typeof res, ...args: unknown[]) {
    if (!req.complete) this.setHeader('Connection', 'close')
    return (writeHead as (...a: unknown[]) => typeof res).apply(this, args)
  } as typeof res.writeHead
  res.on('finish', () => {
    if (req.complete) return
    const socket = req.socket
    const cut = setTimeout(() => socket.destroy(), LINGER_MS)
    cut.unref()
    socket.once('close', () => clearTimeout(cut))
  })
  next()
}
