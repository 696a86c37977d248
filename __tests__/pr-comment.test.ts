import { createHash } from 'node:crypto'
import { describe, expect, it } from '@jest/globals'
import { commentMarker, ownedBy, renderComment, upsertComment } from '../src/pr-comment.ts'
import type { GitHubApi, IssueComment } from '../src/github.ts'

describe('commentMarker', () => {
  it('is a hidden comment keyed by the first 16 hex of sha256(project)', () => {
    const hash = createHash('sha256').update('client-site').digest('hex').slice(0, 16)
    expect(commentMarker('client-site')).toBe(`<!-- kaixu-push:project=${hash} -->`)
    expect(commentMarker('client-site')).toBe(commentMarker('client-site'))
    expect(commentMarker('client-site')).not.toBe(commentMarker('client-docs'))
    expect(commentMarker('prj_secret')).not.toContain('prj_secret')
  })
})

describe('renderComment', () => {
  const now = new Date('2026-11-25T10:30:00Z')

  it('shows the state, both URLs, the commit and the files, marker first', () => {
    const body = renderComment({
      project: 'client-site',
      sha: 'abcdef1234567890',
      state: 'ready',
      production: false,
      siteUrl: 'https://pr-3--site.netlify.app',
      deployUrl: 'https://d1--site.netlify.app',
      filesTotal: 50,
      filesChanged: 2,
      filesUploaded: 2,
      bytesUploaded: 2048,
      runUrl: 'https://github.com/acme/site/actions/runs/1',
      now,
    })
    expect(body.split('\n')[0]).toBe(commentMarker('client-site'))
    expect(body).toContain('### ✅ Kaixu Push · `client-site` · Preview ready')
    expect(body).toContain('| **Preview** | <https://pr-3--site.netlify.app> |')
    expect(body).toContain('| **This deploy** | <https://d1--site.netlify.app> |')
    expect(body).toContain('| **Commit** | `abcdef1` |')
    expect(body).toContain('| **Files** | 50 total, 2 changed, 2 uploaded (2.0 kB) |')
    expect(body).toContain(
      '<sub>Updated 2026-11-25 10:30 UTC by [this run](https://github.com/acme/site/actions/runs/1).',
    )
  })

  it('links the deploy log', () => {
    const body = renderComment({
      project: 'client-site',
      state: 'ready',
      production: true,
      deployLogUrl: 'https://app.netlify.com/sites/site/deploys/d1',
      now,
    })
    expect(body).toContain('| **Deploy log** | <https://app.netlify.com/sites/site/deploys/d1> |')
  })

  it('shows failures with their message, made safe for a table cell', () => {
    const body = renderComment({
      project: 'client-site',
      state: 'failed',
      production: true,
      error: 'Bad <b>thing</b> | with\na newline',
      now,
    })
    expect(body).toContain('### ❌ Kaixu Push · `client-site` · Production deploy failed')
    expect(body).toContain('| **Error** | `Bad <b>thing</b> \\| with a newline` |')
  })
})

describe('ownedBy', () => {
  it('matches the token’s own login when known', () => {
    const ours = ownedBy('deploy-bot-user')
    expect(ours('deploy-bot-user')).toBe(true)
    expect(ours('github-actions[bot]')).toBe(false)
  })

  it('matches github-actions[bot] only when the login is unknown (an installation token)', () => {
    const ours = ownedBy(undefined)
    expect(ours('github-actions[bot]')).toBe(true)
    // Another bot on the PR quoting our marker is not us.
    expect(ours('renovate[bot]')).toBe(false)
    expect(ours('my-app[bot]')).toBe(false)
    expect(ours('mallory')).toBe(false)
    expect(ours(undefined)).toBe(false)
  })

  it('matches the comment-author login instead when one is given (a GitHub App token)', () => {
    const ours = ownedBy(undefined, 'my-app[bot]')
    expect(ours('my-app[bot]')).toBe(true)
    expect(ours('github-actions[bot]')).toBe(false)
    // A token that can read its own login knows best.
    expect(ownedBy('deploy-bot-user', 'my-app[bot]')('deploy-bot-user')).toBe(true)
  })
})

describe('upsertComment', () => {
  function fakeApi(comments: IssueComment[], viewer?: string) {
    const calls: string[] = []
    const api: Pick<GitHubApi, 'viewerLogin' | 'findComment' | 'createComment' | 'updateComment'> =
      {
        viewerLogin: async () => viewer,
        findComment: async (_issue, match) => comments.find(match),
        createComment: async (_issue, body) => {
          calls.push('create')
          return { id: 99, body, login: viewer ?? 'github-actions[bot]', url: undefined }
        },
        updateComment: async (id, body) => {
          calls.push(`update ${id}`)
          return { id, body, login: viewer, url: undefined }
        },
      }
    return { api, calls }
  }
  const marker = commentMarker('site')

  it('updates our comment with the marker, skipping a person’s copy', async () => {
    const { api, calls } = fakeApi([
      { id: 1, body: `${marker} copied`, login: 'mallory', url: undefined },
      { id: 2, body: 'no marker', login: 'github-actions[bot]', url: undefined },
      { id: 3, body: `${marker}\nold`, login: 'github-actions[bot]', url: undefined },
    ])
    const result = await upsertComment(api, 5, 'site', `${marker}\nnew`)
    expect(calls).toEqual(['update 3'])
    expect(result.created).toBe(false)
  })

  it('creates one when there is none of ours for this project', async () => {
    const { api, calls } = fakeApi([
      { id: 3, body: commentMarker('other'), login: 'github-actions[bot]', url: undefined },
    ])
    expect((await upsertComment(api, 5, 'site', marker)).created).toBe(true)
    expect(calls).toEqual(['create'])
  })
})
