# The Kaixu gateway as a container image: Node 24, the gateway's production dependencies only,
# no build step (Node 24 runs the TypeScript sources directly), a non-root user.
#
#   docker build -t kaixu-gateway .
#   docker run -p 8787:8787 -e DATABASE_URL=postgres://… -e KAIXU_VAULT_KEYS=k1:… kaixu-gateway
#
# gateway/test/image.test.ts runs these same install and start steps in a scratch folder and
# checks this file, since no Docker engine runs in CI. See docs/deploy.md.

FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY gateway/package.json gateway/
COPY contract/package.json contract/
# Only the gateway workspace's runtime dependencies, exactly as locked: no Action, no dev tools.
RUN npm ci --omit=dev --workspace gateway --no-audit --no-fund

FROM node:24-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8787 \
    KAIXU_DATA_DIR=/data
WORKDIR /app
COPY --from=deps /app/node_modules node_modules
COPY package.json ./
COPY gateway/package.json gateway/
COPY gateway/bin gateway/bin
COPY gateway/migrations gateway/migrations
COPY gateway/src gateway/src
# The wire contract (kaixu-contract): a workspace package run from its TypeScript sources like the
# gateway; node_modules/kaixu-contract links to it.
COPY contract/package.json contract/
COPY contract/src contract/src
# The data directory: embedded PGlite, its vault key and the sandbox's files when DATABASE_URL is
# unset. With Postgres nothing is written there. The `node` user comes with the base image.
RUN mkdir -p /data && chown node:node /data
VOLUME /data
USER node
EXPOSE 8787
# /readyz checks the database, migrations and the job queue; a draining process answers 503.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.PORT + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM stops new requests, lets those in flight finish (KAIXU_SHUTDOWN_GRACE_MS, 20 s), then
# stops the job workers: give the platform a longer stop timeout than that (compose: 30 s).
STOPSIGNAL SIGTERM
# Exec form: node is PID 1 and receives SIGTERM itself.
CMD ["node", "gateway/bin/kaixu-gateway.js", "serve"]
