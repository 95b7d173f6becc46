# syntax=docker/dockerfile:1
# One Dockerfile for every app of the workspace, and for the gateway:
#   docker build --build-arg APP=order-service -t orderflow/order-service .
#   docker build --target gateway -t orderflow/gateway .
# The image runs the app (CMD), its migrations (the Job: node libs/migrate/dist/cli.js deploy <db>)
# and the Deployment's init container (node dist/wait-for-migrations.js <db>).
#
# How the app runs: each app is bundled by esbuild (k8s/tools/bundle.ts) into one CommonJS file
# with our libs, the generated Prisma client and every npm package inside. The final stage then
# needs no node_modules at all (~30 MB on top of node:<version>-slim), starts without a TypeScript
# loader, and holds nothing but what the app imports. (`npm ci --omit=dev` would ship ~350 MB:
# `prisma`, a production dependency of libs/migrate, brings Studio, PGlite and TypeScript.)
#
# Node: a supported LTS line (24: until 2028-04-30; 20's support ended on 2026-04-30), one that
# CI runs the suite on and package.json's `engines` admits (k8s/tests/pipeline.unit.test.ts
# checks the three agree). Renovate proposes its updates (renovate.json).
ARG NODE_IMAGE=node:24-bookworm-slim

# --- package manifests only, so the npm ci layer is reused until a package.json changes
FROM ${NODE_IMAGE} AS manifests
WORKDIR /src
COPY apps ./apps
COPY libs ./libs
RUN find apps libs -type f ! -name package.json -delete \
 && find apps libs -depth -type d -empty -delete

# --- the workspace's full dependency tree (build tools are devDependencies: tsx, esbuild)
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
COPY package.json package-lock.json ./
COPY --from=manifests /src/ ./
# --ignore-scripts: the only script the build needs is the root postinstall (Prisma clients),
# run below once the schemas are here; the others would download Prisma's native engines,
# which nothing here uses (driver adapters + the wasm schema engine).
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts

# --- generate the Prisma clients, bundle the app, assemble /out (the final tree)
FROM deps AS build
# `prisma generate` starts by locating a native schema engine it never runs; pointing it at an
# existing file keeps it from downloading one (libs/migrate/src/generate.ts does the same).
ENV PRISMA_SCHEMA_ENGINE_BINARY=/usr/local/bin/node PRISMA_HIDE_UPDATE_MESSAGE=1
COPY apps ./apps
COPY libs ./libs
COPY prisma ./prisma
COPY k8s/tools ./k8s/tools
RUN npm run db:generate
ARG APP
RUN test -n "$APP" || { echo 'build with --build-arg APP=<folder under apps/>' >&2; exit 1; } \
 && npx tsx k8s/tools/bundle.ts "$APP" /out

# --- the gateway's web root: the OpenAPI document, its viewer, the console (npm run build:web)
FROM deps AS web
# The console's tsconfig extends the root one, and Vite fails on a missing `extends` target.
COPY tsconfig.base.json ./
COPY apps ./apps
COPY libs ./libs
COPY docs/openapi.json ./docs/openapi.json
RUN npx tsx libs/devstack/src/web.ts /web

# --- the gateway: nginx and its web root (GATEWAY_WEB_ROOT). Its configuration is
# nginx/templates/gateway.conf.template, mounted where the image renders templates (compose: the
# directory, Kubernetes: a ConfigMap), so a change of limits or routes needs no new image.
# Runs as the image's uid 101, listening on 8080.
FROM nginxinc/nginx-unprivileged:1.27-alpine AS gateway
LABEL org.opencontainers.image.title="orderflow/gateway" \
      org.opencontainers.image.description="Orderflow gateway: nginx with the API document, its viewer and the console" \
      org.opencontainers.image.licenses="MIT"
ENV GATEWAY_WEB_ROOT=/usr/share/orderflow/web
# Owned by root, read-only for nginx's user.
COPY --from=web /web/ /usr/share/orderflow/web/

# --- runtime (the default target): node, the bundles, the migrations; no npm packages, no compiler, non-root
FROM ${NODE_IMAGE} AS runtime
ARG APP
LABEL org.opencontainers.image.title="orderflow/${APP}" \
      org.opencontainers.image.description="Orderflow ${APP}" \
      org.opencontainers.image.licenses="MIT"
ENV NODE_ENV=production
WORKDIR /app
# Owned by root, read-only for the app user: the code cannot be changed by the process.
COPY --from=build /out/ ./
# The numeric uid of the image's `node` user, so Kubernetes can verify runAsNonRoot.
USER 1000:1000
# Source maps are shipped (dist/*.map); NODE_OPTIONS=--enable-source-maps maps stack traces
# to the TypeScript sources, at ~120 MB of extra memory, so it is off by default.
CMD ["node", "dist/main.js"]
