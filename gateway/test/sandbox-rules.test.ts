/**
 * The sandbox applies Netlify's `_redirects`, `_headers` and `netlify.toml` rules when it serves
 * a deploy, checked with real HTTP against `<site>.localhost`.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { parseAllHeaders } from '@netlify/headers-parser'
import { startSandboxServer } from '../src/netlify/sandbox/index.ts'
import { compileHeaderGlob, matchGlob } from '../src/netlify/sandbox/rules.ts'
import { sandboxClient } from './helpers/sandbox-http.ts'

let client: ReturnType<typeof sandboxClient>
let stop: () => Promise<void>
let dataDir: string

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'sandbox-rules-'))
  const started = await startSandboxServer({ port: 0, dataDir, processingMs: 0, diffMs: 0 })
  client = sandboxClient(Number(new URL(started.url).port))
  stop = started.close
})

afterAll(async () => {
  await stop()
  await rm(dataDir, { recursive: true, force: true })
})

/** Creates a site, deploys `files` to it, and returns the site's name. */
async function siteWith(files: Record<string, string>): Promise<string> {
  const s = await client.createSite()
  await client.deployFiles(s.id, files)
  return s.name
}

describe('_redirects', () => {
  it('redirects with 301 by default and 302 on request, filling splats and placeholders', async () => {
    const name = await siteWith({
      'index.html': 'home',
      _redirects: [
        '# comments and blank lines are ignored',
        '',
        '/old-home      /',
        '/news/*        /blog/:splat            302',
        '/posts/:year/:slug  /blog/:year-:slug  301',
        '/away          https://example.com/landing 302',
      ].join('\n'),
    })
    const home = await client.site(name, '/old-home')
    expect(home.status).toBe(301)
    expect(home.headers.location).toBe('/')
    const splat = await client.site(name, '/news/2024/launch/photos')
    expect(splat.status).toBe(302)
    expect(splat.headers.location).toBe('/blog/2024/launch/photos')
    const placeholders = await client.site(name, '/posts/2024/hello-world')
    expect(placeholders.status).toBe(301)
    expect(placeholders.headers.location).toBe('/blog/2024-hello-world')
    // A placeholder is one segment: a deeper path is not this rule's.
    expect((await client.site(name, '/posts/2024/a/b')).status).toBe(404)
    const away = await client.site(name, '/away')
    expect(away.status).toBe(302)
    expect(away.headers.location).toBe('https://example.com/landing')
  })

  it('matches whatever the query string and trailing slash, passing the query on', async () => {
    const name = await siteWith({
      'index.html': 'home',
      _redirects: '/old /new 301\n/docs/* /manual/:splat 302\n',
    })
    const withQuery = await client.site(name, '/old?utm_source=mail&x=1')
    expect(withQuery.status).toBe(301)
    expect(withQuery.headers.location).toBe('/new?utm_source=mail&x=1')
    expect((await client.site(name, '/old/')).headers.location).toBe('/new')
    // `/docs/*` covers `/docs` itself, with an empty splat.
    expect((await client.site(name, '/docs')).headers.location).toBe('/manual/')
    // Paths are case-sensitive, as Netlify documents.
    expect((await client.site(name, '/OLD')).status).toBe(404)
  })

  it('matches rules that name query parameters only when the request carries them', async () => {
    const name = await siteWith({
      'index.html': 'home',
      _redirects: '/store id=:id  /items/:id  301\n/store  /shop  302\n',
    })
    const byId = await client.site(name, '/store?id=blue%20mug&ref=ad')
    expect(byId.status).toBe(301)
    expect(byId.headers.location).toBe('/items/blue%20mug')
    const plain = await client.site(name, '/store?ref=ad')
    expect(plain.status).toBe(302)
    expect(plain.headers.location).toBe('/shop?ref=ad')
  })

  it('rewrites with 200, keeping the URL and serving the target', async () => {
    const name = await siteWith({
      'index.html': 'home',
      'app/index.html': 'single page app',
      _redirects: '/app/*  /app/index.html  200\n',
    })
    const deep = await client.site(name, '/app/settings/profile?tab=2')
    expect(deep.status).toBe(200)
    expect(deep.headers.location).toBeUndefined()
    expect(deep.text()).toBe('single page app')
    expect(deep.headers['content-type']).toBe('text/html; charset=utf-8')
  })

  it('lets an existing file shadow a rule, unless the rule is forced with !', async () => {
    const name = await siteWith({
      'index.html': 'home',
      'about.html': 'the real about page',
      'legacy.html': 'legacy page',
      'new.html': 'new page',
      _redirects: '/about  /new  301\n/legacy  /new.html  200!\n/*  /index.html  200\n',
    })
    // `/about` is served by about.html (pretty URLs count as existing files).
    const about = await client.site(name, '/about')
    expect(about.status).toBe(200)
    expect(about.text()).toBe('the real about page')
    const forced = await client.site(name, '/legacy')
    expect(forced.status).toBe(200)
    expect(forced.text()).toBe('new page')
    // The catch-all SPA rule serves index.html only where no file exists.
    expect((await client.site(name, '/new')).text()).toBe('new page')
    expect((await client.site(name, '/no/such/page')).text()).toBe('home')
  })

  it('serves a 404 rule with its status, and the custom /404.html for everything missing', async () => {
    const name = await siteWith({
      'index.html': 'home',
      '404.html': 'site-wide not found',
      'en/404.html': 'english not found',
      _redirects: '/en/*  /en/404.html  404\n/gone  /missing-target.html  200\n',
    })
    const english = await client.site(name, '/en/unknown')
    expect(english.status).toBe(404)
    expect(english.text()).toBe('english not found')
    const other = await client.site(name, '/fr/unknown')
    expect(other.status).toBe(404)
    expect(other.text()).toBe('site-wide not found')
    // A rewrite whose target does not exist falls back to the 404 page.
    const gone = await client.site(name, '/gone')
    expect(gone.status).toBe(404)
    expect(gone.text()).toBe('site-wide not found')
  })

  it('skips invalid lines and rules the sandbox cannot evaluate, applying the rest', async () => {
    const name = await siteWith({
      'index.html': 'home',
      'welcome.html': 'welcome',
      _redirects: [
        'this-line-has-no-destination',
        '/ /anz 302 Country=au,nz',
        '/proxy/* https://api.example.com/:splat 200',
        '/hello /welcome 301',
      ].join('\n'),
    })
    expect((await client.site(name, '/hello')).headers.location).toBe('/welcome')
    // Country conditions cannot be evaluated locally: the rule never matches.
    expect((await client.site(name, '/')).text()).toBe('home')
    // Netlify would proxy; the sandbox says plainly that it does not.
    const proxied = await client.site(name, '/proxy/users')
    expect(proxied.status).toBe(502)
    expect(proxied.text()).toContain('does not proxy')
  })
})

