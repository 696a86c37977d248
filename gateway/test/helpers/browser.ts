import { accessSync, constants } from 'node:fs'
import { chromium, type Browser } from 'playwright-core'

/**
 * A headless Chromium for the page tests, found without apt and without a download outside the
 * npm registry, in this order:
 * 1. `CHROMIUM_PATH` from the environment (an explicit choice always wins, and must work);
 * 2. a system Chromium or Chrome at a usual path;
 * 3. the Chromium that `@sparticuz/chromium` carries inside its npm package (linux-x64), which
 *    it unpacks to the temp folder on first use.
 * Where none can run, the error says what was tried and why each failed.
 */

const SYSTEM_BROWSERS = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
  '/opt/google/chrome/chrome',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
]

/**
 * Flags for any Chromium run here: root needs --no-sandbox, and a closed network refuses the
 * background connections Chromium would otherwise open at start.
 */
const COMMON_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/**
 * @sparticuz/chromium's own flags (single process, no zygote, headless shell) are what let its
 * build run outside Lambda. Its flags that switch off web security are dropped: the page tests
 * check the dashboard's Content-Security-Policy and same-origin behaviour, which those would hide.
 */
const WEAKENING_ARGS = new Set([
  '--disable-web-security',
  '--allow-running-insecure-content',
  '--disable-site-isolation-trials',
])

const executable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

const message = (e: unknown) => (e instanceof Error ? e.message.split('\n')[0] : String(e))

export interface LaunchedBrowser {
  browser: Browser
  /** Which browser was found, for the test log. */
  source: string
}

export async function launchBrowser(): Promise<LaunchedBrowser> {
  const tried: string[] = []
  const explicit = process.env['CHROMIUM_PATH']
  if (explicit) {
    // Named on purpose: failing over to another browser would hide a broken setup.
    const browser = await chromium.launch({ executablePath: explicit, args: COMMON_ARGS })
    return { browser, source: `CHROMIUM_PATH=${explicit}` }
  }

  for (const path of SYSTEM_BROWSERS.filter(executable)) {
    try {
      const browser = await chromium.launch({ executablePath: path, args: COMMON_ARGS })
      return { browser, source: path }
    } catch (e) {
      tried.push(`${path}: ${message(e)}`)
    }
  }
  if (tried.length === 0) tried.push(`no system browser at ${SYSTEM_BROWSERS.join(', ')}`)

  if (process.platform === 'linux' && process.arch === 'x64') {
    try {
      const { default: packaged } = await import('@sparticuz/chromium')
      const executablePath = await packaged.executablePath()
      const args = [...new Set([...packaged.args, ...COMMON_ARGS])].filter(
        (a) => !WEAKENING_ARGS.has(a),
      )
      const browser = await chromium.launch({ executablePath, args })
      return { browser, source: `@sparticuz/chromium (${executablePath})` }
    } catch (e) {
      tried.push(`@sparticuz/chromium: ${message(e)}`)
    }
  } else {
    tried.push(
      `@sparticuz/chromium: ships linux-x64 only, this is ${process.platform}-${process.arch}`,
    )
  }

  throw new Error(
    `No headless Chromium could be started for the page tests. Tried:\n  ${tried.join('\n  ')}\n` +
      'Set CHROMIUM_PATH to a Chromium or Chrome binary, or install one (Debian: apt-get install chromium).',
  )
}
