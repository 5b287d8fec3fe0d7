#!/usr/bin/env bash
# with-stack.sh CMD [ARGS...] — run CMD with the real Kafka and Cassandra up and KAFKA_BROKERS /
# CASSANDRA_HOSTS exported. Servers that were already running (e.g. after `make up`) are reused and left
# running; servers this script starts are stopped when CMD ends, pass, fail or Ctrl-C, so no JVM is
# orphaned. Exits with CMD's status.
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

for s in kafka cassandra; do
  if ! "$stack" running "$s"; then
    started+=("$s")
  fi
done
if [[ ${#started[@]} -gt 0 ]]; then
  # One start call for both, so the two JVMs boot in parallel.
  if [[ ${#started[@]} -eq 2 ]]; then "$stack" start; else "$stack" start "${started[0]}"; fi
fi
set -a
# shellcheck disable=SC1090
source <("$stack" env)
set +a
status=0
"$@" || status=$?
exit "$status"
