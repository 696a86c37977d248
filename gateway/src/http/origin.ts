import type { Request } from 'express'

/** The origin the caller reached us at: the base of a link when KAIXU_PUBLIC_URL is unset. */
export const originOf = (req: Request) => `${req.protocol}://${req.get('host') ?? 'localhost'}`
