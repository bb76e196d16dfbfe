# One image for the hub and the simulated gateway fleet, compiled (npm run build) and run by plain
# node: no TypeScript loader, no compiler toolchain and no dev dependencies in the final image.
#   docker build -t vigil:local .
#   docker run vigil:local                      the hub (dist/hub.mjs; `--help` lists its commands)
#   docker run vigil:local dist/fleet.mjs       the simulated gateway fleet
# Node 24 LTS: Node 20 reached end of life in April 2026 (package.json "engines").

# ---- build: every dependency, the bundles ----
FROM node:24-bookworm-slim AS build
# toolchain for native modules (better-sqlite3) when no prebuilt binary matches
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY contract ./contract
COPY deploy ./deploy
COPY drivers ./drivers
COPY gateway ./gateway
COPY hub ./hub
COPY scripts ./scripts
COPY simulators ./simulators
RUN npm run build

# ---- runtime dependencies only, exactly as locked (native addons built here) ----
FROM node:24-bookworm-slim AS deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# the optional noble BLE backend may fail to build here; npm tolerates that
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# ---- runtime: node, the bundles, production node_modules; non-root ----
FROM node:24-bookworm-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
USER node
# the hub's liveness endpoint on its HTTP port (VIGIL_HTTP_PORT, 8080 by default)
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=6 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.VIGIL_HTTP_PORT || 8080) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node"]
CMD ["dist/hub.mjs"]
