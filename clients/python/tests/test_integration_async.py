"""The asyncio client against the real sidecar on real Kafka and Cassandra ($KJOURNAL_SOCKET)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

import pytest

import kjournal
from kjournal import MAX_SEQ_NR, AsyncClient, Event, PartitionOffset


async def test_every_operation(aclient: AsyncClient, journal_id: str) -> None:
    await aclient.ping()
    j = aclient.journal(journal_id)
    assert await j.pointer() is None
    po = await j.append(
        [Event(1, {"a": 1}), Event(2, b"\x01", tags={"t"}), Event(3, "x")],
        expire_after=timedelta(hours=1),
        metadata={"m": True},
        headers={"h": "v"},
    )
    assert isinstance(po, PartitionOffset)
    stream = j.read()
    records = [r async for r in stream]
    assert [r.event for r in records] == [Event(1, {"a": 1}), Event(2, b"\x01", {"t"}), Event(3, "x")]
    assert stream.highest_seq_nr == 3
    assert all((r.partition, r.offset) == po and r.timestamp.tzinfo for r in records)
    assert records[0].metadata == {"m": True} and records[0].headers == {"h": "v"}
    assert records[0].expire_after == timedelta(hours=1)
    assert await j.pointer() == 3
    assert await j.delete(1) is not None
    assert [r.seq_nr async for r in j.read()] == [2, 3]
    assert await j.delete(MAX_SEQ_NR) is not None
    stream = j.read()
    assert [r async for r in stream] == [] and stream.highest_seq_nr == 3
    assert isinstance(await j.purge(), PartitionOffset)
    assert await j.pointer() is None
    assert await aclient.journal(journal_id + "-never").delete(5) is None


async def test_read_bounds(aclient: AsyncClient, journal_id: str) -> None:
    j = aclient.journal(journal_id)
    await j.append([Event(i) for i in range(1, 11)])
    assert [r.seq_nr async for r in j.read(3, 6)] == [3, 4, 5, 6]
    assert [r.seq_nr async for r in j.read(3, max_count=2)] == [3, 4]
    stream = j.read(max_count=0)
    assert [r async for r in stream] == [] and stream.highest_seq_nr == 10


async def test_100_coroutines_append_to_different_journals(aclient: AsyncClient) -> None:
    ids = [f"py-{uuid.uuid4().hex}" for _ in range(100)]

    async def write(jid: str) -> PartitionOffset:
        j = aclient.journal(jid)
        await j.append([Event(1, jid)])
        return await j.append([Event(2, {"id": jid}), Event(3, jid.encode())])

    t0 = time.monotonic()
    results = await asyncio.wait_for(asyncio.gather(*(write(jid) for jid in ids)), 60)
    elapsed = time.monotonic() - t0
    assert all(isinstance(r, PartitionOffset) for r in results)

    async def check(jid: str) -> None:
        j = aclient.journal(jid)
        stream = j.read()
        assert [r.payload async for r in stream] == [jid, {"id": jid}, jid.encode()]
        assert stream.highest_seq_nr == 3

    await asyncio.wait_for(asyncio.gather(*(check(jid) for jid in ids)), 60)
    conn = aclient._conn
    assert conn is not None and conn._session.in_flight == 0
    print(f"100 coroutines x 2 appends in {elapsed:.3f}s on one connection")


async def test_concurrent_reads_do_not_block_each_other(aclient: AsyncClient, journal_id: str) -> None:
    """A stalled stream (consumer not reading) holds up nothing else on the connection."""
    j = aclient.journal(journal_id)
    await j.append([Event(i) for i in range(1, 1001)])
    stalled = j.read()
    it = stalled.__aiter__()
    assert (await it.__anext__()).seq_nr == 1  # the stream is open, its consumer stops here
    other = aclient.journal(journal_id + "-b")
    await other.append([Event(1, "b")])
    assert [r.payload async for r in other.read()] == ["b"]
    assert await j.pointer() == 1000
    await stalled.aclose()


async def test_early_exit_cancels(aclient: AsyncClient, journal_id: str) -> None:
    j = aclient.journal(journal_id)
    await j.append([Event(i) for i in range(1, 601)])
    got = []
    async for r in j.read():
        got.append(r.seq_nr)
        if len(got) == 3:
            break
    assert got == [1, 2, 3]
    conn = aclient._conn
    assert conn is not None
    for _ in range(100):
        if conn._session.in_flight == 0:
            break
        await asyncio.sleep(0.05)
    assert conn._session.in_flight == 0, "the abandoned read is still in flight"
    async with j.read(599) as stream:
        assert [r.seq_nr async for r in stream] == [599, 600]


async def test_task_cancellation_mid_read(aclient: AsyncClient, journal_id: str) -> None:
    j = aclient.journal(journal_id)
    await j.append([Event(i) for i in range(1, 301)])
    first = asyncio.Event()

    async def consume() -> None:
        async for r in j.read():
            first.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(consume())
    await first.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await j.pointer() == 300


async def test_bad_arguments_rejected_before_sending(aclient: AsyncClient, journal_id: str) -> None:
    j = aclient.journal(journal_id)
    with pytest.raises(ValueError):
        await j.append([])
    with pytest.raises(TypeError):
        await j.append([Event(1, {"x": object()}, payload_type="json")])
    with pytest.raises(ValueError):
        await j.delete(MAX_SEQ_NR + 1)
    with pytest.raises(ValueError):
        j.read(from_seq_nr=0)
    assert await j.pointer() is None  # nothing was written


async def test_connection_is_reused(socket_path: str) -> None:
    async with AsyncClient(socket_path) as c:
        conn = c._conn
        for _ in range(10):
            await c.ping()
        assert c._conn is conn
    with pytest.raises(kjournal.JournalConnectionError, match="closed"):
        await c.ping()
