import { z } from 'zod'
import { ConfigError } from '../config.ts'
import { ERRORS } from '../errors.ts'
import {
  adminWebhookBodySchema,
  auditQuery,
  customerBodySchema,
  customerListQuery,
  customerParams,
  deliveryListQuery,
  deliveryParams,
  finalizeBodySchema,
  invoicesQuery,
  jobParams,
  jobsQuery,
  keyBodySchema,
  keyParams,
  limitsBodySchema,
  pricingBodySchema,
  projectParams,
  webhookParams,
} from '../http/schemas.ts'
import { netlifyTokenBodySchema, projectBodySchema } from 'kaixu-contract'
import {
  onboardingCreateSchema,
  onboardingListQuery,
  onboardingParams,
} from '../http/onboarding/schemas.ts'
import { parse } from '../http/validate.ts'
import type { JobQueue } from '../jobs/queue.ts'
import type { ActorRef } from '../services/audit.ts'
import { invoicesToCsv } from '../services/billing.ts'
import { monthOf } from '../services/metering.ts'
import type { AppServices } from '../services/index.ts'

/**
 * Every operator operation, listed once: its input schemas (path, query and body, as on the
 * wire), its route under /admin/api and its service call. The admin JSON routes
 * (./admin-routes.ts), the in-process `localAdmin` and the HTTP `httpAdmin` are all built from
 * this list, so the CLI, the API and their audit entries cannot drift apart.
 */

/** What an operation may use: the services, with the job queue started on first use. */
export type AdminServices = Pick<
  AppServices,
  | 'accounts'
  | 'billing'
  | 'auditLog'
  | 'vaultAdmin'
  | 'webhooks'
  | 'onboarding'
  | 'operations'
  | 'clock'
> & { jobs(): Promise<JobQueue> }

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE'
type Shape = z.ZodObject
const none = z.object({})

export interface Operation<P extends Shape, Q extends Shape, B extends Shape, Out> {
  method: Method
  /** Express route under /admin/api; its `:params` are the keys of `path`. */
  route: string
  path: P
  query: Q
  /** Present on operations that take a JSON body. */
  body: B | undefined
  /** The most JSON the route reads (express's notation); larger bodies get 413. */
  bodyLimit: string
  /** The HTTP status of a success (201 for a creation, 202 for a queued resend). */
  status: number
  call(
    s: AdminServices,
    input: { path: z.output<P>; query: z.output<Q>; body: z.output<B> },
    actor: ActorRef,
    origin: string,
  ): Promise<Out>
  /** A non-JSON rendering the HTTP answer takes when the query asks for it (invoices as CSV). */
  render?(out: Out, query: z.output<Q>): { type: string; text: string } | undefined
}

function op<
  P extends Shape = typeof none,
  Q extends Shape = typeof none,
  B extends Shape = typeof none,
  Out = unknown,
>(
  o: Partial<
    Pick<Operation<P, Q, B, Out>, 'path' | 'query' | 'body' | 'bodyLimit' | 'status' | 'render'>
  > &
    Pick<Operation<P, Q, B, Out>, 'method' | 'route' | 'call'>,
): Operation<P, Q, B, Out> {
  return {
    ...o,
    path: o.path ?? (none as unknown as P),
    query: o.query ?? (none as unknown as Q),
    body: o.body,
    bodyLimit: o.bodyLimit ?? '16kb',
    status: o.status ?? 200,
  }
}

/** Routes that never checked their customer id's shape answer 404 for a bad one, as before. */
const anyCustomer = z.object({ id: z.string() })

