# One image for the hub and the simulated gateway fleet: the repository, its npm dependencies,
# and tsx to run the TypeScript entry points directly (no build step).
#   docker build -t vigil:local .
#   docker run vigil:local hub/cli.ts            (the default)
#   docker run vigil:local simulators/fleet/cli.ts
FROM node:20-bookworm-slim

# toolchain for native modules (better-sqlite3) when no prebuilt binary matches
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY package.json package-lock.json ./
# runtime dependencies only. Optional ones stay: tsx's esbuild ships its binary as an optional
# platform package (the optional noble BLE backend may fail to build here; npm tolerates that).
RUN npm install --omit=dev --no-audit --no-fund && npm cache clean --force

COPY tsconfig.json ./
COPY contract ./contract
COPY drivers ./drivers
COPY gateway ./gateway
COPY hub ./hub
COPY simulators ./simulators

ENV NODE_ENV=production
USER node
ENTRYPOINT ["/app/node_modules/.bin/tsx"]
CMD ["hub/cli.ts"]
