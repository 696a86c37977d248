import { html, type HtmlValue, type SafeHtml } from './html.ts'
import { fmtBytes, fmtCents, fmtInt } from './format.ts'

/** The dashboard's shell: navigation, sign-out form and one stylesheet (no scripts at all). */
export function layout(opts: {
  title: string
  active?: string
  csrf?: string | undefined
  body: HtmlValue
}): string {
  const nav = [
    ['overview', '/admin', 'Overview'],
    ['customers', '/admin/customers', 'Customers'],
    ['pushes', '/admin/pushes', 'Deploys'],
    ['jobs', '/admin/jobs', 'Jobs'],
    ['invoices', '/admin/invoices', 'Invoices'],
    ['webhooks', '/admin/webhooks', 'Webhooks'],
    ['onboarding', '/admin/onboarding', 'Onboarding'],
    ['audit', '/admin/audit', 'Audit'],
  ] as const
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${opts.title} · Kaixu admin</title>
        <link rel="stylesheet" href="/admin/assets/dashboard.css" />
      </head>
      <body>
        <header class="top">
          <a class="brand" href="/admin">Kaixu<span>Push</span> admin</a>
          ${
            opts.csrf
              ? html`<nav>
                    ${nav.map(
                      ([key, href, label]) =>
                        html`<a
                          href="${href}"
                          ${opts.active === key ? html` aria-current="page"` : ''}
                          >${label}</a
                        >`,
                    )}
                  </nav>
                  <form method="post" action="/admin/logout" class="signout">
                    <input type="hidden" name="_csrf" value="${opts.csrf}" />
                    <button type="submit">Sign out</button>
                  </form>`
              : ''
          }
        </header>
        <main>
          <h1>${opts.title}</h1>
          ${opts.body}
        </main>
      </body>
    </html> `.value
}

/** A table; `cells` are already-escaped cell contents. Empty lists say so instead. */
export function table(headers: string[], rows: HtmlValue[][], empty = 'Nothing here.'): SafeHtml {
  if (rows.length === 0) return html`<p class="empty">${empty}</p>`
  return html`<div class="scroll">
    <table>
      <thead>
        <tr>
          ${headers.map((h) => html`<th scope="col">${h}</th>`)}
        </tr>
      </thead>
      <tbody>
        ${rows.map(
          (r) =>
            html`<tr>
              ${r.map((c) => html`<td>${c}</td>`)}
            </tr>`,
        )}
      </tbody>
    </table>
  </div>`
}

export const badge = (state: string) => html`<span class="badge badge-${state}">${state}</span>`

/** A GET form of filters; `fields` are rendered controls. */
export const filterForm = (action: string, fields: HtmlValue[]) =>
  html`<form method="get" action="${action}" class="filters">
    ${fields}<button type="submit">Filter</button>
  </form>`

export function select(
  name: string,
  label: string,
  options: { value: string; label: string }[],
  selected: string | undefined,
): SafeHtml {
  return html`<label
    >${label}
    <select name="${name}">
      <option value="">all</option>
      ${options.map(
        (o) =>
          html`<option value="${o.value}" ${o.value === selected ? html` selected` : ''}>
            ${o.label}
          </option>`,
      )}
    </select></label
  >`
}

export const monthInput = (value: string | undefined) =>
  html`<label
    >Month <input type="month" name="month" value="${value ?? ''}" placeholder="YYYY-MM"
  /></label>`

export const textInput = (name: string, label: string, value: string | undefined) =>
  html`<label>${label} <input type="text" name="${name}" value="${value ?? ''}" /></label>`

/** "Newer / older" links of a keyset-paged list. */
export function pager(base: string, params: Record<string, string | undefined>, next?: string) {
  const query = (extra: Record<string, string>) => {
    const q = new URLSearchParams()
    for (const [k, v] of Object.entries({ ...params, ...extra })) if (v) q.set(k, v)
    const s = q.toString()
    return s ? `${base}?${s}` : base
  }
  return html`<nav class="pager">
    ${params['before'] || params['after'] ? html`<a href="${query({ before: '', after: '' })}">First page</a>` : ''}${
      next
        ? html`<a
            rel="next"
            href="${query(next.startsWith('after:') ? { after: next.slice(6) } : { before: next })}"
            >Next page →</a
          >`
        : ''
    }
  </nav>`
}

/** A usage bar: `used` of `limit`, with the figures in text for screen readers and narrow screens. */
export function meter(used: number, limit: number, fmt: (n: number) => string): SafeHtml {
  const pct = limit > 0 ? Math.min(100, Math.round((used / limit) * 100)) : 100
  const level = pct >= 90 ? 'high' : pct >= 70 ? 'mid' : 'low'
  return html`<span class="meter"
    ><svg viewBox="0 0 100 6" width="100" height="6" aria-hidden="true">
      <rect class="meter-bg" width="100" height="6"></rect>
      <rect class="meter-${level}" width="${pct}" height="6"></rect>
    </svg>
    ${fmt(used)} / ${fmt(limit)} (${pct}%)</span
  >`
}

/**
 * Bars per day of a month, drawn as inline SVG on the server: no script, no external library,
 * and the CSP stays strict. Each bar has a <title> (hover) and the figures are also in a table.
 */
export function dailyChart(
  month: string,
  days: { day: string; deploys: number; bytes: number; cents: number }[],
): SafeHtml {
  const [y, m] = month.split('-').map(Number) as [number, number]
  const count = new Date(Date.UTC(y, m, 0)).getUTCDate()
  const byDay = new Map(days.map((d) => [Number(d.day.slice(8, 10)), d]))
  const max = Math.max(1, ...days.map((d) => d.deploys))
  const W = 24
  const H = 120
  const bars = Array.from({ length: count }, (_, i) => {
    const d = byDay.get(i + 1)
    const h = d ? Math.max(2, Math.round((d.deploys / max) * (H - 20))) : 0
    return html`<g
      ><rect class="bar" x="${i * W + 2}" y="${H - 14 - h}" width="${W - 3}" height="${h}"
        ><title>
          ${`${month}-${String(i + 1).padStart(2, '0')}: ${fmtInt(d?.deploys ?? 0)} deploys, ${fmtBytes(d?.bytes ?? 0)}, ${fmtCents(d?.cents ?? 0)}`}
        </title></rect
      >${
        (i + 1) % 5 === 1
          ? html`<text x="${i * W + W / 2}" y="${H - 2}" class="axis">${i + 1}</text>`
          : ''
      }</g
    >`
  })
  return html`<figure class="chart">
    <svg
      viewBox="0 0 ${count * W + 4} ${H}"
      role="img"
      aria-label="Deploys per day in ${month} (max ${fmtInt(max)})"
    >
      ${bars}
    </svg>
    <figcaption>Billed deploys per day (UTC), max ${fmtInt(max)}</figcaption>
  </figure>`
}
