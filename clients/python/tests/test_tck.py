"""The Akka/Pekko persistence TCK replay scenarios (shared/research/tck.md §1.2, §1.3) against the
real sidecar, through both clients.

Mapping: WriteMessages → append; ReplayMessages(from, to, max) → read(from, to, max) with
RecoverySuccess(highest) → ``stream.highest_seq_nr``; DeleteMessagesTo → delete. The TCK's
``Long.MaxValue`` is 2^63−1. Where the TCK passes ``from = 0`` (cases 11 and 12), the protocol's
seq_nrs start at 1, so the adapter passes 1 (a plugin would map 0 to 1 the same way); case 12,
"retrieve highest sequenceNr without replaying events", is ``read(max_count=0)``. RecoverySuccess(0)
of a journal never written is ``highest_seq_nr is None``.

Fixture (every case): events 1..5 with payloads "a-1".."a-5" written as the TCK does with
atomic writes — (1), (2), (3), (4, 5) — on a fresh journal id.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any, Protocol

import pytest

from kjournal import MAX_SEQ_NR, AsyncClient, Client, Event, PartitionOffset

MAX = MAX_SEQ_NR


class Journal(Protocol):
    def append(self, events: list[Event], **kw: Any) -> PartitionOffset: ...
    def replay(self, frm: int, to: int, mx: int) -> tuple[list[int], list[Any], int | None]: ...
    def delete(self, to: int) -> PartitionOffset | None: ...
    def replay_records(self, frm: int, to: int, mx: int) -> list[Any]: ...


class SyncAdapter:
    def __init__(self, client: Client, id: str) -> None:
        self.j = client.journal(id)

    def append(self, events: list[Event], **kw: Any) -> PartitionOffset:
        return self.j.append(events, **kw)

    def replay_records(self, frm: int, to: int, mx: int) -> list[Any]:
        return list(self.j.read(frm, to, mx))

    def replay(self, frm: int, to: int, mx: int) -> tuple[list[int], list[Any], int | None]:
        stream = self.j.read(frm, to, mx)
        records = list(stream)
        return [r.seq_nr for r in records], [r.payload for r in records], stream.highest_seq_nr

    def delete(self, to: int) -> PartitionOffset | None:
        return self.j.delete(to)


class AsyncAdapter:
    """The asyncio client driven from a plain test through a private event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, client: AsyncClient, id: str) -> None:
        self.loop = loop
        self.j = client.journal(id)

    def append(self, events: list[Event], **kw: Any) -> PartitionOffset:
        return self.loop.run_until_complete(self.j.append(events, **kw))

    def replay_records(self, frm: int, to: int, mx: int) -> list[Any]:
        async def go() -> list[Any]:
            return [r async for r in self.j.read(frm, to, mx)]

        return self.loop.run_until_complete(go())

    def replay(self, frm: int, to: int, mx: int) -> tuple[list[int], list[Any], int | None]:
        async def go() -> tuple[list[int], list[Any], int | None]:
            stream = self.j.read(frm, to, mx)
            records = [r async for r in stream]
            return [r.seq_nr for r in records], [r.payload for r in records], stream.highest_seq_nr

        return self.loop.run_until_complete(go())

    def delete(self, to: int) -> PartitionOffset | None:
        return self.loop.run_until_complete(self.j.delete(to))


@pytest.fixture(params=["sync", "async"])
def journal_factory(request: pytest.FixtureRequest, socket_path: str) -> Iterator[Any]:
    if request.param == "sync":
        with Client(socket_path, timeout=20) as c:
            yield lambda id: SyncAdapter(c, id)
        return
    loop = asyncio.new_event_loop()
    ac = AsyncClient(socket_path, timeout=20)
    try:
        loop.run_until_complete(ac.connect())
        yield lambda id: AsyncAdapter(loop, ac, id)
    finally:
        loop.run_until_complete(ac.close())
        loop.close()


def payloads(*seq: int) -> list[bytes]:
    return [f"a-{n}".encode() for n in seq]


@pytest.fixture
def pid(journal_factory: Any) -> Journal:
    """A fresh persistence id with events 1..5 written as AtomicWrite(1), (2), (3), (4, 5)."""
    j: Journal = journal_factory(f"p-{uuid.uuid4().hex}")
    acks = [j.append([Event(n, f"a-{n}".encode()) for n in batch]) for batch in ([1], [2], [3], [4, 5])]
    # WriteMessageSuccess for each, in order: later writes land at later offsets (one partition).
    assert len({a.partition for a in acks}) == 1
    assert [a.offset for a in acks] == sorted(a.offset for a in acks)
    return j


