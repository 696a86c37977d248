// Self-hosted runners often reach the internet only through a proxy. The gateway calls use the
// global `fetch`, which ignores HTTPS_PROXY and friends unless told: this tells it, the way
// @actions/http-client (and so the GitHub API calls) already honour them.
import { EnvHttpProxyAgent, setGlobalDispatcher } from 'undici'

/**
 * Routes `fetch` through `HTTPS_PROXY`/`HTTP_PROXY` (either case; `NO_PROXY` lists the hosts
 * reached directly) when one is set. Answers whether it did, for the log.
 */
export function useEnvProxy(env: NodeJS.ProcessEnv): boolean {
  const read = (name: string) => env[name.toLowerCase()] || env[name] || undefined
  const httpProxy = read('HTTP_PROXY')
  // undici sends `https` through HTTP_PROXY when HTTPS_PROXY is unset.
  const httpsProxy = read('HTTPS_PROXY')
  if (!httpProxy && !httpsProxy) return false
  const noProxy = read('NO_PROXY')
  setGlobalDispatcher(
    new EnvHttpProxyAgent({
      // An empty string, not undefined: undici would read process.env itself.
      httpProxy: httpProxy ?? '',
      httpsProxy: httpsProxy ?? '',
      noProxy: noProxy ?? '',
    }),
  )
  return true
}
