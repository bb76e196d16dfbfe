#!/bin/sh
# README's test command after bootstrap: type-check, then every suite on real services.
# Extra arguments go to vitest (e.g. .ci/run's JSON reporter).
set -e
tsc --noEmit
exec vitest run "$@"
