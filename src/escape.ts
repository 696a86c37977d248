// Text the Action did not write itself (gateway answers, file names, error messages) leaves the
// process in four places: the log, the PR comment (Markdown), the job summary (HTML) and GitHub's
// deployment status. Each place has one helper here, and each first removes the secrets.
import { parsePublishedUrl } from 'kaixu-contract'

// The Kaixu key and the GitHub token, registered once read. The runner masks them in the log,
// but not in a comment, a deployment description or the summary, and an error (undici's "invalid
// header value", say) can quote them whole.
const secrets: string[] = []

/**
 * Registers a secret to cut out of every message built here. A multi-line secret is registered
 * line by line too, as the runner's masking does.
 */
export function keepSecret(value: string | undefined): void {
  if (!value) return
  for (const part of [value, ...value.split(/\r?\n/)]) {
    // Very short fragments would blank out ordinary words.
    if (part.trim().length >= 4 && !secrets.includes(part)) secrets.push(part)
  }
  // Longest first, so a line of a secret never leaves the rest of it behind.
  secrets.sort((a, b) => b.length - a.length)
}

/** The text with every registered secret replaced by `***`. */
export function redact(text: string): string {
  let out = text
  for (const secret of secrets) out = out.split(secret).join('***')
  return out
}

/**
 * Data-built text as one log line, escaped as @actions/core escapes a command's message
 * (`escapeData`: `%`, CR and LF; that function is not exported). `core.info` writes its text raw,
 * and a line break in a file name or a gateway message would let `::add-mask::`,
 * `::stop-commands::` or `::set-output` start a line of its own; the CLI's stderr gets the same.
 */
export function logLine(text: string): string {
  return redact(text).replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A')
}

/** Text for a job summary cell (raw HTML): no markup, and on one line so no blank line ends it. */
export function htmlText(text: string): string {
  return redact(text)
    .replace(/\s+/g, ' ')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
}

/** A link for the job summary when `url` is a URL fit to publish; plain escaped text otherwise. */
export function htmlLink(url: string): string {
  const safe = htmlText(url)
  return checkedUrl(url) ? `<a href="${safe}">${safe}</a>` : safe
}

/**
 * Text for a PR comment's table cell, as a code span: GitHub turns neither `@mentions`, `#123`,
 * autolinks, links, images nor HTML into anything inside one. Backticks would end the span and
 * become `'`; pipes are escaped, which GitHub's tables require even inside a code span.
 */
export function markdownCode(text: string): string {
  const flat = redact(text).replace(/\s+/g, ' ').replace(/`/g, "'").trim()
  return flat === '' ? '' : `\`${flat.replace(/\|/g, '\\|')}\``
}

/** A link for a PR comment when `url` is a URL fit to publish; a code span otherwise. */
export function markdownLink(url: string, text?: string): string {
  if (!checkedUrl(url)) return markdownCode(url)
  // The URL holds no brackets, parentheses, spaces or quotes (checkedUrl), so it can neither end
  // the link nor start another one.
  return text === undefined ? `<${url}>` : `[${text}](${url})`
}

function checkedUrl(url: string): boolean {
  try {
    parsePublishedUrl(url, 'URL')
    return !url.includes('[') && !url.includes(']')
  } catch {
    return false
  }
}
