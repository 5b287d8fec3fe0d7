"""Shared fixtures.

Tests that need the sidecar use ``$KJOURNAL_SOCKET`` and are skipped (with a message naming it)
when it is unset; ``make test`` always sets it, with a real sidecar on real Kafka and Cassandra.
Unit tests of the sans-IO protocol module and of argument checking need no server.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import kjournal

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parents[2]
PROTOCOL_DIR = REPO_ROOT / "protocol"
VECTORS_PATH = PROTOCOL_DIR / "testdata" / "vectors.json"
CODES_PATH = PROTOCOL_DIR / "codes.json"


def load_json(path: Path) -> Any:
    if not path.exists():
        pytest.fail(f"{path} not found: the tests run from a kjournal checkout (clients/python/tests)")
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    data: dict[str, Any] = load_json(VECTORS_PATH)
    return data


def from_notation(v: Any) -> Any:
    """vectors.json ``decoded`` notation to Python: $bin → bytes, $int → int, $float → float."""
    if isinstance(v, dict):
        if set(v) == {"$bin"}:
            return base64.b64decode(v["$bin"])
        if set(v) == {"$int"}:
            return int(v["$int"])
        if set(v) == {"$float"}:
            return float(v["$float"])
        return {k: from_notation(x) for k, x in v.items()}
    if isinstance(v, list):
        return [from_notation(x) for x in v]
    return v


def assert_same(got: Any, want: Any, path: str = "$") -> None:
    """Equality that also checks types (1 vs 1.0 vs True) and the order of map keys."""
    assert type(got) is type(want), f"{path}: {type(got).__name__} {got!r} != {type(want).__name__} {want!r}"
    if isinstance(want, dict):
        assert list(got) == list(want), f"{path}: keys {list(got)} != {list(want)}"
        for k in want:
            assert_same(got[k], want[k], f"{path}.{k}")
    elif isinstance(want, list):
        assert len(got) == len(want), f"{path}: length {len(got)} != {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{path}[{i}]")
    else:
        assert got == want, f"{path}: {got!r} != {want!r}"


# -- the real sidecar ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def socket_path() -> str:
    path = os.environ.get(kjournal.SOCKET_ENV)
    if not path:
        pytest.skip(f"${kjournal.SOCKET_ENV} is not set: no sidecar to test against (make test sets it)")
    return path


@pytest.fixture
def journal_id() -> str:
    """A fresh journal id: tests never share journals."""
    return f"py-{uuid.uuid4().hex}"


@pytest.fixture
def client(socket_path: str) -> Iterator[kjournal.Client]:
    with kjournal.Client(socket_path, timeout=20) as c:
        yield c


@pytest.fixture
async def aclient(socket_path: str) -> AsyncIterator[kjournal.AsyncClient]:
    async with kjournal.AsyncClient(socket_path, timeout=20) as c:
        yield c