export const OPERATIONS = {
  // --- limits, pricing, invoices ---------------------------------------------------------------
  limitsShow: op({
    method: 'GET',
    route: '/customers/:id/limits',
    path: anyCustomer,
    call: async (s, { path }) => {
      await s.billing.requireCustomer(path.id)
      return s.accounts.limitsReport(path.id)
    },
  }),
  limitsSet: op({
    method: 'PUT',
    route: '/customers/:id/limits',
    path: anyCustomer,
    body: limitsBodySchema,
    call: (s, { path, body }, actor) => s.accounts.setLimits(path.id, body, actor),
  }),
  pricingList: op({
    method: 'GET',
    route: '/pricing',
    call: async (s) => ({ versions: await s.billing.listPricing() }),
  }),
  pricingSet: op({
    method: 'POST',
    route: '/pricing',
    body: pricingBodySchema,
    status: 201,
    call: (s, { body }, actor) =>
      s.billing.setPricing(
        { ...body, effectiveFrom: body.effectiveFrom ? new Date(body.effectiveFrom) : undefined },
        actor,
      ),
  }),
  invoicesList: op({
    method: 'GET',
    route: '/invoices',
    query: invoicesQuery,
    call: async (s, { query }) => ({
      invoices: await s.billing.invoices(
        query.month ? `${query.month}-01` : monthOf(s.clock.now()),
        query.customer,
      ),
    }),
    render: ({ invoices }, query) =>
      query.format === 'csv' ? { type: 'text/csv', text: invoicesToCsv(invoices) } : undefined,
  }),
  invoicesFinalize: op({
    method: 'POST',
    route: '/invoices/finalize',
    body: finalizeBodySchema,
    call: (s, { body }, actor) => s.billing.finalize(`${body.month}-01`, actor, body.customerId),
  }),

  // --- background jobs: `state=failed` lists the dead ones (every attempt used) -----------------
  jobsList: op({
    method: 'GET',
    route: '/jobs',
    query: jobsQuery,
    call: async (s, { query }) => ({
      jobs: await (
        await s.jobs()
      ).list({
        states: query.state ? [query.state] : undefined,
        queue: query.queue,
        limit: query.limit,
      }),
    }),
  }),
  jobsRetry: op({
    method: 'POST',
    route: '/jobs/:queue/:id/retry',
    path: jobParams,
    call: async (s, { path: { queue, id } }, actor) => {
      await s.jobs() // the queue must be started before operations can reach it
      // The same audited operation as the dashboard's.
      if (!(await s.operations.retryJob(queue, id, actor))) {
        throw ERRORS.notFound(`Dead job '${id}' in ${queue}`)
      }
      return { retried: true, queue, id }
    },
  }),

  // --- customers, their keys, Netlify tokens and projects ---------------------------------------
  customersList: op({
    method: 'GET',
    route: '/customers',
    query: customerListQuery,
    call: async (s, { query }) => ({ customers: await s.accounts.listCustomers(query.status) }),
  }),
  customersCreate: op({
    method: 'POST',
    route: '/customers',
    body: customerBodySchema,
    status: 201,
    call: (s, { body }, actor) => s.accounts.createCustomer(body.name, actor),
  }),
  customersShow: op({
    method: 'GET',
    route: '/customers/:id',
    path: customerParams,
    call: (s, { path }) => s.accounts.getCustomer(path.id),
  }),
  customersSuspend: op({
    method: 'POST',
    route: '/customers/:id/suspend',
    path: customerParams,
    call: (s, { path }, actor) => s.accounts.setCustomerStatus(path.id, 'suspended', actor),
  }),
  customersReactivate: op({
    method: 'POST',
    route: '/customers/:id/reactivate',
    path: customerParams,
    call: (s, { path }, actor) => s.accounts.setCustomerStatus(path.id, 'active', actor),
  }),
  keysList: op({
    method: 'GET',
    route: '/customers/:id/keys',
    path: customerParams,
    call: async (s, { path }) => ({ keys: await s.accounts.listApiKeys(path.id) }),
  }),
  // The one answer that carries a key: shown once, never stored, never logged.
  keysCreate: op({
    method: 'POST',
    route: '/customers/:id/keys',
    path: customerParams,
    body: keyBodySchema,
    status: 201,
    call: (s, { path, body }, actor) =>
      s.accounts.createApiKey(path.id, actor, body.name ? { name: body.name } : {}),
  }),
  keysRevoke: op({
    method: 'DELETE',
    route: '/customers/:id/keys/:keyId',
    path: keyParams,
    call: (s, { path }, actor) => s.accounts.revokeApiKey(path.id, path.keyId, actor),
  }),
  tokensShow: op({
    method: 'GET',
    route: '/customers/:id/netlify-token',
    path: customerParams,
    call: (s, { path }) => s.accounts.netlifyTokenInfo(path.id),
  }),
  tokensSet: op({
    method: 'PUT',
    route: '/customers/:id/netlify-token',
    path: customerParams,
    body: netlifyTokenBodySchema,
    call: (s, { path, body }, actor) => s.accounts.setNetlifyToken(path.id, body.token, actor),
  }),
  tokensRotate: op({
    method: 'POST',
    route: '/customers/:id/netlify-token/rotate',
    path: customerParams,
    body: netlifyTokenBodySchema,
    call: (s, { path, body }, actor) =>
      s.accounts.setNetlifyToken(path.id, body.token, actor, { rotate: true }),
  }),
  tokensRevoke: op({
    method: 'DELETE',
    route: '/customers/:id/netlify-token',
    path: customerParams,
    call: (s, { path }, actor) => s.accounts.revokeNetlifyToken(path.id, actor),
  }),
  projectsList: op({
    method: 'GET',
    route: '/customers/:id/projects',
    path: customerParams,
    call: async (s, { path }) => ({ projects: await s.accounts.listProjects(path.id) }),
  }),
  projectsAdd: op({
    method: 'POST',
    route: '/customers/:id/projects',
    path: customerParams,
    body: projectBodySchema,
    status: 201,
    call: (s, { path, body }, actor) => s.accounts.addProject(path.id, body, actor),
  }),
  projectsRemove: op({
    method: 'DELETE',
    route: '/customers/:id/projects/:project',
    path: projectParams,
    call: (s, { path }, actor) => s.accounts.removeProject(path.id, path.project, actor),
  }),

  // --- the audit log and the vault --------------------------------------------------------------
  auditList: op({
    method: 'GET',
    route: '/audit',
    query: auditQuery,
    call: (s, { query }) =>
      s.auditLog.list({
        customerId: query.customer,
        month: query.month ? `${query.month}-01` : undefined,
        action: query.action,
        beforeId: query.before,
        limit: query.limit ?? 100,
      }),
  }),
  vaultStatus: op({
    method: 'GET',
    route: '/vault',
    call: (s) => s.vaultAdmin.status(),
  }),
  vaultRotate: op({
    method: 'POST',
    route: '/vault/rotate',
    call: (s, _input, actor) => s.vaultAdmin.rotate(actor),
  }),

  // --- webhooks: the operator sees every endpoint; without `customerId`, one is its own ---------
  webhooksList: op({
    method: 'GET',
    route: '/webhooks',
    call: async (s) => ({ endpoints: await s.webhooks.listEndpoints(undefined) }),
  }),
  // The one answer that carries the signing secret: shown once, stored only vaulted.
  webhooksAdd: op({
    method: 'POST',
    route: '/webhooks',
    body: adminWebhookBodySchema,
    status: 201,
    call: (s, { body }, actor) =>
      s.webhooks.createEndpoint(
        { customerId: body.customerId ?? null },
        { url: body.url, events: body.events },
        actor,
      ),
  }),
  webhooksRemove: op({
    method: 'DELETE',
    route: '/webhooks/:id',
    path: webhookParams,
    call: async (s, { path }, actor) => {
      await s.webhooks.removeEndpoint(path.id, undefined, actor)
      return { removed: path.id }
    },
  }),
  webhooksEnable: op({
    method: 'POST',
    route: '/webhooks/:id/enable',
    path: webhookParams,
    call: (s, { path }, actor) => s.webhooks.enableEndpoint(path.id, undefined, actor),
  }),
  deliveriesList: op({
    method: 'GET',
    route: '/webhook-deliveries',
    query: deliveryListQuery,
    call: async (s, { query }) => ({
      deliveries: await s.webhooks.listDeliveries(undefined, query),
    }),
  }),
  deliveryAttempts: op({
    method: 'GET',
    route: '/webhook-deliveries/:id/attempts',
    path: deliveryParams,
    call: async (s, { path }) => ({ attempts: await s.webhooks.attempts(path.id, undefined) }),
  }),
  // --- onboarding links: the URL (its secret) is answered once, at creation --------------------
  onboardingCreate: op({
    method: 'POST',
    route: '/customers/:id/onboarding-links',
    path: customerParams,
    body: onboardingCreateSchema,
    bodyLimit: '4kb',
    status: 201,
    call: (s, { path, body }, actor, origin) => s.onboarding.create(path.id, body, actor, origin),
  }),
  onboardingList: op({
    method: 'GET',
    route: '/onboarding-links',
    query: onboardingListQuery,
    call: (s, { query }) =>
      s.onboarding.list({
        customerId: query.customer,
        limit: query.limit,
        ...(query.before ? { before: query.before } : {}),
      }),
  }),
  onboardingRevoke: op({
    method: 'DELETE',
    route: '/onboarding-links/:id',
    path: onboardingParams,
    call: (s, { path }, actor) => s.onboarding.revoke(path.id, actor),
  }),

  deliveriesResend: op({
    method: 'POST',
    route: '/webhook-deliveries/:id/resend',
    path: deliveryParams,
    status: 202,
    call: async (s, { path }, actor) => {
      await s.webhooks.resend(path.id, undefined, actor)
      return { resent: path.id }
    },
  }),
}

