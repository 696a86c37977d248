import type { AccountRecord, DeployRecord, SiteRecord } from './types.ts'

/**
 * Builds the URLs of sites and deploys from the sandbox's base URL. Deployed sites are served
 * on `*.localhost` with the base URL's port, which every browser resolves to loopback.
 */
export class SandboxUrls {
  private protocol = 'http:'
  private port = ''
  private origin = 'http://127.0.0.1'

  /** Sets the base URL, e.g. `http://127.0.0.1:8787`. */
  set(baseUrl: string): void {
    const url = new URL(baseUrl)
    this.protocol = url.protocol
    this.port = url.port
    this.origin = url.origin
  }

  /** `http://<site>.localhost:PORT` */
  site(siteName: string): string {
    return this.host(siteName)
  }

  /** `http://<deploy-id>--<site>.localhost:PORT` */
  deploy(deployId: string, siteName: string): string {
    return this.host(`${deployId}--${siteName}`)
  }

  /** `http://<branch>--<site>.localhost:PORT` */
  branch(branchSlug: string, siteName: string): string {
    return this.host(`${branchSlug}--${siteName}`)
  }

  /** Where the sandbox shows a site's state (Netlify's `admin_url` points at its dashboard). */
  admin(siteName: string): string {
    return `${this.origin}/__sandbox/sites/${siteName}`
  }

  private host(label: string): string {
    return `${this.protocol}//${label}.localhost${this.port ? `:${this.port}` : ''}`
  }
}

function deployContext(deploy: DeployRecord): string {
  if (deploy.draft) return 'draft'
  return deploy.branch ? 'branch-deploy' : 'production'
}

/** The `deploy` object of Netlify's API (the fields clients read, see research §1.3). */
export function deployJson(
  deploy: DeployRecord,
  site: SiteRecord,
  urls: SandboxUrls,
): Record<string, unknown> {
  const siteUrl = urls.site(site.name)
  const deployUrl = urls.deploy(deploy.id, site.name)
  // An alias deploy, draft or not, is reachable at its alias URL too.
  const aliasUrl = deploy.branchSlug ? urls.branch(deploy.branchSlug, site.name) : null
  return {
    id: deploy.id,
    site_id: site.id,
    user_id: site.accountId,
    build_id: null,
    state: deploy.state,
    name: site.name,
    url: siteUrl,
    // No TLS locally: the "ssl" URLs carry the same http URLs so clients that prefer them work.
    ssl_url: siteUrl,
    admin_url: urls.admin(site.name),
    deploy_url: deployUrl,
    deploy_ssl_url: deployUrl,
    screenshot_url: null,
    review_id: null,
    review_url: null,
    draft: deploy.draft,
    required: [...deploy.required],
    required_functions: [...deploy.requiredFunctions],
    error_message: deploy.errorMessage,
    branch: deploy.branch,
    commit_ref: null,
    commit_url: null,
    skipped: null,
    locked: deploy.locked,
    title: deploy.title,
    context: deployContext(deploy),
    framework: null,
    function_schedules: [],
    site_capabilities: { large_media_enabled: false },
    created_at: deploy.createdAt,
    updated_at: deploy.updatedAt,
    published_at: deploy.publishedAt,
    links: {
      permalink: deployUrl,
      ...(aliasUrl ? { alias: aliasUrl, branch: aliasUrl } : {}),
    },
  }
}

/** The `site` object of Netlify's API (research §1.6). */
export function siteJson(
  site: SiteRecord,
  account: AccountRecord,
  published: DeployRecord | null,
  urls: SandboxUrls,
): Record<string, unknown> {
  const url = urls.site(site.name)
  return {
    id: site.id,
    site_id: site.id,
    name: site.name,
    state: 'current',
    plan: 'starter',
    url,
    ssl_url: url,
    admin_url: urls.admin(site.name),
    default_domain: new URL(url).hostname,
    custom_domain: null,
    domain_aliases: [],
    ssl: false,
    force_ssl: null,
    managed_dns: false,
    deploy_id: published?.id ?? '',
    deploy_url: published ? urls.deploy(published.id, site.name) : null,
    published_deploy: published ? deployJson(published, site, urls) : null,
    account_id: account.id,
    account_slug: account.slug,
    account_name: account.name,
    account_type: 'personal',
    user_id: account.id,
    screenshot_url: null,
    build_settings: { repo_url: '', dir: null, functions_dir: null },
    capabilities: {},
    use_envelope: false,
    prevent_non_git_prod_deploys: false,
    created_at: site.createdAt,
    updated_at: site.updatedAt,
  }
}

/** The `user` object (`GET /user`), one user per account. */
export function userJson(account: AccountRecord, siteCount: number): Record<string, unknown> {
  return {
    id: account.id,
    uid: account.id,
    full_name: account.name,
    avatar_url: null,
    email: account.email,
    affiliate_id: '',
    site_count: siteCount,
    created_at: account.createdAt,
    last_login: account.createdAt,
    login_providers: ['email'],
    onboarding_progress: {},
  }
}

/** The `accountMembership` object (`GET /accounts`). */
export function accountJson(account: AccountRecord): Record<string, unknown> {
  return {
    id: account.id,
    name: account.name,
    slug: account.slug,
    type: 'personal',
    type_name: 'Personal',
    billing_email: account.email,
    roles_allowed: ['Owner'],
    created_at: account.createdAt,
    updated_at: account.createdAt,
  }
}
