#!/usr/bin/env bash
# demo.sh — the end-to-end demo `make demo` runs, with the local stack up (deploy/local/with-stack.sh):
# a Python application appends, reads and deletes through the sidecar; the replicator copies the
# journal to Cassandra, where `kjournal inspect` shows the rows; then the journal is purged; then
# examples/bank.py runs (accounts with expected_seq_nr and snapshots, a projection fed by subscribe_all).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
run=${KJ_RUN:-$root/.run}

venv=$run/venv-demo
# (Re)install the client when its sources changed since the venv got it.
stamp=$(cd "$root/clients/python" && find pyproject.toml src -type f -name '*.py' -o -name pyproject.toml | sort | xargs cat | sha256sum | cut -c1-16)
if [[ ! -x $venv/bin/python ]] || [[ $(cat "$venv/.kjournal-stamp" 2>/dev/null) != "$stamp" ]] ||
  ! "$venv/bin/python" -c 'import kjournal' 2>/dev/null; then
  echo "== installing the Python client into $venv"
  if [[ -x $venv/bin/python ]]; then
    "$venv/bin/python" -m pip install --disable-pip-version-check -q --force-reinstall --no-deps "$root/clients/python"
  else
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --disable-pip-version-check -q "$root/clients/python"
  fi
  echo "$stamp" >"$venv/.kjournal-stamp"
fi
kjournal=$run/bin/kjournal
(cd "$root" && go build -o "$kjournal" ./cmd/kjournal)

echo "== 1. the application (Python client -> sidecar on $KJOURNAL_SOCKET)"
out=$("$venv/bin/python" "$here/demo.py")
echo "$out" | grep -v '^JOURNAL_ID='
id=$(echo "$out" | sed -n 's/^JOURNAL_ID=//p')

echo
echo "== 2. the replicator copies it to Cassandra (kjournal inspect $id)"
for _ in $(seq 1 100); do
  rows=$("$kjournal" inspect --cassandra-hosts "$CASSANDRA_HOSTS" "$id" 2>/dev/null || true)
  if grep -q '"delete_to":1' <<<"$rows" && grep -q '"seq_nr":3' <<<"$rows"; then
    echo "$rows"
    break
  fi
  sleep 0.2
done
grep -q '"delete_to":1' <<<"$rows" || { echo "demo: the journal did not reach Cassandra in 20s" >&2; exit 1; }

echo
echo "== 3. purge, through the sidecar"
"$venv/bin/python" - "$id" <<'PY'
import sys
from kjournal import Client
with Client() as c:
    j = c.journal(sys.argv[1])
    j.purge()
    print(f"purged -> pointer {j.pointer()}, read {list(j.read())}")
    assert j.pointer() is None
PY
echo
echo "== 4. an application: event-sourced bank accounts and a projection (examples/bank.py)"
"$venv/bin/python" "$root/examples/bank.py"

echo
echo "demo: ok"