type Operations = typeof OPERATIONS
export type OperationName = keyof Operations
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any operation of the list
export type AnyOperation = Operation<Shape, Shape, Shape, any>

/** The wire input of one part; an absent part (no keys) adds nothing. */
type Part<S extends Shape> = keyof S['shape'] extends never ? object : z.input<S>
type InputOf<O> =
  O extends Operation<infer P, infer Q, infer B, unknown> ? Part<P> & Part<Q> & Part<B> : never
type OutputOf<O> = O extends Operation<Shape, Shape, Shape, infer Out> ? Out : never

/**
 * The operator's interface: one method per operation, taking the wire form of its input (path,
 * query and body fields together) and answering what the admin API answers.
 */
export type AdminApi = {
  [K in OperationName]: (input: InputOf<Operations[K]>) => Promise<OutputOf<Operations[K]>>
}

const keysOf = (schema: Shape) => Object.keys(schema.shape)

function pick(input: Record<string, unknown>, schema: Shape) {
  return Object.fromEntries(keysOf(schema).flatMap((k) => (k in input ? [[k, input[k]]] : [])))
}

function buildApi(
  invoke: (
    name: OperationName,
    o: AnyOperation,
    input: Record<string, unknown>,
  ) => Promise<unknown>,
): AdminApi {
  const entries = (Object.entries(OPERATIONS) as [OperationName, AnyOperation][]).map(
    ([name, o]) => [name, (input: Record<string, unknown> = {}) => invoke(name, o, input)],
  )
  return Object.fromEntries(entries) as AdminApi
}