REPLAY_CASES = [
    ("replay all messages", 1, MAX, MAX, [1, 2, 3, 4, 5]),
    ("replay messages using a lower sequence number bound", 3, MAX, MAX, [3, 4, 5]),
    ("replay messages using an upper sequence number bound", 1, 3, MAX, [1, 2, 3]),
    ("replay messages using a count limit", 1, MAX, 3, [1, 2, 3]),
    ("replay messages using a lower and upper sequence number bound", 2, 3, MAX, [2, 3]),
    (
        "replay messages using a lower and upper sequence number bound and a count limit",
        2, 5, 2, [2, 3],
    ),  # fmt: skip
    ("replay a single if lower sequence number bound equals upper sequence number bound", 2, 2, MAX, [2]),
    ("replay a single message if count limit equals 1", 2, 4, 1, [2]),
    ("not replay messages if count limit equals 0", 2, 4, 0, []),
    (
        "not replay messages if lower sequence number bound is greater than upper sequence number bound",
        3, 2, MAX, [],
    ),  # fmt: skip
    ("retrieve highest sequenceNr without replaying events (from 0 → 1, to 0 → max 0)", 1, MAX, 0, []),
]


@pytest.mark.parametrize(("name", "frm", "to", "mx", "want"), REPLAY_CASES, ids=[c[0] for c in REPLAY_CASES])
def test_replay(pid: Journal, name: str, frm: int, to: int, mx: int, want: list[int]) -> None:
    seq, pl, highest = pid.replay(frm, to, mx)
    assert seq == want
    assert pl == payloads(*want)
    assert highest == 5  # RecoverySuccess(5): the stored highest, not the bound


def test_not_replay_messages_if_the_persistent_actor_has_not_yet_written_messages(
    journal_factory: Any,
) -> None:
    j = journal_factory("non-existing-pid-" + uuid.uuid4().hex)
    assert j.replay(1, MAX, MAX) == ([], [], None)  # RecoverySuccess(0)


def test_not_replay_permanently_deleted_messages_range_deletion(pid: Journal) -> None:
    assert isinstance(pid.delete(3), PartitionOffset)  # DeleteMessagesSuccess(3)
    assert pid.replay(1, MAX, MAX) == ([4, 5], payloads(4, 5), 5)


def test_not_reset_highest_sequence_nr_after_message_deletion(pid: Journal) -> None:
    assert pid.replay(1, MAX, MAX) == ([1, 2, 3, 4, 5], payloads(1, 2, 3, 4, 5), 5)
    assert pid.delete(3) is not None
    assert pid.replay(1, MAX, MAX) == ([4, 5], payloads(4, 5), 5)


def test_not_reset_highest_sequence_nr_after_journal_cleanup(pid: Journal) -> None:
    assert pid.replay(1, MAX, MAX)[2] == 5
    assert pid.delete(MAX) is not None  # DeleteMessagesSuccess(Long.MaxValue)
    assert pid.replay(1, MAX, MAX) == ([], [], 5)  # the highest survives deleting everything


# Pekko's additions: all start from DeleteMessagesTo(pid, 3).
PEKKO_CASES = [
    ("replay all surviving messages when the lower bound equals the last deleted sequence number", 3, MAX, MAX, [4, 5]),
    ("return only recovery success when the upper bound falls within a deleted prefix", 1, 2, MAX, []),
    ("return only recovery success when the upper bound equals the last deleted sequence number", 1, 3, MAX, []),
    ("replay from the first surviving message when the lower bound equals the first surviving sequence number", 4, MAX, MAX, [4, 5]),
    ("(optional) replay surviving messages within bounds when the replay window spans a deleted prefix", 1, 4, MAX, [4]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "frm", "to", "mx", "want"), PEKKO_CASES, ids=[c[0] for c in PEKKO_CASES])
def test_pekko_after_delete(pid: Journal, name: str, frm: int, to: int, mx: int, want: list[int]) -> None:
    assert pid.delete(3) is not None
    seq, pl, highest = pid.replay(frm, to, mx)
    assert (seq, pl, highest) == (want, payloads(*want), 5)


def test_optional_return_metadata(pid: Journal) -> None:
    pid.append([Event(6, b"a-6")], metadata="meta-data")
    (rec,) = pid.replay_records(6, 6, 1)
    assert (rec.seq_nr, rec.metadata) == (6, "meta-data")
    assert pid.replay(6, 6, 1)[2] == 6


def test_optional_serialize_events(pid: Journal) -> None:
    """supportsSerialization, ported as 'opaque bytes plus a manifest round-trip'."""
    payload = bytes(range(256))
    pid.append([Event(6, payload, tags={"manifest:TestPayload"})], payload_metadata={"manifest": "TestPayload"})
    (rec,) = pid.replay_records(6, MAX, MAX)
    assert (rec.payload, rec.payload_type, rec.tags) == (payload, "binary", frozenset({"manifest:TestPayload"}))
    assert rec.payload_metadata == {"manifest": "TestPayload"}
