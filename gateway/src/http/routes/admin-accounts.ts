import { Router, type Request } from 'express'
import type { AccountService } from '../../services/accounts.ts'
import type { Actor, AuditLog } from '../../services/audit.ts'
import type { VaultAdmin } from '../../services/vault-admin.ts'
import { jsonBody } from '../middleware/json-body.ts'
import {
  auditQuery,
  customerBodySchema,
  customerListQuery,
  customerParams,
  keyBodySchema,
  keyParams,
  projectParams,
} from '../schemas.ts'
import { netlifyTokenBodySchema, projectBodySchema } from 'kaixu-contract'
import { parse } from '../validate.ts'

const admin = (req: Request): Actor => ({ name: 'admin', requestId: String(req.id) })

/**
 * The operator's account routes under /admin/api: customers, their keys, Netlify tokens and
 * projects; the audit log; the vault. Every change is audited with the request id.
 */
export function adminAccountRoutes(deps: {
  accounts: AccountService
  auditLog: AuditLog
  vaultAdmin: VaultAdmin
}): Router {
  const { accounts, auditLog, vaultAdmin } = deps
  const router = Router()
  const json = jsonBody('16kb')
  const customer = (req: Request) => parse(customerParams, req.params, 'path').id

  router.get('/customers', async (req, res) => {
    const { status } = parse(customerListQuery, req.query, 'query')
    res.json({ customers: await accounts.listCustomers(status) })
  })

  router.post('/customers', json, async (req, res) => {
    const { name } = parse(customerBodySchema, req.body ?? {}, 'body')
    res.status(201).json(await accounts.createCustomer(name, admin(req)))
  })

  router.get('/customers/:id', async (req, res) => {
    res.json(await accounts.getCustomer(customer(req)))
  })

  router.post('/customers/:id/suspend', async (req, res) => {
    res.json(await accounts.setCustomerStatus(customer(req), 'suspended', admin(req)))
  })

  router.post('/customers/:id/reactivate', async (req, res) => {
    res.json(await accounts.setCustomerStatus(customer(req), 'active', admin(req)))
  })

  router.get('/customers/:id/keys', async (req, res) => {
    res.json({ keys: await accounts.listApiKeys(customer(req)) })
  })

  // The one answer that carries a key: shown once, never stored, never logged.
  router.post('/customers/:id/keys', json, async (req, res) => {
    const { name } = parse(keyBodySchema, req.body ?? {}, 'body')
    res
      .status(201)
      .json(await accounts.createApiKey(customer(req), admin(req), name ? { name } : {}))
  })

  router.delete('/customers/:id/keys/:keyId', async (req, res) => {
    const { id, keyId } = parse(keyParams, req.params, 'path')
    res.json(await accounts.revokeApiKey(id, keyId, admin(req)))
  })

  router.get('/customers/:id/netlify-token', async (req, res) => {
    res.json(await accounts.netlifyTokenInfo(customer(req)))
  })

  router.put('/customers/:id/netlify-token', json, async (req, res) => {
    const { token } = parse(netlifyTokenBodySchema, req.body ?? {}, 'body')
    res.json(await accounts.setNetlifyToken(customer(req), token, admin(req)))
  })

  router.post('/customers/:id/netlify-token/rotate', json, async (req, res) => {
    const { token } = parse(netlifyTokenBodySchema, req.body ?? {}, 'body')
    res.json(await accounts.setNetlifyToken(customer(req), token, admin(req), { rotate: true }))
  })

  router.delete('/customers/:id/netlify-token', async (req, res) => {
    res.json(await accounts.revokeNetlifyToken(customer(req), admin(req)))
  })

  router.get('/customers/:id/projects', async (req, res) => {
    res.json({ projects: await accounts.listProjects(customer(req)) })
  })

  router.post('/customers/:id/projects', json, async (req, res) => {
    const body = parse(projectBodySchema, req.body ?? {}, 'body')
    res.status(201).json(await accounts.addProject(customer(req), body, admin(req)))
  })

  router.delete('/customers/:id/projects/:project', async (req, res) => {
    const { id, project } = parse(projectParams, req.params, 'path')
    res.json(await accounts.removeProject(id, project, admin(req)))
  })

  router.get('/audit', async (req, res) => {
    const q = parse(auditQuery, req.query, 'query')
    res.json(
      await auditLog.list({
        customerId: q.customer,
        month: q.month ? `${q.month}-01` : undefined,
        action: q.action,
        beforeId: q.before,
        limit: q.limit ?? 100,
      }),
    )
  })

  router.get('/vault', async (_req, res) => {
    res.json(await vaultAdmin.status())
  })

  router.post('/vault/rotate', async (req, res) => {
    res.json(await vaultAdmin.rotate(admin(req)))
  })

  return router
}
