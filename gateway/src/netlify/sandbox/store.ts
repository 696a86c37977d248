import { createHash, randomBytes, randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import { ApiError } from './errors.ts'
import { isValidSiteName } from './paths.ts'
import type {
  AccountRecord,
  DeployRecord,
  DeployState,
  SandboxConfig,
  SiteRecord,
} from './types.ts'

/** What a create or update of a deploy asks for, already validated. */
export interface DeployInput {
  /** Absent: no digest yet (netlify-cli's create step); the deploy stays `new`. */
  files?: Map<string, string>
  /** Function name → SHA-256 of its zip. */
  functions?: Map<string, string>
  draft: boolean
  branch: string | null
  branchSlug: string | null
  async: boolean
}

const ADJECTIVES = ['brave', 'calm', 'eager', 'gentle', 'lucky', 'quiet', 'rapid', 'sunny', 'tidy']
const NOUNS = ['otter', 'falcon', 'maple', 'harbor', 'comet', 'meadow', 'pixel', 'cedar', 'delta']

function now(): string {
  return new Date().toISOString()
}

/**
 * All in-memory state of the sandbox (accounts, tokens, sites, deploys) and the deploy state
 * machine. HTTP concerns live in `api.ts`; this class only enforces Netlify's semantics.
 */
export class SandboxStore {
  readonly accounts = new Map<string, AccountRecord>()
  readonly sites = new Map<string, SiteRecord>()
  readonly deploys = new Map<string, DeployRecord>()
  private readonly siteIdsByName = new Map<string, string>()
  private readonly tokenBindings = new Map<string, string>()
  private readonly revokedTokens = new Set<string>()
  private failNext = { count: 0, message: 'Deploy failed (sandbox fault)' }
  private closed = false
  private readonly config: () => SandboxConfig
  private readonly log: Logger | undefined

  constructor(config: () => SandboxConfig, log?: Logger) {
    this.config = config
    this.log = log
  }

  // --- tokens and accounts ---------------------------------------------------------------

  /**
   * The account a bearer token names, or null when it was revoked. Any other non-empty token is
   * valid and names its own account, derived from the token so it is stable across requests.
   */
  accountForToken(token: string): AccountRecord | null {
    if (token === '' || this.revokedTokens.has(token)) return null
    const bound = this.tokenBindings.get(token)
    if (bound) return this.accounts.get(bound) ?? null
    const id = createHash('sha256').update(`account:${token}`).digest('hex').slice(0, 24)
    return this.ensureAccount(id, `sandbox-${id.slice(0, 10)}`)
  }

  /** Binds a token to the account with `slug` (created if needed) and un-revokes it. */
  bindToken(token: string, slug: string): AccountRecord {
    this.revokedTokens.delete(token)
    const existing = [...this.accounts.values()].find((a) => a.slug === slug)
    const account = existing ?? this.ensureAccount(randomBytes(12).toString('hex'), slug)
    this.tokenBindings.set(token, account.id)
    return account
  }

  /** Makes a token invalid: every later request with it gets 401. */
  revokeToken(token: string): void {
    this.revokedTokens.add(token)
  }

  private ensureAccount(id: string, slug: string): AccountRecord {
    let account = this.accounts.get(id)
    if (!account) {
      account = { id, slug, name: slug, email: `${slug}@sandbox.invalid`, createdAt: now() }
      this.accounts.set(id, account)
    }
    return account
  }

  // --- sites ------------------------------------------------------------------------------

  /** Creates a site; names are global and unique, as on Netlify. */
  createSite(account: AccountRecord, requestedName?: string): SiteRecord {
    let name: string
    if (requestedName !== undefined) {
      name = requestedName.toLowerCase()
      if (!isValidSiteName(name)) {
        throw new ApiError(
          422,
          `Invalid site name "${requestedName}": use letters, digits and single hyphens`,
        )
      }
      if (this.siteIdsByName.has(name)) throw new ApiError(422, `Site name "${name}" is taken`)
    } else {
      do name = this.randomSiteName()
      while (this.siteIdsByName.has(name))
    }
    const site: SiteRecord = {
      id: randomUUID(),
      name,
      accountId: account.id,
      createdAt: now(),
      updatedAt: now(),
      publishedDeployId: null,
      branchDeploys: new Map(),
      knownShas: new Set(),
      knownFunctionShas: new Set(),
    }
    this.sites.set(site.id, site)
    this.siteIdsByName.set(name, site.id)
    this.log?.debug({ siteId: site.id, name }, 'sandbox site created')
    return site
  }

  /** A site of this account by id or name; other accounts' sites do not exist for it. */
  findSite(account: AccountRecord, idOrName: string): SiteRecord | null {
    const site =
      this.sites.get(idOrName) ??
      this.sites.get(this.siteIdsByName.get(idOrName.toLowerCase()) ?? '')
    return site && site.accountId === account.id ? site : null
  }

  /** A site by name regardless of account (public hostnames). */
  siteByName(name: string): SiteRecord | null {
    return this.sites.get(this.siteIdsByName.get(name) ?? '') ?? null
  }

  /** Sites of an account, optionally those whose name contains `nameFilter`. */
  listSites(account: AccountRecord, nameFilter?: string): SiteRecord[] {
    return [...this.sites.values()].filter(
      (s) =>
        s.accountId === account.id && (!nameFilter || s.name.includes(nameFilter.toLowerCase())),
    )
  }

  /** Deletes a site and its deploys. */
  deleteSite(site: SiteRecord): void {
    for (const d of this.deploysOfSite(site)) {
      this.clearTimers(d)
      this.deploys.delete(d.id)
    }
    this.sites.delete(site.id)
    this.siteIdsByName.delete(site.name)
  }

  private randomSiteName(): string {
    const pick = (list: string[]): string => list[randomBytes(1)[0]! % list.length]!
    return `${pick(ADJECTIVES)}-${pick(NOUNS)}-${randomBytes(3).toString('hex')}`
  }

  // --- deploys ----------------------------------------------------------------------------

  /** Creates a deploy; with a digest it starts the state machine at once. */
  createDeploy(site: SiteRecord, input: DeployInput, title: string | null): DeployRecord {
    const deploy: DeployRecord = {
      id: randomBytes(12).toString('hex'),
      siteId: site.id,
      accountId: site.accountId,
      state: 'new',
      files: null,
      required: [],
      functions: new Map(),
      requiredFunctions: [],
      draft: input.draft,
      branch: input.branch,
      branchSlug: input.branchSlug,
      title,
      errorMessage: null,
      cancelled: false,
      locked: false,
      createdAt: now(),
      updatedAt: now(),
      publishedAt: null,
      timers: new Set(),
    }
    this.deploys.set(deploy.id, deploy)
    site.updatedAt = now()
    if (input.files) this.applyFiles(deploy, input.files, input.async, input.functions)
    this.log?.debug(
      { deployId: deploy.id, siteId: site.id, state: deploy.state },
      'sandbox deploy created',
    )
    return deploy
  }

  /**
   * Creates a deploy from a zip archive whose files are already in the blob store. The site now
   * has them, so the diff requires nothing and the deploy goes on to processing exactly as a
   * digest deploy does after its last upload (draft, branch and publishing included).
   */
  createZipDeploy(
    site: SiteRecord,
    input: DeployInput & { files: Map<string, string> },
    title: string | null,
  ): DeployRecord {
    for (const sha of input.files.values()) site.knownShas.add(sha)
    return this.createDeploy(site, { ...input, async: false }, title)
  }

  /**
   * Applies a PUT. Only the digest and `async` are taken: `draft` and `branch` are create-time
   * properties, and netlify-cli's PUT always says `draft:false`, which must not publish a draft.
   */
  updateDeploy(deploy: DeployRecord, input: DeployInput): void {
    if (deploy.cancelled) throw new ApiError(422, 'No records matched')
    if (!input.files) return
    if (!['new', 'preparing', 'prepared', 'uploading'].includes(deploy.state)) {
      throw new ApiError(422, 'Build is already done')
    }
    this.applyFiles(deploy, input.files, input.async, input.functions)
  }

  /** A deploy of this account by id. */
  findDeploy(account: AccountRecord, id: string): DeployRecord | null {
    const deploy = this.deploys.get(id)
    return deploy && deploy.accountId === account.id ? deploy : null
  }

  /** Deploys of a site, newest first. */
  deploysOfSite(site: SiteRecord): DeployRecord[] {
    return [...this.deploys.values()].filter((d) => d.siteId === site.id).reverse()
  }

  /**
   * Records a verified upload: the site now has this content, and the deploy no longer needs it.
   * The last required sha moves the deploy on to processing.
   */
  acceptUpload(deploy: DeployRecord, sha: string): void {
    this.sites.get(deploy.siteId)?.knownShas.add(sha)
    const i = deploy.required.indexOf(sha)
    if (i !== -1) deploy.required.splice(i, 1)
    deploy.updatedAt = now()
    this.startWhenComplete(deploy)
  }

  /**
   * Records a verified function zip: the site keeps it (by SHA-256), and the deploy no longer
   * needs it. The sandbox stores functions but never runs them.
   */
  acceptFunction(deploy: DeployRecord, sha256: string): void {
    this.sites.get(deploy.siteId)?.knownFunctionShas.add(sha256)
    const i = deploy.requiredFunctions.indexOf(sha256)
    if (i !== -1) deploy.requiredFunctions.splice(i, 1)
    deploy.updatedAt = now()
    this.startWhenComplete(deploy)
  }

  /** The last required file or function moves the deploy on to processing. */
  private startWhenComplete(deploy: DeployRecord): void {
    if (
      deploy.required.length === 0 &&
      deploy.requiredFunctions.length === 0 &&
      (deploy.state === 'uploading' || deploy.state === 'prepared')
    )
      this.startProcessing(deploy)
  }

  /** Cancels a deploy: terminal `error` state; later uploads get 422 "No records matched". */
  cancelDeploy(deploy: DeployRecord): void {
    if (deploy.state === 'ready') throw new ApiError(422, 'Build is already done')
    if (deploy.state === 'error') return
    deploy.cancelled = true
    this.toError(deploy, 'Canceled build')
  }

  /** Forces a deploy into `error` (control API). A ready deploy cannot fail any more. */
  failDeploy(deploy: DeployRecord, message: string): void {
    if (deploy.state === 'ready') throw new ApiError(409, 'Deploy is already ready')
    this.toError(deploy, message)
  }

  /** Makes the next `count` deploys that reach processing fail with `message`. */
  failNextDeploys(count: number, message?: string): void {
    this.failNext = { count, message: message ?? this.failNext.message }
  }

  /** Locks or unlocks a deploy; a locked published deploy stops auto-publishing. */
  setLocked(deploy: DeployRecord, locked: boolean): void {
    deploy.locked = locked
    deploy.updatedAt = now()
  }

  /** Publishes an earlier ready deploy (Netlify's restoreSiteDeploy). */
  restoreDeploy(site: SiteRecord, deploy: DeployRecord): void {
    if (deploy.state !== 'ready') throw new ApiError(422, 'Only ready deploys can be published')
    this.publish(site, deploy)
  }

  /** Drops every site, deploy, account and token, and stops all timers. */
  reset(): void {
    for (const d of this.deploys.values()) this.clearTimers(d)
    this.accounts.clear()
    this.sites.clear()
    this.deploys.clear()
    this.siteIdsByName.clear()
    this.tokenBindings.clear()
    this.revokedTokens.clear()
    this.failNext = { count: 0, message: 'Deploy failed (sandbox fault)' }
  }

  /** Stops every timer; the state machine does not move any more. */
  close(): void {
    this.closed = true
    for (const d of this.deploys.values()) this.clearTimers(d)
  }

  // --- state machine ----------------------------------------------------------------------

  private applyFiles(
    deploy: DeployRecord,
    files: Map<string, string>,
    async: boolean,
    functions = new Map<string, string>(),
  ): void {
    this.clearTimers(deploy)
    deploy.files = files
    deploy.functions = functions
    deploy.required = []
    deploy.requiredFunctions = []
    if (async) {
      // Server-side diff: the answer says `preparing` with nothing required; clients poll.
      this.setState(deploy, 'preparing')
      this.after(deploy, this.config().diffMs, () => this.finishDiff(deploy, 'prepared'))
    } else {
      this.finishDiff(deploy, 'uploading')
    }
  }

  private finishDiff(deploy: DeployRecord, waiting: 'prepared' | 'uploading'): void {
    const site = this.sites.get(deploy.siteId)
    const required = new Set<string>()
    for (const sha of deploy.files?.values() ?? []) if (!site?.knownShas.has(sha)) required.add(sha)
    deploy.required = [...required]
    const fns = new Set<string>()
    for (const sha of deploy.functions.values()) if (!site?.knownFunctionShas.has(sha)) fns.add(sha)
    deploy.requiredFunctions = [...fns]
    this.setState(deploy, waiting)
    if (deploy.required.length === 0 && deploy.requiredFunctions.length === 0) {
      this.startProcessing(deploy)
    }
  }

  private startProcessing(deploy: DeployRecord): void {
    this.setState(deploy, 'uploaded')
    const step = this.config().processingMs / 3
    this.after(deploy, step, () => {
      this.setState(deploy, 'processing')
      if (this.failNext.count > 0) {
        this.failNext.count--
        this.toError(deploy, this.failNext.message)
        return
      }
      this.after(deploy, step, () => {
        this.setState(deploy, 'processed')
        this.after(deploy, step, () => this.markReady(deploy))
      })
    })
  }

  private markReady(deploy: DeployRecord): void {
    this.setState(deploy, 'ready')
    const site = this.sites.get(deploy.siteId)
    if (!site) return
    // An alias (branch) deploy answers at `<alias>--<site>`, draft or not: that is how
    // `netlify deploy --alias pr-1` previews work. A plain draft is only at its deploy URL.
    if (deploy.branchSlug) {
      site.branchDeploys.set(deploy.branchSlug, deploy.id)
      return
    }
    if (deploy.draft) return
    const current = site.publishedDeployId ? this.deploys.get(site.publishedDeployId) : undefined
    if (current?.locked) return
    this.publish(site, deploy)
  }

  private publish(site: SiteRecord, deploy: DeployRecord): void {
    site.publishedDeployId = deploy.id
    site.updatedAt = now()
    deploy.publishedAt = now()
  }

  private toError(deploy: DeployRecord, message: string): void {
    this.clearTimers(deploy)
    deploy.errorMessage = message
    this.setState(deploy, 'error')
  }

  private setState(deploy: DeployRecord, state: DeployState): void {
    deploy.state = state
    deploy.updatedAt = now()
    this.log?.debug({ deployId: deploy.id, state }, 'sandbox deploy state')
  }

  /** Runs `fn` after `ms`, or at once when `ms` is 0 so tests can make the machine synchronous. */
  private after(deploy: DeployRecord, ms: number, fn: () => void): void {
    if (ms <= 0) {
      fn()
      return
    }
    const timer = setTimeout(() => {
      deploy.timers.delete(timer)
      if (!this.closed) fn()
    }, ms)
    timer.unref()
    deploy.timers.add(timer)
  }

  private clearTimers(deploy: DeployRecord): void {
    for (const t of deploy.timers) clearTimeout(t)
    deploy.timers.clear()
  }
}
