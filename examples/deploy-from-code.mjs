#!/usr/bin/env node
// Deploys a page generated in memory through a Kaixu gateway, with no folder on disk:
//
//   npm install kaixu-push
//   KAIXU_KEY=kx_live_… KAIXU_GATEWAY_URL=https://push.example-agency.com \
//     node examples/deploy-from-code.mjs client-site
//
// Ctrl-C cancels the push at the gateway, so nothing is billed.
import { KaixuPush, PushError } from 'kaixu-push'

const [project] = process.argv.slice(2)
const { KAIXU_KEY: apiKey, KAIXU_GATEWAY_URL: gatewayUrl } = process.env
if (!project || !apiKey || !gatewayUrl) {
  console.error('usage: KAIXU_KEY=… KAIXU_GATEWAY_URL=… node deploy-from-code.mjs <project>')
  process.exit(2)
}

const built = new Date().toISOString()
const files = {
  'index.html': `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>Generated</title>
<link rel="stylesheet" href="/style.css">
<h1>Generated at ${built}</h1>
</html>
`,
  'style.css': new Blob(['h1 { font-family: system-ui; color: teal }\n'], { type: 'text/css' }),
  'build.json': new TextEncoder().encode(JSON.stringify({ built })),
}

const abort = new AbortController()
process.once('SIGINT', () => abort.abort())

const kaixu = new KaixuPush({ gatewayUrl, apiKey })
try {
  const result = await kaixu.push(files, {
    project,
    draft: true,
    signal: abort.signal,
    onProgress: (p) => console.error(`${p.phase}: ${p.filesSent}/${p.filesRequired ?? '?'} files`),
  })
  console.log(result.deployUrl)
} catch (error) {
  if (!(error instanceof PushError)) throw error
  console.error(`Push failed (${error.code}): ${error.message}`)
  process.exit(1)
}
