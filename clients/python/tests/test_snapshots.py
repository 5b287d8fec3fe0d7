"""The Akka/Pekko persistence TCK's SnapshotStoreSpec (shared/research/tck.md §1.4) against the real
sidecar, and recover() and conditional appends through both clients.

Mapping: SaveSnapshot(SnapshotMetadata(pid, seqNr, ts), s) → ``save_snapshot(seq_nr, s,
timestamp=ts)`` (the returned timestamp is ``metadata(i).timestamp``); LoadSnapshot(pid, criteria,
toSequenceNr) → ``load_snapshot(max_seq_nr=min(criteria.maxSequenceNr, toSequenceNr),
max_timestamp=criteria.maxTimestamp)``; DeleteSnapshot(md) → ``delete_snapshots(seq_nr=md.seqNr)``
(its timestamp ignored); DeleteSnapshots(pid, criteria) → ``delete_snapshots(max_seq_nr=...,
max_timestamp=...)``.

Fixture (every case): snapshots "s-1".."s-5" at seq_nrs 11..15 of a fresh journal id.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest

import kjournal
from kjournal import Client, Event, WrongExpectedSeqNrError

MAX = kjournal.MAX_SEQ_NR


@pytest.fixture
def pid(client: Client) -> tuple[kjournal.Journal, list[datetime]]:
    j = client.journal(f"py-snap-{uuid.uuid4().hex}")
    base = datetime.now(timezone.utc).replace(microsecond=0)
    ts = [j.save_snapshot(10 + i, f"s-{i}", timestamp=base + timedelta(milliseconds=i)) for i in range(1, 6)]
    return j, ts


def test_not_load_a_snapshot_given_an_invalid_persistence_id(client: Client) -> None:
    assert client.journal(f"py-invalid-{uuid.uuid4().hex}").load_snapshot() is None


def test_not_load_a_snapshot_given_non_matching_timestamp_criteria(pid: tuple[kjournal.Journal, list[datetime]]) -> None:
    j, _ = pid
    assert j.load_snapshot(max_timestamp=100) is None


def test_not_load_a_snapshot_given_non_matching_sequence_number_criteria(
    pid: tuple[kjournal.Journal, list[datetime]],
) -> None:
    j, _ = pid
    assert j.load_snapshot(max_seq_nr=7) is None


def test_load_the_most_recent_snapshot(pid: tuple[kjournal.Journal, list[datetime]]) -> None:
    j, ts = pid
    s = j.load_snapshot()
    assert s is not None
    assert (s.seq_nr, s.payload, s.payload_type, s.timestamp) == (15, "s-5", "text", ts[4])
    assert s.origin and s.version


def test_load_the_most_recent_snapshot_matching_an_upper_sequence_number_bound(
    pid: tuple[kjournal.Journal, list[datetime]],
) -> None:
    j, _ = pid
    s = j.load_snapshot(max_seq_nr=13)
    assert s is not None and (s.seq_nr, s.payload) == (13, "s-3")


def test_load_the_most_recent_snapshot_matching_upper_sequence_number_and_timestamp_bounds(
    pid: tuple[kjournal.Journal, list[datetime]],
) -> None:
    j, ts = pid
    s = j.load_snapshot(max_seq_nr=13, max_timestamp=ts[2])
    assert s is not None and (s.seq_nr, s.payload) == (13, "s-3")
    s = j.load_snapshot(max_timestamp=ts[2])
    assert s is not None and (s.seq_nr, s.payload) == (13, "s-3")


def test_delete_a_single_snapshot_identified_by_sequence_nr(pid: tuple[kjournal.Journal, list[datetime]]) -> None:
    j, _ = pid
    assert j.delete_snapshots(seq_nr=13) == 1
    s = j.load_snapshot(max_seq_nr=13)
    assert s is not None and (s.seq_nr, s.payload) == (12, "s-2")


def test_delete_all_snapshots_matching_upper_sequence_number_and_timestamp_bounds(
    pid: tuple[kjournal.Journal, list[datetime]],
) -> None:
    j, ts = pid
    assert j.delete_snapshots(max_seq_nr=13, max_timestamp=ts[2]) == 3
    assert j.load_snapshot(max_seq_nr=13, max_timestamp=ts[2]) is None
    s = j.load_snapshot(max_seq_nr=14, max_timestamp=ts[3])
    assert s is not None and (s.seq_nr, s.payload) == (14, "s-4")


def test_not_delete_snapshots_with_non_matching_upper_timestamp_bounds(
    pid: tuple[kjournal.Journal, list[datetime]],
) -> None:
    j, ts = pid
    j.delete_snapshots(max_seq_nr=14, max_timestamp=ts[3] - timedelta(milliseconds=1))
    s = j.load_snapshot(max_seq_nr=14, max_timestamp=ts[3])
    assert s is not None and (s.seq_nr, s.payload) == (14, "s-4")


def test_save_and_overwrite_snapshot_with_same_sequence_number(pid: tuple[kjournal.Journal, list[datetime]]) -> None:
    j, _ = pid
    j.save_snapshot(15, "s-5-modified")
    s = j.load_snapshot(max_seq_nr=15)
    assert s is not None and (s.seq_nr, s.payload) == (15, "s-5-modified")


def test_save_bigger_size_snapshot(pid: tuple[kjournal.Journal, list[datetime]]) -> None:
    j, _ = pid
    j.save_snapshot(100, "0" * 10000)
    s = j.load_snapshot()
    assert s is not None and s.seq_nr == 100 and s.payload == "0" * 10000


def test_serialize_snapshots_and_store_metadata(pid: tuple[kjournal.Journal, list[datetime]]) -> None:
    j, _ = pid
    j.save_snapshot(100, b"\x00\x01 test payload", metadata="fictional metadata")
    s = j.load_snapshot()
    assert s is not None
    assert (s.seq_nr, s.payload, s.payload_type, s.metadata) == (100, b"\x00\x01 test payload", "binary", "fictional metadata")


def test_recover(client: Client, journal_id: str) -> None:
    j = client.journal(journal_id)
    assert j.recover() == kjournal.Recovery(None, [], None)
    j.append([Event(n, {"n": n}) for n in range(1, 6)])
    j.save_snapshot(3, {"total": 6})
    r = j.recover()
    assert r.snapshot is not None and r.snapshot.payload == {"total": 6}
    assert [e.seq_nr for e in r.events] == [4, 5] and r.highest_seq_nr == 5
    r = j.recover(2)
    assert r.snapshot is None and [e.seq_nr for e in r.events] == [1, 2]


async def test_recover_async(aclient: kjournal.AsyncClient, journal_id: str) -> None:
    j = aclient.journal(journal_id)
    await j.append([Event(n) for n in range(1, 4)])
    await j.save_snapshot(2, "state", metadata={"v": 1})
    assert (await j.delete_snapshots(max_seq_nr=1)) == 0
    r = await j.recover()
    assert r.snapshot is not None and (r.snapshot.seq_nr, r.snapshot.metadata) == (2, {"v": 1})
    assert [e.seq_nr for e in r.events] == [3] and r.highest_seq_nr == 3
    with pytest.raises(WrongExpectedSeqNrError) as info:
        await j.append([Event(4)], expected_seq_nr=2)
    assert info.value.highest_seq_nr == 3


def test_expected_seq_nr(client: Client, journal_id: str) -> None:
    j = client.journal(journal_id)
    with pytest.raises(WrongExpectedSeqNrError) as info:
        j.append([Event(1)], expected_seq_nr=5)
    assert info.value.highest_seq_nr == 0 and not info.value.retryable
    j.append([Event(1)], expected_seq_nr=0)
    j.append([Event(2), Event(3)], expected_seq_nr=1)
    with pytest.raises(WrongExpectedSeqNrError) as info:
        j.append([Event(2)], expected_seq_nr=1)
    assert info.value.highest_seq_nr == 3


def test_expected_seq_nr_concurrent_writers(socket_path: str, journal_id: str) -> None:
    """Writers racing through one sidecar, each retrying from the highest seq_nr it is told: every
    success extends the journal by one, so it ends gapless, each seq_nr written once."""
    wins: list[int] = []
    lock = threading.Lock()

    def writer() -> None:
        with Client(socket_path, timeout=20) as c:
            j = c.journal(journal_id)
            expected = 0
            for _ in range(8):
                try:
                    j.append([Event(expected + 1)], expected_seq_nr=expected)
                    with lock:
                        wins.append(expected + 1)
                    expected += 1
                except WrongExpectedSeqNrError as e:
                    assert e.highest_seq_nr is not None
                    expected = e.highest_seq_nr

    threads = [threading.Thread(target=writer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == list(range(1, len(wins) + 1))
    with Client(socket_path, timeout=20) as c:
        stream = c.journal(journal_id).read()
        records = list(stream)
    assert [r.seq_nr for r in records] == sorted(wins)
    assert len({r.offset for r in records}) == len(records)
