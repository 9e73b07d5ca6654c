# syntax=docker/dockerfile:1
# talon-operator image: compiled TypeScript and production dependencies on a distroless Node.js 20
# runtime (no shell, no package manager), running as the non-root user 65532.
#
#   docker build -t ghcr.io/talon-operator/talon-operator:0.1.0 .
#
# Pin the base images by digest for reproducible builds (--build-arg NODE_IMAGE=node:20-bookworm-slim@sha256:…).
ARG NODE_IMAGE=node:20-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs20-debian12:nonroot

# ---- build: compile everything tsconfig.json includes, keep the operator's runtime code.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY operator ./operator
RUN npx tsc -p tsconfig.json \
 && find dist -name '*.test.js' -delete -o -name '*.test.js.map' -delete

# ---- deps: production dependencies only (all pure JavaScript; no install scripts needed).
FROM ${NODE_IMAGE} AS deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime
FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="talon-operator" \
      org.opencontainers.image.description="Kubernetes response engine for Falco" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
ENV NODE_ENV=production
# At most two malloc arenas: a lower RSS at the same CPU (operator/src/lib/node-flags.ts).
ENV MALLOC_ARENA_MAX=2
# package.json carries "type": "module", which makes dist/**/*.js ES modules.
COPY --from=build /src/package.json ./package.json
COPY --from=deps /src/node_modules ./node_modules
COPY --from=build /src/dist/operator/src ./dist/operator/src
USER 65532:65532
# Webhook (POST alerts; GET /healthz, /readyz, /metrics).
EXPOSE 2803
# V8 flags for a small, steady heap that keeps its optimised code through quiet spells (operator/src/lib/node-flags.ts says why and what they measured).
ENTRYPOINT ["/nodejs/bin/node", "--max-semi-space-size=4", "--heap-growing-percent=50", "--no-memory-reducer", "dist/operator/src/cli.js"]
CMD ["run", "--config", "/etc/talon/config.yaml"]
