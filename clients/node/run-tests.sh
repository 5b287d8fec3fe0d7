#!/usr/bin/env bash
# clients/node/run-tests.sh — the Node client's suite, as `make test` runs it.
#
#   npm ci            from the committed package-lock.json (packages come from the npm cache when it
#                     has them: --prefer-offline)
#   npm run build     src/codes.ts from protocol/codes.json, then tsc → dist/ (.js + .d.ts)
#   tsc --noEmit      strict, over the sources and the tests
#   node --test       the compiled tests (tsc → build/)
#
# Exits non-zero if any step fails. Tests that need the sidecar read $KJOURNAL_SOCKET and are skipped,
# saying so, when it is unset; `make test` sets it. Extra arguments go to `node --test` (e.g.
# `run-tests.sh --test-name-pattern=TCK`).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"

if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null; then
  echo "run-tests.sh: node is missing or older than 20" >&2
  exit 2
fi
if [[ -z ${KJOURNAL_SOCKET:-} ]]; then
  echo "== node: KJOURNAL_SOCKET is not set: the tests that need the sidecar will be skipped" >&2
fi

echo "== node: npm ci"
npm ci --no-audit --no-fund --prefer-offline --loglevel=error
rm -rf dist build

echo "== node: build (dist/ with declarations)"
npm run --silent build

echo "== node: tsc --noEmit (strict)"
npx --no-install tsc --noEmit -p tsconfig.json

echo "== node: node --test"
npx --no-install tsc -p tsconfig.test.json
node --test --test-timeout=120000 "$@" build/test/*.test.js
