"""subscribe and subscribe_all, blocking and asyncio, against the real sidecar ($KJOURNAL_SOCKET)."""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest

import kjournal
from kjournal import AsyncClient, Client, Event


def test_subscribe_catches_up_then_follows(client: Client, journal_id: str) -> None:
    j = client.journal(journal_id)
    j.append([Event(s, f"e{s}") for s in range(1, 6)])
    got: list[int] = []
    with j.subscribe(from_seq_nr=2) as sub:
        for r in sub:
            got.append(r.seq_nr)
            if r.seq_nr == 5:
                # Append from another thread while the subscriber waits for live events.
                threading.Thread(target=lambda: j.append([Event(6, "e6"), Event(7, "e7")])).start()
            if r.seq_nr == 7:
                break
    assert got == [2, 3, 4, 5, 6, 7]
    # Leaving the loop cancelled the subscription: the client is usable and the id slot is free.
    client.ping()
    assert [r.seq_nr for r in j.read(from_seq_nr=7)] == [7]


def test_subscribe_ends_when_purged(client: Client, journal_id: str) -> None:
    j = client.journal(journal_id)
    j.append([Event(1)])
    sub = j.subscribe()
    it = iter(sub)
    assert next(it).seq_nr == 1
    j.purge()
    with pytest.raises(kjournal.JournalPurgedError) as e:
        next(it)
    assert e.value.code == kjournal.ErrorCode.JOURNAL_PURGED and not e.value.retryable


def test_subscribe_all_positions_resume(client: Client) -> None:
    topic = "sub_" + uuid.uuid4().hex[:12]
    for i in range(4):
        client.journal(f"j{i}", topic).append([Event(1, i), Event(2, i)])
    seen: list[kjournal.TopicEventRecord] = []
    for r in client.subscribe_all(topic):
        seen.append(r)
        if len(seen) == 8:
            break
    assert sorted((r.journal, r.seq_nr) for r in seen) == [(f"j{i}", s) for i in range(4) for s in (1, 2)]
    assert all(isinstance(r.position, kjournal.Position) and r.payload in range(4) for r in seen)
    # Resume after the first event of each partition seen: events appended together share an
    # offset, so the stored seq_nr tells where inside the record to continue.
    firsts: dict[int, kjournal.Position] = {}
    for r in seen:
        firsts.setdefault(r.partition, r.position)
    rest = [r for r in seen if r.position not in firsts.values()]
    resumed = []
    for r in client.subscribe_all(topic, after=firsts.values(), start="latest"):
        resumed.append(r)
        if len(resumed) == len(rest):
            break
    assert sorted(r.position for r in resumed) == sorted(r.position for r in rest)


async def test_async_subscribe_and_subscribe_all(aclient: AsyncClient, journal_id: str) -> None:
    topic = "suba_" + uuid.uuid4().hex[:12]
    j = aclient.journal(journal_id, topic)
    await j.append([Event(1, "a")])
    projection: list[tuple[str, int]] = []

    async def project() -> None:
        async for r in aclient.subscribe_all(topic, start="earliest"):
            projection.append((r.journal, r.seq_nr))
            if len(projection) == 3:
                return

    task = asyncio.create_task(project())
    got = []
    async for r in j.subscribe():
        got.append(r.seq_nr)
        if r.seq_nr == 1:
            await j.append([Event(2, "b"), Event(3, "c")])
        if r.seq_nr == 3:
            break
    assert got == [1, 2, 3]
    await asyncio.wait_for(task, 20)
    assert projection == [(journal_id, 1), (journal_id, 2), (journal_id, 3)]
    await aclient.ping()
