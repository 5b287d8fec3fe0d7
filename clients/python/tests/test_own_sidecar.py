"""Tests that start sidecars of their own (real binary, real Kafka and Cassandra) to see what the
shared one cannot show: a full sidecar, a sidecar that shuts down and comes back.

Needs the kjournal binary ($KJOURNAL_BIN, else $KJ_RUN/bin/kjournal, which `make test` builds) and
$KAFKA_BROKERS / $CASSANDRA_HOSTS (which `make test` sets).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import kjournal
from kjournal import AsyncClient, Client, Event

from .conftest import REPO_ROOT

StartSidecar = Callable[..., subprocess.Popen[bytes]]


def sidecar_binary() -> str:
    candidates = [
        os.environ.get("KJOURNAL_BIN"),
        str(Path(os.environ.get("KJ_RUN") or REPO_ROOT / ".run") / "bin" / "kjournal"),
    ]
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    pytest.skip("no kjournal binary: set $KJOURNAL_BIN (make test builds $KJ_RUN/bin/kjournal)")


@pytest.fixture
def start_sidecar() -> Iterator[tuple[StartSidecar, str]]:
    if not os.environ.get("KAFKA_BROKERS"):
        pytest.skip("$KAFKA_BROKERS is not set: no Kafka to start a sidecar on (make test sets it)")
    binary = sidecar_binary()
    tmp = tempfile.mkdtemp(prefix="kjpy")
    path = os.path.join(tmp, "kj.sock")
    procs: list[subprocess.Popen[bytes]] = []

    def start(*flags: str) -> subprocess.Popen[bytes]:
        log = open(os.path.join(tmp, f"sidecar{len(procs)}.log"), "wb")
        proc = subprocess.Popen(
            [binary, "sidecar", "--socket", path, "--http-addr", "-", "--log-format", "text",
             "--shutdown-grace", "2s", *flags],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        procs.append(proc)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                log.close()
                pytest.fail(f"sidecar exited with {proc.returncode}: {Path(log.name).read_text()[-2000:]}")
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(path)
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("sidecar did not listen within 90s")
        return proc

    try:
        yield start, path
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def test_full_sidecar_says_so(start_sidecar: tuple[StartSidecar, str]) -> None:
    start, path = start_sidecar
    start("--max-connections", "1")
    first = Client(path)
    for _ in range(50):  # until the sidecar has seen the readiness probe's connection go
        try:
            first.connect()
            break
        except kjournal.TooManyConnectionsError:
            time.sleep(0.1)
    with first:
        first.ping()
        for _ in range(20):  # the reason arrives whether or not hello was written first
            with pytest.raises(kjournal.TooManyConnectionsError) as e:
                Client(path).connect()
            assert e.value.retryable

        async def try_async() -> None:
            for _ in range(20):
                with pytest.raises(kjournal.TooManyConnectionsError):
                    await AsyncClient(path).connect()

        asyncio.run(try_async())
        first.ping()  # the first connection is unaffected


def test_sidecar_restart_then_reconnect(start_sidecar: tuple[StartSidecar, str], journal_id: str) -> None:
    start, path = start_sidecar
    proc = start()
    with Client(path) as c:
        j = c.journal(journal_id)
        j.append([Event(1, "before")])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        with pytest.raises(kjournal.JournalError) as e:  # lost or SHUTTING_DOWN, both retryable
            j.pointer()
        assert e.value.retryable
        with pytest.raises(kjournal.JournalConnectionError):  # nobody listening
            j.pointer()
        start()
        assert j.pointer() == 1  # the next call reconnected
        j.append([Event(2, "after")])
        assert [r.payload for r in j.read()] == ["before", "after"]


async def test_async_sidecar_restart_then_reconnect(
    start_sidecar: tuple[StartSidecar, str], journal_id: str
) -> None:
    start, path = start_sidecar
    proc = start()
    async with AsyncClient(path, read_window=2) as c:
        j = c.journal(journal_id)
        await j.append([Event(i, "before") for i in range(1, 101)])
        it = j.read().__aiter__()
        assert (await it.__anext__()).seq_nr == 1  # an open stream, waiting for its consumer
        proc.send_signal(signal.SIGTERM)
        with pytest.raises(kjournal.JournalError) as e:  # the stream ends: SHUTTING_DOWN or lost
            for _ in range(100):
                await it.__anext__()
        assert e.value.retryable
        await asyncio.get_running_loop().run_in_executor(None, proc.wait, 30)
        start()
        assert await j.pointer() == 100  # the next call reconnected
