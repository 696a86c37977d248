import type { AuditView } from '../services/audit.ts'
import type { ApiKeyView, CustomerView, ProjectView } from '../services/accounts.ts'
import { parseMonth } from '../services/metering.ts'
import type { VaultStatus } from '../services/vault-admin.ts'
import type { AdminApi } from './admin-api.ts'

/** Help lines for the commands below (merged into the CLI's usage). */
export const ACCOUNT_USAGE = `  customers create --name NAME            create a customer
  customers list [--status active|suspended]
  customers show --customer ID
  customers suspend --customer ID         refuse the customer's keys (403) until reactivated
  customers reactivate --customer ID
  keys create --customer ID [--name N]    issue an API key (printed once)
  keys list --customer ID                 prefixes and last use; never the keys
  keys revoke --customer ID --key KEY_ID  the key stops working at once
  tokens set --customer ID [--token T]    store the customer's Netlify token (or read it from stdin);
                                          Netlify must accept it and it must reach every project's site
  tokens rotate --customer ID [--token T] replace a live token the same way (no gap in between)
  tokens revoke --customer ID             destroy the stored token; pushes then fail clearly
  tokens show --customer ID               last 4 characters, vault key, dates
  projects add --customer ID --site-id S --name N
                                          register a Netlify site as a project
  projects list --customer ID
  projects remove --customer ID --project ID|NAME
  audit [--customer ID] [--month YYYY-MM] [--action A] [--limit N]
                                          audit log, newest first
  vault status                            which vault key seals how many tokens
  vault rotate                            re-encrypt every token with the first key of KAIXU_VAULT_KEYS`

export const ACCOUNT_OPTIONS = {
  status: { type: 'string' },
  key: { type: 'string' },
  project: { type: 'string' },
  action: { type: 'string' },
  limit: { type: 'string' },
} as const

export interface CommandContext {
  values: Readonly<Record<string, string | boolean | undefined>>
  print(value: Record<string, unknown>, human: string): void
  /**
   * Runs `fn` against the operator's interface: in-process, or through a running gateway's admin
   * API when KAIXU_GATEWAY_URL is set. Both answer the same JSON shapes.
   */
  use<T>(fn: (admin: AdminApi) => Promise<T>): Promise<T>
  readStdin(): Promise<string>
  usageError(message: string): Error
}

/** `opt` reads a non-empty string option; `need` also refuses its absence with a usage error. */
export function optionReaders(ctx: Pick<CommandContext, 'values' | 'usageError'>) {
  const opt = (name: string) => {
    const v = ctx.values[name]
    return typeof v === 'string' && v !== '' ? v : undefined
  }
  const need = (name: string) => {
    const v = opt(name)
    if (!v) throw ctx.usageError(`--${name} is required`)
    return v
  }
  return { opt, need }
}

type Dated = Date | string | null
const when = (d: Dated) => (d ? new Date(d).toISOString() : '-')

const customerLine = (c: CustomerView) =>
  `${c.id}  ${c.status.padEnd(9)}  ${c.name}  keys:${c.activeKeys}  projects:${c.projects}  token:${
    c.netlifyToken ? `${c.netlifyToken.state} …${c.netlifyToken.last4}` : 'none'
  }`

const keyLine = (k: ApiKeyView) =>
  `${k.id}  ${k.prefix}…  ${k.name ?? '-'}  created ${when(k.createdAt)}  last used ${when(k.lastUsedAt)}${
    k.revokedAt ? `  REVOKED ${when(k.revokedAt)}` : ''
  }`

const projectLine = (p: ProjectView) => `${p.id}  ${p.name}  site ${p.siteId}`

const auditLine = (e: AuditView) =>
  [
    when(e.at),
    e.actor,
    e.action,
    e.status,
    e.customerId ?? '-',
    e.pushId ?? e.projectId ?? e.apiKeyId ?? '-',
    e.requestId ?? '-',
    e.details ? JSON.stringify(e.details) : '',
  ].join('  ')

const vaultLines = (s: VaultStatus) =>
  [
    `Active key: ${s.activeKeyId} (keyring: ${s.keyIds.join(', ')})`,
    ...Object.entries(s.tokensByKey).map(([kid, n]) => `  ${kid}: ${n} token(s)`),
    `Not yet on the active key: ${s.pending}`,
  ].join('\n')

