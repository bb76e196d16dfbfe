#!/bin/sh
# Builds the gateway bundle for the box: see deploy/build-gateway.mjs. Usage: deploy/build-gateway.sh [outdir=dist]
set -eu
cd "$(dirname "$0")/.."
exec node deploy/build-gateway.mjs "${1:-dist}"