describe('rule files', () => {
  it('ignores a rule file over 4 MiB instead of reading it, and still serves the site', async () => {
    const padding = `# ${'x'.repeat(1022)}\n`.repeat(4 * 1024 + 1)
    const name = await siteWith({
      'index.html': 'home',
      _redirects: `/go  /  302\n${padding}`,
      _headers: '/*\n  X-Small-File: applies\n',
    })
    expect((await client.site(name, '/go')).status).toBe(404)
    expect((await client.site(name, '/')).headers['x-small-file']).toBe('applies')
  })
})

describe('netlify.toml', () => {
  it('applies [[redirects]] after _redirects, so _redirects wins where both match', async () => {
    const name = await siteWith({
      'index.html': 'home',
      'pricing.html': 'pricing',
      _redirects: '/plans  /pricing  302\n',
      'netlify.toml': [
        '[build]',
        'publish = "public"',
        '',
        '[[redirects]]',
        'from = "/plans"',
        'to = "/toml-plans"',
        'status = 301',
        '',
        '[[redirects]]',
        'from = "/shop/*"',
        'to = "/pricing"',
        'status = 200',
        '',
        '[[redirects]]',
        'from = "/pricing"',
        'to = "/plans-moved"',
        'force = true',
      ].join('\n'),
    })
    const plans = await client.site(name, '/plans')
    expect(plans.status).toBe(302)
    expect(plans.headers.location).toBe('/pricing')
    const shop = await client.site(name, '/shop/cart')
    expect(shop.status).toBe(200)
    expect(shop.text()).toBe('pricing')
    // force = true applies although pricing.html exists; the status defaults to 301.
    const forced = await client.site(name, '/pricing')
    expect(forced.status).toBe(301)
    expect(forced.headers.location).toBe('/plans-moved')
  })

  it('percent-encodes targets a Location header cannot carry as they are', async () => {
    const name = await siteWith({
      'index.html': 'home',
      'netlify.toml': [
        '[[redirects]]',
        'from = "/menu"',
        'to = "/carte/caf\u00e9/\u83dc\u5355"',
        '[[redirects]]',
        'from = "/broken"',
        'to = "/a\\nb"',
        'status = 302',
      ].join('\n'),
    })
    const menu = await client.site(name, '/menu')
    expect(menu.status).toBe(301)
    expect(menu.headers.location).toBe('/carte/caf%C3%A9/%E8%8F%9C%E5%8D%95')
    const broken = await client.site(name, '/broken')
    expect(broken.status).toBe(302)
    expect(broken.headers.location).toBe('/a%0Ab')
  })

  it('keeps serving the site and its _redirects when netlify.toml is not valid TOML', async () => {
    const name = await siteWith({
      'index.html': 'home',
      _redirects: '/start  /  302\n',
      'netlify.toml': '[[redirects]\nfrom = ',
    })
    const home = await client.site(name, '/')
    expect(home.status).toBe(200)
    expect(home.text()).toBe('home')
    expect((await client.site(name, '/start')).headers.location).toBe('/')
  })
})