/** Checks an operation's input, part by part, as the admin API always has. */
export function parseInput(
  o: AnyOperation,
  parts: { path: unknown; query: unknown; body: unknown },
) {
  return {
    path: parse(o.path, parts.path, 'path'),
    query: parse(o.query, parts.query, 'query'),
    body: o.body ? parse(o.body, parts.body ?? {}, 'body') : {},
  }
}

/** The operator's interface in-process (the CLI beside a Postgres or a stopped gateway). */
export function localAdmin(
  // The composition root's Services (typed structurally: start/gateway.ts imports this module).
  services: AppServices & { startJobs(options: { work: boolean }): Promise<JobQueue> },
  actor: ActorRef = 'cli',
): AdminApi {
  const s: AdminServices = { ...services, jobs: () => services.startJobs({ work: false }) }
  // Links made here point at this gateway's own listener (KAIXU_PUBLIC_URL wins when set).
  const origin = `http://${services.config.host}:${services.config.port}`
  return buildApi((_name, o, input) =>
    o.call(
      s,
      parseInput(o, {
        path: pick(input, o.path),
        query: pick(input, o.query),
        body: o.body && pick(input, o.body),
      }),
      actor,
      origin,
    ),
  )
}

/**
 * The operator's interface over a running gateway's admin API (KAIXU_GATEWAY_URL and
 * KAIXU_ADMIN_TOKEN). With the embedded database, `serve` owns the data directory, so commands
 * beside it come here; the answers are the JSON the in-process interface gives.
 */
export function httpAdmin(baseUrl: string, adminToken: string): AdminApi {
  return buildApi(async (_name, o, input) => {
    const route = o.route.replace(/:(\w+)/g, (_m, key: string) =>
      encodeURIComponent(String(input[key])),
    )
    const query = new URLSearchParams(
      Object.entries(pick(input, o.query)).flatMap(([k, v]): [string, string][] =>
        v === undefined ? [] : [[k, String(v)]],
      ),
    ).toString()
    const body = o.body
      ? JSON.stringify(pick(input, o.body))
      : o.method === 'POST'
        ? '{}'
        : undefined
    let res: Response
    try {
      res = await fetch(`${baseUrl}/admin/api${route}${query ? `?${query}` : ''}`, {
        method: o.method,
        headers: {
          authorization: `Bearer ${adminToken}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body }),
        signal: AbortSignal.timeout(5 * 60_000),
      })
    } catch (error) {
      throw new ConfigError(
        `KAIXU_GATEWAY_URL: cannot reach ${baseUrl} (${(error as Error).message}); is the gateway running?`,
      )
    }
    const text = await res.text()
    let json: { error?: { code?: string; message?: string; details?: unknown } } | undefined
    try {
      json = JSON.parse(text)
    } catch {
      json = undefined
    }
    if (!res.ok) {
      const e = json?.error
      throw ERRORS.fromAnswer(
        e?.code,
        e?.message ?? `The gateway answered ${res.status}: ${text.slice(0, 200)}`,
        (e?.details as Record<string, unknown>) ?? {},
      )
    }
    return json
  })
}
