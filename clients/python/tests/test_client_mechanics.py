"""Client mechanics against a scripted fake sidecar: multiplexing, credit and cancel on the wire,
lost connections and reconnecting, fatal connection errors, local deadlines, max_in_flight.
The journal semantics themselves are tested against the real sidecar (test_integration*.py)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import kjournal
from kjournal import AsyncClient, Client, Event, _common

from .fake_sidecar import FakeConn, FakeSidecar, serve_pings

MakeFake = Callable[..., FakeSidecar]


@pytest.fixture
def fake() -> Iterator[MakeFake]:
    made: list[FakeSidecar] = []
    tmp = Path(tempfile.mkdtemp(prefix="kj"))  # short: Unix socket paths are limited to ~100 bytes

    def make(*handlers: Callable[[FakeConn], None]) -> FakeSidecar:
        f = FakeSidecar(tmp / f"s{len(made)}.sock", *handlers)
        made.append(f)
        return f

    try:
        yield make
        for f in made:
            f.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def record(seq_nr: int) -> dict[str, Any]:
    return {
        "seq_nr": seq_nr, "tags": [], "payload": seq_nr, "payload_type": "json",
        "timestamp": 0, "partition": 0, "offset": seq_nr, "origin": None, "version": None,
        "metadata": None, "expire_after_ms": None, "payload_metadata": None, "headers": {},
    }  # fmt: skip


def ops(conn: FakeConn) -> list[str]:
    return [r["op"] for r in conn.received]


# -- multiplexing ---------------------------------------------------------------------------------


def answer_two_pings_reversed(conn: FakeConn) -> None:
    conn.hello()
    a, b = conn.recv(), conn.recv()
    assert a is not None and b is not None
    conn.send({"id": b["id"]})
    conn.send({"id": a["id"]})
    while conn.recv() is not None:
        pass


def test_replies_out_of_order_sync(fake: MakeFake) -> None:
    f = fake(answer_two_pings_reversed)
    with Client(f.path) as c:
        errors: list[BaseException] = []

        def ping() -> None:
            try:
                c.ping()
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=ping) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert not errors
    assert ops(f.conns[0]) == ["hello", "ping", "ping"]


async def test_replies_out_of_order_async(fake: MakeFake) -> None:
    f = fake(answer_two_pings_reversed)
    async with AsyncClient(f.path) as c:
        await asyncio.wait_for(asyncio.gather(c.ping(), c.ping()), 10)


def test_hello_first_with_versions_and_client_name(fake: MakeFake) -> None:
    f = fake(serve_pings)
    with Client(f.path) as c:
        info = c.server_info
        assert info is not None and info.server == "fake/0" and info.default_timeout.total_seconds() == 30
        c.ping()
    hello = f.conns[0].received[0]
    assert hello == {"id": 1, "op": "hello", "versions": [1], "client": kjournal.protocol.CLIENT_NAME}


# -- max_in_flight --------------------------------------------------------------------------------


def two_at_a_time(conn: FakeConn) -> None:
    conn.hello(max_in_flight=2)
    a, b = conn.recv(), conn.recv()
    assert a is not None and b is not None
    assert conn.recv(timeout=0.3) is None, "a third request was sent with 2 in flight"
    conn.send({"id": a["id"]})
    c = conn.recv()
    assert c is not None and c["op"] == "ping"
    conn.send({"id": b["id"]})
    conn.send({"id": c["id"]})
    while conn.recv() is not None:
        pass


def test_sync_client_waits_for_a_free_slot(fake: MakeFake) -> None:
    f = fake(two_at_a_time)
    with Client(f.path) as c:
        threads = [threading.Thread(target=c.ping) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    assert ops(f.conns[0]) == ["hello", "ping", "ping", "ping"]


async def test_async_client_waits_for_a_free_slot(fake: MakeFake) -> None:
    f = fake(two_at_a_time)
    async with AsyncClient(f.path) as c:
        await asyncio.wait_for(asyncio.gather(*(c.ping() for _ in range(3))), 10)


# -- read streams on the wire ----------------------------------------------------------------------


def stream_until_cancel(conn: FakeConn) -> None:
    """Serve one read: events as credit allows; CANCELLED on cancel; then pings."""
    conn.hello()
    req = conn.recv()
    assert req is not None and req["op"] == "read"
    rid, credit, seq = req["id"], req["credit"], 0
    while True:
        if credit:
            n = min(credit, 2)
            conn.send({"id": rid, "events": [record(seq + i + 1) for i in range(n)]})
            seq, credit = seq + n, credit - n
            continue
        msg = conn.recv()
        assert msg is not None
        if msg["op"] == "credit":
            assert msg["id"] == rid
            credit += msg["n"]
        elif msg["op"] == "cancel":
            assert msg["id"] == rid
            conn.error(rid, 302, "cancelled")
            break
        else:
            raise AssertionError(msg)
    serve_pings_after_hello(conn)


def serve_pings_after_hello(conn: FakeConn) -> None:
    while (req := conn.recv()) is not None:
        if req["op"] == "ping":
            conn.send({"id": req["id"]})


def test_read_grants_credit_as_consumed_and_cancels_on_break(fake: MakeFake) -> None:
    f = fake(stream_until_cancel)
    with Client(f.path, read_window=4) as c:
        got = []
        for r in c.journal("j").read():
            got.append(r.seq_nr)
            if len(got) == 7:
                break
        c.ping()  # the connection is fine after the cancel
        assert got == list(range(1, 8))
    wire = f.conns[0].received
    assert wire[1]["credit"] == 4
    credits = [m["n"] for m in wire if m["op"] == "credit"]
    # Two events granted each time two were consumed; the sidecar never ran more than 4 ahead.
    assert credits == [2, 2, 2]
    assert ops(f.conns[0])[-2:] == ["cancel", "ping"]


async def test_async_read_cancels_on_break(fake: MakeFake) -> None:
    f = fake(stream_until_cancel)
    async with AsyncClient(f.path, read_window=4) as c:
        got = []
        async for r in c.journal("j").read():
            got.append(r.seq_nr)
            if len(got) == 3:
                break
        await asyncio.sleep(0.05)  # the event loop finalizes the abandoned iterator
        await c.ping()
        assert got == [1, 2, 3]
    assert ops(f.conns[0])[-2:] == ["cancel", "ping"]


async def test_async_read_aclose_cancels(fake: MakeFake) -> None:
    f = fake(stream_until_cancel)
    async with AsyncClient(f.path, read_window=4) as c:
        async with c.journal("j").read() as stream:
            async for r in stream:
                break
        await c.ping()
        assert not stream.finished
        with pytest.raises(RuntimeError):
            stream.highest_seq_nr
    assert ops(f.conns[0])[-2:] == ["cancel", "ping"]


def end_after_three(conn: FakeConn) -> None:
    conn.hello()
    while (req := conn.recv()) is not None:
        if req["op"] == "read":
            conn.send({"id": req["id"], "events": [record(1), record(2)]})
            conn.send({"id": req["id"], "events": [record(3)]})
            conn.send({"id": req["id"], "end": True, "highest_seq_nr": 10, "future_key": 1})


def test_read_to_the_end(fake: MakeFake) -> None:
    f = fake(end_after_three)
    with Client(f.path) as c:
        stream = c.journal("j").read()
        with pytest.raises(RuntimeError):
            stream.highest_seq_nr
        assert [r.seq_nr for r in stream] == [1, 2, 3]
        assert stream.finished and stream.highest_seq_nr == 10
        with pytest.raises(RuntimeError, match="once"):
            iter(stream)
        assert "cancel" not in ops(f.conns[0])


async def test_async_read_to_the_end(fake: MakeFake) -> None:
    f = fake(end_after_three)
    async with AsyncClient(f.path) as c:
        stream = c.journal("j").read()
        assert [r.seq_nr async for r in stream] == [1, 2, 3]
        assert stream.highest_seq_nr == 10


def test_read_is_lazy(fake: MakeFake) -> None:
    f = fake(end_after_three)
    with Client(f.path) as c:
        stream = c.journal("j").read()
        time.sleep(0.1)
        assert ops(f.conns[0]) == ["hello"]
        list(stream)
        assert ops(f.conns[0]) == ["hello", "read"]


# -- connection loss and fatal errors -------------------------------------------------------------


def drop_on_append(conn: FakeConn) -> None:
    conn.hello()
    req = conn.recv()
    assert req is not None and req["op"] == "append"


def test_connection_loss_raises_then_reconnects(fake: MakeFake) -> None:
    f = fake(drop_on_append, serve_pings)
    with Client(f.path) as c:
        with pytest.raises(kjournal.JournalConnectionError) as e:
            c.journal("j").append([Event(1)])
        assert e.value.code is None and e.value.retryable
        c.ping()
    assert len(f.conns) == 2


async def test_async_connection_loss_raises_then_reconnects(fake: MakeFake) -> None:
    f = fake(drop_on_append, serve_pings)
    async with AsyncClient(f.path) as c:
        with pytest.raises(kjournal.JournalConnectionError):
            await c.journal("j").append([Event(1)])
        await c.ping()
    assert len(f.conns) == 2


def drop_mid_stream(conn: FakeConn) -> None:
    conn.hello()
    req = conn.recv()
    assert req is not None
    conn.send({"id": req["id"], "events": [record(1)]})


def test_connection_loss_mid_read(fake: MakeFake) -> None:
    f = fake(drop_mid_stream, serve_pings)
    with Client(f.path) as c:
        got = []
        with pytest.raises(kjournal.JournalConnectionError):
            for r in c.journal("j").read():
                got.append(r.seq_nr)
        assert got == [1]
        c.ping()


def shutting_down(conn: FakeConn) -> None:
    conn.hello()
    req = conn.recv()
    assert req is not None
    conn.error(0, 304, "shutting down", retryable=True)


def test_fatal_connection_error_fails_requests_in_flight(fake: MakeFake) -> None:
    f = fake(shutting_down, serve_pings)
    with Client(f.path) as c:
        with pytest.raises(kjournal.ShuttingDownError) as e:
            c.ping()
        assert e.value.retryable
        c.ping()


async def test_async_fatal_connection_error(fake: MakeFake) -> None:
    f = fake(shutting_down, serve_pings)
    async with AsyncClient(f.path) as c:
        with pytest.raises(kjournal.ShuttingDownError):
            await c.ping()
        await c.ping()


def too_many_connections(conn: FakeConn) -> None:
    conn.error(0, 301, "full", retryable=True)


def test_too_many_connections(fake: MakeFake) -> None:
    f = fake(too_many_connections)
    with pytest.raises(kjournal.TooManyConnectionsError) as e:
        Client(f.path).connect()
    assert e.value.retryable


def unsupported_version(conn: FakeConn) -> None:
    req = conn.recv()
    assert req is not None
    conn.error(req["id"], 102, "speaks 7 only")


async def test_unsupported_version(fake: MakeFake) -> None:
    f = fake(unsupported_version)
    with pytest.raises(kjournal.UnsupportedVersionError):
        await AsyncClient(f.path).connect()


def garbage(conn: FakeConn) -> None:
    conn.hello()
    conn.recv()
    conn.send_raw(b"\x00\x00\x00\x01\xc1")
    conn.recv()


def test_unreadable_reply_is_a_connection_error(fake: MakeFake) -> None:
    f = fake(garbage, serve_pings)
    with Client(f.path) as c:
        with pytest.raises(kjournal.protocol.FrameError):
            c.ping()
        c.ping()


def unknown_code(conn: FakeConn) -> None:
    conn.hello()
    while (req := conn.recv()) is not None:
        conn.error(req["id"], 399, "from the future", retryable=True)


def test_unknown_error_code(fake: MakeFake) -> None:
    f = fake(unknown_code)
    with Client(f.path) as c:
        with pytest.raises(kjournal.FlowError) as e:
            c.ping()
        assert (e.value.code, e.value.retryable, e.value.code_name) == (399, True, None)


def test_connect_to_missing_socket(tmp_path: Path) -> None:
    with pytest.raises(kjournal.JournalConnectionError, match="cannot connect"):
        Client(tmp_path / "none.sock").connect()


# -- deadlines and closing ------------------------------------------------------------------------


def late_reply(conn: FakeConn) -> None:
    conn.hello()
    first = conn.recv()
    assert first is not None
    second = conn.recv()
    assert second is not None
    conn.send({"id": first["id"]})  # too late: dropped by the client
    conn.send({"id": second["id"]})
    while conn.recv() is not None:
        pass


def test_local_deadline(fake: MakeFake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_common, "LOCAL_TIMEOUT_MARGIN", 0.1)
    f = fake(late_reply)
    with Client(f.path, timeout=0.1) as c:
        t0 = time.monotonic()
        with pytest.raises(kjournal.JournalTimeoutError) as e:
            c.ping()
        assert 0.15 < time.monotonic() - t0 < 2 and e.value.retryable
        c.ping(timeout=5)
    assert f.conns[0].received[1]["timeout_ms"] == 100


async def test_async_local_deadline(fake: MakeFake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_common, "LOCAL_TIMEOUT_MARGIN", 0.1)
    f = fake(late_reply)
    async with AsyncClient(f.path, timeout=0.1) as c:
        with pytest.raises(kjournal.JournalTimeoutError):
            await c.ping()
        await c.ping(timeout=5)


def never_answer(conn: FakeConn) -> None:
    conn.hello()
    while conn.recv() is not None:
        pass


def test_close_fails_requests_in_flight(fake: MakeFake) -> None:
    f = fake(never_answer)
    c = Client(f.path)
    c.connect()
    errors: list[BaseException] = []

    def ping() -> None:
        try:
            c.ping()
        except BaseException as e:
            errors.append(e)

    t = threading.Thread(target=ping)
    t.start()
    time.sleep(0.2)
    c.close()
    t.join(5)
    assert len(errors) == 1 and isinstance(errors[0], kjournal.JournalConnectionError)
    with pytest.raises(kjournal.JournalConnectionError, match="closed"):
        c.ping()


async def test_async_caller_cancellation(fake: MakeFake) -> None:
    f = fake(late_reply)
    async with AsyncClient(f.path) as c:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(c.ping(), 0.2)
        await c.ping()


def test_async_client_follows_a_new_event_loop(fake: MakeFake) -> None:
    f = fake(serve_pings)
    c = AsyncClient(f.path)
    asyncio.run(c.ping())
    asyncio.run(c.ping())  # the first loop is closed: a new connection in the new loop
    asyncio.run(c.close())
    assert len(f.conns) == 2


async def test_async_client_refuses_a_second_running_loop(fake: MakeFake) -> None:
    f = fake(serve_pings)
    async with AsyncClient(f.path) as c:
        await c.ping()
        err: list[BaseException] = []

        def other_loop() -> None:
            try:
                asyncio.run(c.ping())
            except BaseException as e:
                err.append(e)

        t = threading.Thread(target=other_loop)
        t.start()
        t.join(5)
        assert len(err) == 1 and isinstance(err[0], RuntimeError)


def test_dropped_client_closes_its_connection(fake: MakeFake) -> None:
    import gc

    f = fake(serve_pings)
    c = Client(f.path)
    c.ping()
    sock = c._conn._sock  # type: ignore[union-attr]
    del c
    gc.collect()
    assert sock.fileno() == -1


def test_cancel_from_a_thread_already_writing_does_not_deadlock(fake: MakeFake) -> None:
    """A ReadStream finalized by the garbage collector may run its cleanup in a thread that is in
    the middle of writing a frame: the cancel is queued and sent after that frame."""
    f = fake(stream_until_cancel)
    with Client(f.path, read_window=4) as c:
        it = iter(c.journal("j").read())
        assert next(it).seq_nr == 1
        conn = c._conn
        assert conn is not None
        done = threading.Event()

        def cleanup_while_writing() -> None:
            with conn._wlock, conn._lock:  # as if the GC ran here, mid-write and mid-dispatch
                it.close()  # type: ignore[attr-defined]
            done.set()

        t = threading.Thread(target=cleanup_while_writing)
        t.start()
        assert done.wait(5), "deadlock"
        c.ping()  # sends the queued cancel first, then the ping
    assert ops(f.conns[0])[-2:] == ["cancel", "ping"]
