// Plain JavaScript on purpose: this runs before any TypeScript is loaded, on whatever Node the
// operator has. An older Node would otherwise fail on the first `.ts` import with
// ERR_UNKNOWN_FILE_EXTENSION and never say that the fix is a newer Node.

/** The oldest Node that runs the gateway: it strips TypeScript types itself (no build step). */
export const MIN_NODE_MAJOR = 24

/**
 * What stops this Node from running the gateway's sources, or undefined when nothing does.
 * @param {string} version `process.versions.node`, e.g. "20.19.2"
 * @param {string} binPath the real path of the running bin script
 * @returns {string | undefined}
 */
export function nodeProblem(version, binPath) {
  const major = Number(String(version).split('.')[0])
  if (!(major >= MIN_NODE_MAJOR)) {
    return (
      `needs Node.js ${MIN_NODE_MAJOR} or newer; this is Node.js ${version}. ` +
      `Install Node.js ${MIN_NODE_MAJOR} LTS (https://nodejs.org/en/download, or \`nvm install ${MIN_NODE_MAJOR}\`, ` +
      `or your distribution's nodejs ${MIN_NODE_MAJOR} package), or run the container image ` +
      '(see docs/deploy.md).'
    )
  }
  // Node refuses to strip types from files under node_modules
  // (ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING), so the sources must sit outside one.
  if (/[\\/]node_modules[\\/]/.test(binPath)) {
    return (
      `runs its TypeScript sources directly, and Node.js does not run TypeScript from inside node_modules (${binPath}). ` +
      'Install from a checkout of the repository (`npm ci --omit=dev --workspace gateway`) or run the container image ' +
      '(see docs/deploy.md).'
    )
  }
  return undefined
}