describe('headers', () => {
  it('applies _headers and [[headers]] rules with globs and placeholders', async () => {
    const name = await siteWith({
      'index.html': 'home',
      'assets/app.js': 'js',
      'blog/first/index.html': 'first post',
      _headers: [
        '/*',
        '  X-Frame-Options: DENY',
        '  X-Site: everywhere',
        '/assets/*',
        '  Cache-Control: public, max-age=31536000, immutable',
        '/blog/:slug/',
        '  X-Blog: post',
      ].join('\n'),
      'netlify.toml': [
        '[[headers]]',
        'for = "/assets/*"',
        '[headers.values]',
        'X-Site = "assets"',
        'Access-Control-Allow-Origin = "*"',
      ].join('\n'),
    })
    const asset = await client.site(name, '/assets/app.js')
    expect(asset.status).toBe(200)
    expect(asset.headers['x-frame-options']).toBe('DENY')
    // The custom Cache-Control replaces the default must-revalidate one.
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable')
    // netlify.toml comes after _headers: its value for the same name wins.
    expect(asset.headers['x-site']).toBe('assets')
    expect(asset.headers['access-control-allow-origin']).toBe('*')
    const home = await client.site(name, '/')
    expect(home.headers['x-site']).toBe('everywhere')
    expect(home.headers['cache-control']).toBe('public, max-age=0, must-revalidate')
    expect(home.headers['access-control-allow-origin']).toBeUndefined()
    expect((await client.site(name, '/blog/first/')).headers['x-blog']).toBe('post')
    expect((await client.site(name, '/blog/first')).headers['x-blog']).toBe('post')
    expect((await client.site(name, '/blog/first/extra')).headers['x-blog']).toBeUndefined()
  })

  it('sends the headers of the requested path on rewrites and on the 404 page', async () => {
    const name = await siteWith({
      'index.html': 'home',
      '404.html': 'not found',
      _redirects: '/app/*  /index.html  200\n',
      _headers: '/app/*\n  X-App: yes\n/missing/*\n  X-Missing: yes\n',
    })
    const rewritten = await client.site(name, '/app/page')
    expect(rewritten.text()).toBe('home')
    expect(rewritten.headers['x-app']).toBe('yes')
    expect((await client.site(name, '/')).headers['x-app']).toBeUndefined()
    const missing = await client.site(name, '/missing/page')
    expect(missing.status).toBe(404)
    expect(missing.headers['x-missing']).toBe('yes')
  })

  it('ignores headers a site may not set or that are not valid HTTP, instead of failing', async () => {
    const body = 'home page body'
    const name = await siteWith({
      'index.html': body,
      'netlify.toml': [
        '[[headers]]',
        'for = "/*"',
        '[headers.values]',
        'Content-Length = "1"',
        'Transfer-Encoding = "chunked"',
        'Location = "/elsewhere"',
        '"Bad Name" = "x"',
        'X-Broken = "line\\nbreak"',
        'X-Good = "kept"',
      ].join('\n'),
    })
    const home = await client.site(name, '/')
    expect(home.status).toBe(200)
    expect(home.text()).toBe(body)
    expect(home.headers['content-length']).toBe(String(Buffer.byteLength(body)))
    expect(home.headers['location']).toBeUndefined()
    expect(home.headers['x-broken']).toBeUndefined()
    expect(home.headers['x-good']).toBe('kept')
  })
})

