import { Router, type Request } from 'express'
import type { AccountService } from '../../services/accounts.ts'
import type { Actor } from '../../services/audit.ts'
import { jsonBody } from '../middleware/json-body.ts'
import { z } from 'zod'
import { netlifyTokenBodySchema, projectBodySchema, projectRefSchema } from 'kaixu-contract'
import { parse } from '../validate.ts'

const ownProjectParams = z.object({ project: projectRefSchema })

const self = (req: Request): Actor => ({
  name: `key:${req.caller!.apiKeyId}`,
  requestId: req.caller!.requestId,
  apiKeyId: req.caller!.apiKeyId,
})

/**
 * A customer's self-service with their own key: register or rotate their Netlify token, list,
 * register and remove projects. Everything is scoped to the key's customer; there is no id to guess.
 */
export function accountRoutes(accounts: AccountService): Router {
  const router = Router()
  const json = jsonBody('16kb')

  router.get('/netlify-token', async (req, res) => {
    res.json(await accounts.netlifyTokenInfo(req.caller!.customerId))
  })

  router.put('/netlify-token', json, async (req, res) => {
    const { token } = parse(netlifyTokenBodySchema, req.body ?? {}, 'body')
    res.json(await accounts.setNetlifyToken(req.caller!.customerId, token, self(req)))
  })

  router.get('/projects', async (req, res) => {
    res.json({ projects: await accounts.listProjects(req.caller!.customerId) })
  })

  router.post('/projects', json, async (req, res) => {
    const body = parse(projectBodySchema, req.body ?? {}, 'body')
    res.status(201).json(await accounts.addProject(req.caller!.customerId, body, self(req)))
  })

  // By id or name; new pushes to it are refused, its history stays readable.
  router.delete('/projects/:project', async (req, res) => {
    const { project } = parse(ownProjectParams, req.params, 'path')
    res.json(await accounts.removeProject(req.caller!.customerId, project, self(req)))
  })

  return router
}
