#!/usr/bin/env bash
# clients/python/run-tests.sh — the Python client's suite, as `make test` runs it.
#
# Makes (or reuses, when pyproject.toml, the Python and this checkout are unchanged) a virtualenv at
# ${KJ_RUN:-<repo>/.run}/venv-python, installs the package editable with its pinned test extra
# (pytest, pytest-asyncio, pytest-timeout, mypy), runs `mypy --strict` on the package and pytest on
# the tests, and exits non-zero if either fails. Nothing is installed outside the venv.
#
# Tests that need the sidecar read $KJOURNAL_SOCKET and are skipped when it is unset; `make test`
# sets it. Extra arguments go to pytest (e.g. `run-tests.sh -k tck -x`). PYTHON picks the
# interpreter (default python3; 3.10 or newer).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
run=${KJ_RUN:-$repo/.run}
venv=$run/venv-python
python=${PYTHON:-python3}

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "run-tests.sh: $python is missing or older than 3.10" >&2
  exit 2
fi

# The venv is up to date when it was made by this interpreter, for this checkout, from this pyproject.
want=$(
  {
    "$python" -c 'import sys; print(sys.version, sys.executable)'
    echo "$here"
    cat "$here/pyproject.toml"
  } | sha256sum | cut -d' ' -f1
)
stamp=$venv/.kjournal-stamp
if [[ ! -x $venv/bin/python || ! -f $stamp || "$(cat "$stamp")" != "$want" ]]; then
  echo "== python: creating $venv"
  rm -rf "$venv"
  mkdir -p "$run"
  "$python" -m venv "$venv"
  (cd "$repo" && "$venv/bin/python" -m pip install --disable-pip-version-check -q -e './clients/python[test]')
  echo "$want" >"$stamp"
fi

if [[ -z ${KJOURNAL_SOCKET:-} ]]; then
  echo "== python: KJOURNAL_SOCKET is not set: the tests that need the sidecar will be skipped" >&2
fi

status=0
echo "== python: mypy --strict src/kjournal"
(cd "$here" && "$venv/bin/python" -m mypy --strict --cache-dir "$venv/.mypy_cache" src/kjournal) || status=1

echo "== python: pytest"
(cd "$here" && PYTHONDONTWRITEBYTECODE=1 "$venv/bin/python" -m pytest -o cache_dir="$venv/.pytest_cache" "$@") || status=1

exit "$status"