describe('header path matching', () => {
  it("matches exactly the paths of @netlify/headers-parser's own regular expressions", async () => {
    const patterns = [
      '/',
      '/*',
      '/assets/*',
      '/assets/*/',
      '/blog/:slug',
      '/blog/:slug/comments',
      '/*.css',
      '/img/*.png',
      '/a/*/b',
      '/Docs/Index.HTML',
      '/hello*world/test',
      '/:lang/*',
    ]
    const paths = [
      '/',
      '//',
      '/assets',
      '/assets/',
      '/assets/app.js',
      '/assets/js/app.js',
      '/blog/first',
      '/blog/first/',
      '/blog/first/comments',
      '/blog//comments',
      '/style.css',
      '/css/style.css',
      '/img/a/b.png',
      '/a/b',
      '/a/x/b',
      '/a/x/y/b/',
      '/docs/index.html',
      '/hello-big-world/test',
      '/helloworld/test',
      '/en',
      '/en/about',
    ]
    const { headers } = await parseAllHeaders({
      headersFiles: [],
      configHeaders: patterns.map((p) => ({ for: p, values: { 'X-Rule': p } })),
      minimal: false,
    })
    expect(headers).toHaveLength(patterns.length)
    for (const header of headers) {
      const { forRegExp } = header as { forRegExp: RegExp }
      const glob = compileHeaderGlob(header.for)
      for (const path of paths)
        expect([header.for, path, matchGlob(glob, path)]).toEqual([
          header.for,
          path,
          forRegExp.test(path),
        ])
    }
  })

  it('answers at once for patterns that make a backtracking regular expression stall', async () => {
    const name = await siteWith({
      'index.html': 'home',
      '404.html': 'not found',
      _headers: '/*a*a*a*a*a*a*b\n  X-Never: 1\n/*a*a*a*a*a*a*\n  X-Many-As: yes\n',
    })
    // The parser's regex takes about 44 s for 4 wildcards on a 500-character path that does not
    // match; 7 wildcards on 3000 characters would take far longer than any test allows.
    const long = await client.site(name, `/${'a'.repeat(3000)}`)
    expect(long.status).toBe(404)
    expect(long.headers['x-never']).toBeUndefined()
    expect(long.headers['x-many-as']).toBe('yes')
  })
})

describe('rules per deploy', () => {
  it("serves each deploy with its own rules: a new deploy's rules replace the old ones", async () => {
    const s = await client.createSite()
    const first = await client.deployFiles(s.id, {
      'index.html': 'v1',
      _redirects: '/go /one 302\n',
    })
    await client.deployFiles(s.id, { 'index.html': 'v2', _redirects: '/go /two 302\n' })
    expect((await client.site(s.name, '/go')).headers.location).toBe('/two')
    expect((await client.site(`${first.id}--${s.name}`, '/go')).headers.location).toBe('/one')
  })
})

describe('the demo site', () => {
  it('follows the _redirects and _headers of examples/site', async () => {
    const dir = join(import.meta.dirname, '..', '..', 'examples', 'site')
    const files: Record<string, string> = {}
    for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue
      const path = join(entry.parentPath, entry.name)
      files[relative(dir, path).split('\\').join('/')] = await readFile(path, 'utf8')
    }
    const name = await siteWith(files)
    const home = await client.site(name, '/home')
    expect(home.status).toBe(301)
    expect(home.headers.location).toBe('/')
    const docs = await client.site(name, '/docs/anything')
    expect(docs.status).toBe(200)
    expect(docs.text()).toBe(files['about/index.html'])
    expect(docs.headers['x-frame-options']).toBe('DENY')
    const css = await client.site(name, '/style.css')
    expect(css.headers['cache-control']).toBe('public, max-age=3600')
    expect(css.headers['referrer-policy']).toBe('strict-origin-when-cross-origin')
  })
})
