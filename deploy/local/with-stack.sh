#!/usr/bin/env bash
# with-stack.sh CMD [ARGS...] — run CMD with the local stack up (the services in $KJ_SERVICES, default
# all: kafka cassandra replicator sidecar) and its addresses exported (KAFKA_BROKERS, CASSANDRA_HOSTS,
# KJOURNAL_SOCKET, ...). Services that were already running (e.g. after `make up`) are reused and left
# running; services this script starts are stopped when CMD ends, pass, fail or Ctrl-C, so no JVM or
# sidecar is orphaned. Exits with CMD's status.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
stack="$here/stack.sh"

started=()
cleanup() {
  local i
  for ((i = ${#started[@]} - 1; i >= 0; i--)); do "$stack" stop "${started[$i]}" || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for s in ${KJ_SERVICES:-kafka cassandra replicator sidecar}; do
  if ! "$stack" running "$s"; then
    started+=("$s")
  fi
done
if [[ ${#started[@]} -gt 0 ]]; then
  # One start call, so the JVMs boot in parallel.
  "$stack" start "${started[@]}"
fi
set -a
# shellcheck disable=SC1090
source <("$stack" env)
set +a
status=0
"$@" || status=$?
exit "$status"
