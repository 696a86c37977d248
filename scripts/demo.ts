/**
 * `npm start`: the whole product on one laptop. Starts the gateway on embedded PGlite with the
 * built-in Netlify sandbox, creates a demo customer with a key, a Netlify token and a project,
 * then deploys examples/site by running the real Action bundle exactly as a GitHub runner does.
 */
import { randomBytes } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { loadConfig } from '../gateway/src/config.ts'
import { createLogger } from '../gateway/src/lib/logger.ts'
import { lockHolder } from '../gateway/src/start/data-dir-lock.ts'
import { startGateway } from '../gateway/src/start/gateway.ts'
import { runAction } from './lib/run-action.ts'

const root = resolve(import.meta.dirname, '..')
// The demo keeps its own data directory and starts fresh each time: it is a showcase, not a
// place to keep customers (run `kaixu-gateway serve` for that).
const dataDir = resolve(process.env['KAIXU_DATA_DIR'] || join(root, '.kaixu', 'demo'))
const holder = await lockHolder(dataDir)
if (holder !== undefined) {
  console.error(
    `npm start: a demo (pid ${holder}) is already running from ${dataDir}; stop it first`,
  )
  process.exit(1)
}
await rm(dataDir, { recursive: true, force: true })

const config = loadConfig({
  ...process.env,
  KAIXU_DATA_DIR: dataDir,
  NETLIFY_API_URL: process.env['NETLIFY_API_URL'] || 'sandbox',
  LOG_LEVEL: process.env['LOG_LEVEL'] || 'warn',
  // A throwaway key for a throwaway database (a real gateway keeps its keyring).
  KAIXU_VAULT_KEYS: process.env['KAIXU_VAULT_KEYS'] || `demo:${randomBytes(32).toString('base64')}`,
  // The dashboard's sign-in token for this run (printed below).
  KAIXU_ADMIN_TOKEN: process.env['KAIXU_ADMIN_TOKEN'] || randomBytes(18).toString('base64url'),
})
const gateway = await startGateway(config, createLogger(config.logLevel)).catch((error: Error) => {
  console.error(`npm start: ${error.message}`)
  process.exit(1)
})
const stop = () => void gateway.close().then(() => process.exit(0))
process.once('SIGINT', stop)
process.once('SIGTERM', stop)

// The customer's Netlify side: a token and a site, created in the sandbox like on netlify.com.
const netlifyToken = 'demo-netlify-token'
const siteRes = await fetch(`${gateway.url}/api/v1/sites`, {
  method: 'POST',
  headers: { authorization: `Bearer ${netlifyToken}`, 'content-type': 'application/json' },
  body: JSON.stringify({ name: 'kaixu-demo' }),
})
if (!siteRes.ok) throw new Error(`Could not create the sandbox site: ${await siteRes.text()}`)
const site = (await siteRes.json()) as { id: string; name: string }

const customer = await gateway.accounts.createCustomer('Demo Agency', 'demo')
const apiKey = await gateway.accounts.createApiKey(customer.id, 'demo')
await gateway.accounts.setNetlifyToken(customer.id, netlifyToken, 'demo')
const project = await gateway.accounts.addProject(
  customer.id,
  { siteId: site.id, name: site.name },
  'demo',
)

// Run dist/index.js the way the runner does: inputs as INPUT_* variables, outputs to a file.
const run = await runAction(
  {
    'gateway-url': gateway.url,
    'kaixu-key': apiKey.key,
    project: project.name,
    dir: join(root, 'examples', 'site'),
  },
  { echo: true },
)
const { code, outputs } = run
if (code !== 0 || outputs['state'] !== 'ready') {
  console.error(`\nThe demo deploy failed (exit ${code}, state ${outputs['state'] ?? 'unknown'}).`)
  await gateway.close()
  process.exit(1)
}

console.log(`
KaixuPush demo is live.

  Site (production):  ${outputs['site-url']}
  This deploy:        ${outputs['deploy-url']}
  Gateway API:        ${gateway.url}/v1
  Admin dashboard:    ${gateway.url}/admin  (sign in with ${config.adminToken})
  Demo API key:       ${apiKey.key}
  Project:            ${project.name} (${project.id})

Open the site URL in a browser (*.localhost resolves to this machine). Press Ctrl+C to stop.`)
