"""The blocking client against the real sidecar on real Kafka and Cassandra ($KJOURNAL_SOCKET).

Every operation, payload kinds and record fields, deletes and purges, long and early-exited
reads, many threads on one client.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest

import kjournal
from kjournal import MAX_SEQ_NR, Client, Event, PartitionOffset


def test_hello(client: Client) -> None:
    info = client.server_info
    assert info is not None and info.version == 1
    assert info.max_frame_bytes > 0 and info.max_in_flight > 0 and info.default_topic
    client.ping()


def test_append_read_pointer(client: Client, journal_id: str) -> None:
    j = client.journal(journal_id)
    before = datetime.now(timezone.utc) - timedelta(minutes=1)
    po = j.append([Event(1, {"a": 1}), Event(2, b"\x00\xff", tags={"t", "u"}), Event(3, "three")])
    assert isinstance(po, PartitionOffset) and po.partition >= 0 and po.offset >= 0
    stream = j.read()
    records = list(stream)
    assert [r.seq_nr for r in records] == [1, 2, 3]
    assert stream.highest_seq_nr == 3
    assert [(r.payload, r.payload_type) for r in records] == [
        ({"a": 1}, "json"),
        (b"\x00\xff", "binary"),
        ("three", "text"),
    ]
    assert records[1].tags == frozenset({"t", "u"}) and records[0].tags == frozenset()
    for r in records:
        assert (r.partition, r.offset) == po  # appended together: one record
        assert r.timestamp.tzinfo is not None
        assert before < r.timestamp < datetime.now(timezone.utc) + timedelta(minutes=1)
        assert r.metadata is None and r.expire_after is None and r.payload_metadata is None
        assert r.headers == {}
    assert j.pointer() == 3


def test_every_payload_kind_round_trips(client: Client, journal_id: str) -> None:
    j = client.journal(journal_id)
    events = [
        Event(1),
        Event(2, b""),
        Event(3, b"\x00" * 1000),
        Event(4, ""),
        Event(5, "héllo ✓"),
        Event(6, "a JSON string", payload_type="json"),
        Event(7, None, payload_type="json"),
        Event(8, [1, "x", None, True, 2.5, {"k": [{}]}]),
        Event(9, {"big": 2**64 - 1, "small": -(2**63), "f": -0.25}),
        Event(10, 0),
        Event(11, False),
    ]
    j.append(events)
    got = list(j.read())
    assert [r.event for r in got] == events
    for r, e in zip(got, events):
        assert type(r.payload) is type(e.payload), r


def test_metadata_headers_expire_after(client: Client, journal_id: str) -> None:
    j = client.journal(journal_id)
    j.append(
        [Event(1, "x"), Event(2, "y")],
        expire_after=timedelta(days=1),
        metadata={"trace": "abc", "n": [1, 2]},
        payload_metadata={"schema": 2},
        headers={"h1": "v1", "content-type": "text/plain"},
    )
    for r in j.read():
        assert r.metadata == {"trace": "abc", "n": [1, 2]}
        assert r.payload_metadata == {"schema": 2}
        assert r.expire_after == timedelta(days=1)
        assert r.headers == {"h1": "v1", "content-type": "text/plain"}
        assert r.origin is None or isinstance(r.origin, str)
        assert r.version is None or isinstance(r.version, str)


def test_seq_nr_extremes(client: Client, journal_id: str) -> None:
    j = client.journal(journal_id)
    j.append([Event(1, "first"), Event(MAX_SEQ_NR, "last")])
    stream = j.read(from_seq_nr=2)
    assert [r.seq_nr for r in stream] == [MAX_SEQ_NR]
    assert stream.highest_seq_nr == MAX_SEQ_NR
    assert j.pointer() == MAX_SEQ_NR


def test_explicit_default_topic(client: Client, journal_id: str) -> None:
    info = client.server_info
    assert info is not None
    j = client.journal(journal_id, topic=info.default_topic)
    j.append([Event(1, "x")])
    assert client.journal(journal_id).pointer() == 1  # the same journal


def test_journal_that_never_existed(client: Client, journal_id: str) -> None:
    j = client.journal(journal_id)
    assert j.pointer() is None
    stream = j.read()
    assert list(stream) == [] and stream.highest_seq_nr is None
    assert j.delete(10) is None  # nothing to delete: nothing written


def test_delete(client: Client, journal_id: str) -> None:
    j = client.journal(journal_id)
    j.append([Event(i, f"e{i}") for i in range(1, 6)])
    po = j.delete(2)
    assert isinstance(po, PartitionOffset)
    stream = j.read()
    assert [r.seq_nr for r in stream] == [3, 4, 5] and stream.highest_seq_nr == 5
    assert j.delete(MAX_SEQ_NR) is not None  # clamped to 5
    stream = j.read()
    assert list(stream) == [] and stream.highest_seq_nr == 5
    assert j.pointer() == 5
    j.append([Event(6, "after")])  # the journal stays usable
    assert [r.seq_nr for r in j.read()] == [6]


def test_purge(client: Client, journal_id: str) -> None:
    j = client.journal(journal_id)
    j.append([Event(1, "a"), Event(2, "b")])
    po = j.purge()
    assert isinstance(po, PartitionOffset)
    assert j.pointer() is None
    stream = j.read()
    assert list(stream) == [] and stream.highest_seq_nr is None
    j.append([Event(1, "again")])  # starts anew
    assert [(r.seq_nr, r.payload) for r in j.read()] == [(1, "again")]


def test_long_read_across_many_frames(socket_path: str, journal_id: str) -> None:
    with Client(socket_path, read_window=7) as c:  # a small window: many credit grants
        j = c.journal(journal_id)
        for b in range(10):
            j.append([Event(b * 100 + i, {"i": b * 100 + i}) for i in range(1, 101)])
        stream = j.read()
        seq = [r.seq_nr for r in stream]
        assert seq == list(range(1, 1001)) and stream.highest_seq_nr == 1000
        assert [r.seq_nr for r in j.read(from_seq_nr=990, max_count=5)] == list(range(990, 995))


def test_early_exit_cancels_the_read(client: Client, journal_id: str) -> None:
    j = client.journal(journal_id)
    j.append([Event(i) for i in range(1, 601)])
    got = []
    for r in j.read():
        got.append(r.seq_nr)
        if len(got) == 5:
            break
    assert got == [1, 2, 3, 4, 5]
    # The stream is cancelled: its slot frees once the sidecar's CANCELLED is read, which the
    # next call's thread does (there is no reader thread).
    conn = client._conn
    assert conn is not None
    for _ in range(100):
        client.ping()
        if conn._session.in_flight == 0:
            break
        threading.Event().wait(0.05)
    assert conn._session.in_flight == 0, "the cancelled read is still in flight"
    with j.read(from_seq_nr=598) as stream:  # and the connection goes on
        assert [r.seq_nr for r in stream] == [598, 599, 600]


def test_exception_inside_the_loop_cancels(client: Client, journal_id: str) -> None:
    j = client.journal(journal_id)
    j.append([Event(i) for i in range(1, 301)])
    with pytest.raises(ZeroDivisionError):
        for r in j.read():
            if r.seq_nr == 3:
                1 / 0
    assert j.pointer() == 300


def test_threads_share_one_client(client: Client) -> None:
    ids = [f"py-{uuid.uuid4().hex}" for _ in range(20)]
    errors: list[BaseException] = []

    def work(jid: str) -> None:
        try:
            j = client.journal(jid)
            for n in range(1, 4):
                j.append([Event(n, jid)])
            assert [r.payload for r in j.read()] == [jid] * 3
            assert j.pointer() == 3
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(jid,)) for jid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[0]


def test_read_timeout_per_call(client: Client, journal_id: str) -> None:
    j = client.journal(journal_id)
    j.append([Event(1)])
    assert [r.seq_nr for r in j.read(timeout=timedelta(seconds=10))] == [1]
    assert j.pointer(timeout=10) == 1


TOO_LARGE_FOR_KAFKA = b"\x00" * (2 * 1024 * 1024)  # under max_frame_bytes, over Kafka's 1 MiB default


def test_sidecar_errors_are_journal_errors(client: Client, journal_id: str) -> None:
    """A request the client cannot check (a record too large for Kafka) fails with a coded error,
    and the connection goes on."""
    with pytest.raises(kjournal.JournalError) as e:
        client.journal(journal_id).append([Event(1, TOO_LARGE_FOR_KAFKA)])
    assert e.value.code is not None, e.value
    client.ping()
    assert client.journal(journal_id).pointer() is None


def test_record_too_large(client: Client, journal_id: str) -> None:
    with pytest.raises(kjournal.RecordTooLargeError) as e:
        client.journal(journal_id).append([Event(1, TOO_LARGE_FOR_KAFKA)])
    assert e.value.retryable is False


def test_slow_consumer_does_not_time_out(socket_path: str, journal_id: str) -> None:
    """The deadline covers the sidecar's work, never the consumer's pace (nor the client's)."""
    with Client(socket_path, timeout=0.5, read_window=2) as c:
        j = c.journal(journal_id)
        j.append([Event(i) for i in range(1, 5)])
        got = []
        for r in j.read():
            got.append(r.seq_nr)
            threading.Event().wait(0.8)  # slower than timeout + nothing else going on
        assert got == [1, 2, 3, 4]


def test_tiny_deadline(client: Client, journal_id: str) -> None:
    """A deadline too short for a Mark round trip fails retryably (or the sidecar was quick)."""
    j = client.journal(journal_id)
    j.append([Event(1)])
    try:
        assert j.pointer(timeout=0.001) == 1
    except (kjournal.JournalTimeoutError, kjournal.MarkerTimeoutError) as e:
        assert e.retryable
    assert j.pointer() == 1


def test_threads_share_a_client_with_appends_and_streams(socket_path: str, journal_id: str) -> None:
    """Several threads on one Client, each appending and reading a stream with a small credit
    window: whichever thread reads the socket hands every other thread its replies and events."""
    errors: list[BaseException] = []
    with Client(socket_path, read_window=3) as c:

        def work(t: int) -> None:
            try:
                j = c.journal(f"{journal_id}-{t}")
                for seq in range(1, 41, 4):
                    j.append([Event(s, {"t": t, "s": s}) for s in range(seq, seq + 4)])
                for _ in range(3):
                    stream = j.read()
                    assert [r.payload for r in stream] == [{"t": t, "s": s} for s in range(1, 41)]
                    assert stream.highest_seq_nr == 40
                assert j.pointer() == 40
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        assert not errors, errors
        assert not any(th.is_alive() for th in threads)
