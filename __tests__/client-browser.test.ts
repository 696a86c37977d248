// The client library's browser bundle in headless Chromium: a page on another loopback origin
// (listed in KAIXU_CORS_ORIGINS) generates a site and deploys it through `KaixuPush`, and the
// pages are served byte for byte.
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import type { Browser, Page } from 'playwright-core'
import { launchBrowser } from '../gateway/test/helpers/browser.ts'
import {
  createTenant,
  oneDatabase,
  fetchSite,
  startTestGateway,
  type Tenant,
  type TestGateway,
} from '../gateway/test/helpers/gateway.ts'
import { buildBrowserLibrary } from '../scripts/lib/build-lib.ts'

const CHUNK_BYTES = 64 * 1024

// The editor's page loads the library as any page would, and leaves it where the test's
// scripts (page.evaluate) find it.
const PAGE = `<!doctype html><title>editor</title>
<script type="module">
  import * as kaixu from '/kaixu-push.js'
  globalThis.kaixu = kaixu
</script>`

/** What the page's scripts see of the library. */
type PageGlobal = typeof globalThis & { kaixu: typeof import('../src/client/index.ts') }

describe('KaixuPush in the browser (headless Chromium)', () => {
  let work: string
  let bundle: string
  let pageServer: Server
  let pageOrigin: string
  let gw: TestGateway
  let tenant: Tenant
  let browser: Browser
  let page: Page

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'kaixu-browser-lib-'))
    await buildBrowserLibrary(join(work, 'kaixu-push.js'))
    bundle = await readFile(join(work, 'kaixu-push.js'), 'utf8')
    // The page's own origin: another port on loopback, serving the page and the bundle.
    pageServer = createServer((req, res) => {
      if (req.url === '/kaixu-push.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle)
      } else {
        res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE)
      }
    })
    await new Promise<void>((resolve) => pageServer.listen(0, '127.0.0.1', resolve))
    pageOrigin = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}`
    gw = await startTestGateway(oneDatabase(), {
      KAIXU_CORS_ORIGINS: pageOrigin,
      KAIXU_INLINE_MAX_BYTES: String(CHUNK_BYTES),
      KAIXU_CHUNK_BYTES: String(CHUNK_BYTES),
    })
    tenant = await createTenant(gw, 'Browser Editor')
    const launched = await launchBrowser()
    browser = launched.browser
    process.stderr.write(`client-browser suite: browser ${launched.source}\n`)
    page = await (await browser.newContext()).newPage()
    await page.goto(pageOrigin)
    await page.waitForFunction(() => 'kaixu' in globalThis)
  }, 180_000)

  afterAll(async () => {
    await browser?.close()
    await gw?.stop()
    await new Promise((resolve) => pageServer?.close(resolve))
    if (work) await rm(work, { recursive: true, force: true })
  })

  it('the browser bundle imports nothing from node:', () => {
    expect(bundle).toContain('KaixuPush')
    expect(bundle).not.toMatch(/["'`]node:/)
    expect(bundle).not.toMatch(/\brequire\(/)
  })

  it('deploys a generated site from the page, served byte for byte', async () => {
    const html = `<!doctype html><h1>Made in the browser ${randomBytes(4).toString('hex')}</h1>`
    const css = 'h1 { font: 2em serif }'
    const image = randomBytes(20_000)
    const big = randomBytes(3 * CHUNK_BYTES + 77) // four chunks, sent as a stream

    const outcome = await page.evaluate(
      async ({ gatewayUrl, apiKey, project, html, css, image, big }) => {
        const bytes = (base64: string) => Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))
        const bigBytes = bytes(big)
        let at = 0
        const stream = new ReadableStream<Uint8Array>({
          pull(controller) {
            if (at >= bigBytes.length) return controller.close()
            controller.enqueue(bigBytes.slice(at, at + 8192))
            at += 8192
          },
        })
        const { KaixuPush } = (globalThis as PageGlobal).kaixu
        const phases: string[] = []
        const kaixu = new KaixuPush({ gatewayUrl, apiKey })
        try {
          const result = await kaixu.push(
            {
              'index.html': html,
              'css/site.css': css,
              'img/photo.bin': new Blob([bytes(image)]),
              'data/big.bin': stream,
            },
            { project, onProgress: (p) => phases.push(p.phase) },
          )
          return { result, phases }
        } catch (error) {
          const e = error as { name: string; code: string; message: string }
          return { error: { name: e.name, code: e.code, message: e.message } }
        }
      },
      {
        gatewayUrl: gw.url,
        apiKey: tenant.key,
        project: tenant.projectName,
        html,
        css,
        image: image.toString('base64'),
        big: big.toString('base64'),
      },
    )

    expect(outcome.error).toBeUndefined()
    const { result, phases } = outcome as { result: Record<string, any>; phases: string[] }
    expect(result).toMatchObject({ state: 'ready', filesTotal: 4, filesUploaded: 4 })
    expect([...new Set(phases)]).toEqual(['init', 'upload', 'finalize'])
    const served = async (path: string) => (await fetchSite(`${result['deployUrl']}/${path}`)).body
    expect((await served('index.html')).toString()).toBe(html)
    expect((await served('css/site.css')).toString()).toBe(css)
    expect((await served('img/photo.bin')).equals(image)).toBe(true)
    expect((await served('data/big.bin')).equals(big)).toBe(true)
  })

  it("a refusal reaches the page as a PushError with the gateway's code", async () => {
    const error = await page.evaluate(
      async ({ gatewayUrl }) => {
        const { KaixuPush } = (globalThis as PageGlobal).kaixu
        const kaixu = new KaixuPush({ gatewayUrl, apiKey: 'kx_wrong' })
        return kaixu.push({ 'index.html': 'x' }, { project: 'p' }).then(
          () => undefined,
          (e: { name: string; code: string; status: number }) => ({
            name: e.name,
            code: e.code,
            status: e.status,
          }),
        )
      },
      { gatewayUrl: gw.url },
    )
    expect(error).toEqual({ name: 'PushError', code: 'unauthorized', status: 401 })
  })
})
