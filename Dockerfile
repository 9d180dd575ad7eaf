# syntax=docker/dockerfile:1
# One image for every service of the system (api, the three workers, the CDC projector, the PSP
# sandbox, the migrate job); docker-compose.yml picks the entry point with `command`.
#
# The processes run TypeScript through tsx (`node --import tsx <entry>.ts`), exactly as `npm start`
# does: there is no tsc build step (tsconfig.json type-checks only). The image therefore carries the
# TypeScript sources and tsx, and the order worker bundles workflows/ with webpack when it starts.

# Node 24, the Active LTS line (Node 20 reached its end of life in April 2026). The code also runs on
# Node 20 and 22 (package.json engines: >=20; the test machines run 20).
ARG NODE_IMAGE=node:24-bookworm-slim

# Production dependencies, plus tsx, the loader every process runs under.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV SCARF_ANALYTICS=false
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm install --no-save --no-audit --no-fund "tsx@$(node -p "require('./package-lock.json').packages['node_modules/tsx'].version")"

# The web console (web/ -> web/dist), built with the dev dependencies (Vite), served by the API.
FROM ${NODE_IMAGE} AS web
WORKDIR /app
ENV SCARF_ANALYTICS=false
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web ./web
RUN node web/build.mjs

FROM ${NODE_IMAGE}
WORKDIR /app
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    LOG_LEVEL=info
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY lib ./lib
COPY db ./db
COPY activities ./activities
COPY workflows ./workflows
COPY workers ./workers
COPY api ./api
COPY processes ./processes
COPY psp ./psp
COPY scripts ./scripts
COPY --from=web /app/web/dist ./web/dist
# The PSP sandbox keeps its books in /var/lib/psp (a volume in docker-compose.yml).
RUN mkdir -p /var/lib/psp && chown node:node /var/lib/psp
# Runs as the image's unprivileged user; nothing is written outside /tmp and /var/lib/psp.
USER node
ENTRYPOINT ["node", "--import", "tsx"]
CMD ["api/server.ts"]