/** Runs one of the account, audit or vault commands; false when `command` is not one of them. */
export async function runAccountCommand(command: string, ctx: CommandContext): Promise<boolean> {
  const { print, use } = ctx
  const { opt, need } = optionReaders(ctx)
  const token = async () => {
    const t = opt('token') ?? (await ctx.readStdin())
    if (!t) throw ctx.usageError('the Netlify token is empty')
    return t
  }

  switch (command) {
    case 'customers create': {
      const name = need('name')
      const c = await use((a) => a.customersCreate({ name }))
      print({ ...c }, `Created customer ${c.id} (${c.name})`)
      return true
    }
    case 'customers list': {
      const status = opt('status')
      if (status && status !== 'active' && status !== 'suspended') {
        throw ctx.usageError('--status must be active or suspended')
      }
      const { customers } = await use((a) =>
        a.customersList(status ? { status: status as 'active' | 'suspended' } : {}),
      )
      print(
        { customers },
        customers.length ? customers.map(customerLine).join('\n') : 'No customers',
      )
      return true
    }
    case 'customers show': {
      const id = need('customer')
      const c = await use((a) => a.customersShow({ id }))
      print({ ...c }, customerLine(c))
      return true
    }
    case 'customers suspend':
    case 'customers reactivate': {
      const id = need('customer')
      const c = await use((a) =>
        command === 'customers suspend'
          ? a.customersSuspend({ id })
          : a.customersReactivate({ id }),
      )
      print({ ...c }, `Customer ${c.id} is ${c.status}`)
      return true
    }
    case 'keys create': {
      const id = need('customer')
      const name = opt('name')
      const key = await use((a) => a.keysCreate({ id, ...(name ? { name } : {}) }))
      print({ ...key }, `API key ${key.id}: ${key.key}\nStore it now; it is not shown again.`)
      return true
    }
    case 'keys list': {
      const id = need('customer')
      const { keys } = await use((a) => a.keysList({ id }))
      print({ keys }, keys.length ? keys.map(keyLine).join('\n') : 'No keys')
      return true
    }
    case 'keys revoke': {
      const id = need('customer')
      const keyId = need('key')
      const key = await use((a) => a.keysRevoke({ id, keyId }))
      print({ ...key }, `Revoked ${key.id} (${key.prefix}…) at ${when(key.revokedAt)}`)
      return true
    }
    case 'tokens set':
    case 'tokens rotate': {
      const id = need('customer')
      const t = await token()
      const result = await use((a) =>
        command === 'tokens rotate'
          ? a.tokensRotate({ id, token: t })
          : a.tokensSet({ id, token: t }),
      )
      print(
        { ...result },
        `Stored the Netlify token (…${result.last4}) for ${id}; it reaches all ${result.sitesChecked} project site(s)`,
      )
      return true
    }
    case 'tokens revoke': {
      const id = need('customer')
      const result = await use((a) => a.tokensRevoke({ id }))
      print(
        { ...result },
        `Revoked the Netlify token (…${result.last4}) of ${id}; revoke it in Netlify too`,
      )
      return true
    }
    case 'tokens show': {
      const id = need('customer')
      const t = await use((a) => a.tokensShow({ id }))
      print(
        { ...t },
        `…${t.last4}  ${t.state}  vault key ${t.vaultKeyId ?? '-'}  updated ${when(t.updatedAt)}`,
      )
      return true
    }
    case 'projects add': {
      const id = need('customer')
      const input = { siteId: need('site-id'), name: need('name') }
      const p = await use((a) => a.projectsAdd({ id, ...input }))
      print({ ...p }, `Added project ${p.id} (${p.name} → site ${p.siteId})`)
      return true
    }
    case 'projects list': {
      const id = need('customer')
      const { projects } = await use((a) => a.projectsList({ id }))
      print({ projects }, projects.length ? projects.map(projectLine).join('\n') : 'No projects')
      return true
    }
    case 'projects remove': {
      const id = need('customer')
      const project = need('project')
      const p = await use((a) => a.projectsRemove({ id, project }))
      print({ ...p }, `Removed project ${p.id} (${p.name}); its pushes stay in the history`)
      return true
    }
    case 'audit': {
      const customer = opt('customer')
      const monthText = opt('month')
      if (monthText && !parseMonth(monthText)) throw ctx.usageError('--month must be YYYY-MM')
      const limitText = opt('limit') ?? '100'
      const limit = Number(limitText)
      if (!/^\d+$/.test(limitText) || limit < 1 || limit > 1000) {
        throw ctx.usageError('--limit must be 1-1000')
      }
      const action = opt('action')
      const page = await use((a) =>
        a.auditList({
          ...(customer ? { customer } : {}),
          ...(monthText ? { month: monthText } : {}),
          ...(action ? { action } : {}),
          limit: String(limit),
        }),
      )
      print(
        { ...page },
        page.entries.length ? page.entries.map(auditLine).join('\n') : 'No audit entries',
      )
      return true
    }
    case 'vault status': {
      const status = await use((a) => a.vaultStatus({}))
      print({ ...status }, vaultLines(status))
      return true
    }
    case 'vault rotate': {
      const result = await use((a) => a.vaultRotate({}))
      print(
        { ...result },
        [
          `Re-encrypted ${result.rotated} token(s) with ${result.activeKeyId}` +
            (result.skipped ? `; ${result.skipped} changed meanwhile (kept the newer)` : ''),
          ...result.failed.map((f) => `  FAILED ${f.customerId}: ${f.reason}`),
          vaultLines(result.status),
        ].join('\n'),
      )
      if (result.failed.length) process.exitCode = 1
      return true
    }
    default:
      return false
  }
}
