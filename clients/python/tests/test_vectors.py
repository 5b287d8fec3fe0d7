"""protocol/testdata/vectors.json against the sans-IO protocol module (no server needed).

For every frame: the decoder gives the documented meaning; replies parse to the right values;
requests built by our builders from that meaning are byte-identical to the canonical encoding.
Every invalid frame is rejected by the frame reader, and every invalid request is either
impossible to produce through the API or rejected client-side with ValueError/TypeError.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import kjournal
from kjournal import Client, Event, protocol
from kjournal._codes import ERRORS_BY_CODE
from kjournal.model import TopicEventRecord
from kjournal.protocol import (
    ConnectionNotice,
    FrameDecoder,
    FrameError,
    ReadEnd,
    ReadEvents,
    Reply,
    Session,
    TopicEvents,
)

from .conftest import VECTORS_PATH, assert_same, from_notation, load_json

VECTORS = load_json(VECTORS_PATH)
FRAMES = {v["name"]: v for v in VECTORS["vectors"]}
REQUESTS = [v for v in VECTORS["vectors"] if v["direction"] == "request"]
REPLIES = [v for v in VECTORS["vectors"] if v["direction"] == "reply"]


def split_frame(hex_frame: str) -> bytes:
    """The one body of a whole frame, through the frame reader."""
    dec = FrameDecoder()
    dec.feed(bytes.fromhex(hex_frame))
    body = dec.next_raw()
    assert body is not None, "incomplete frame"
    assert dec.buffered == 0, "bytes after the frame"
    return body


def ids(vs: list[dict[str, Any]]) -> list[str]:
    return [v["name"] for v in vs]


def test_vectors_cover_every_op_and_reply() -> None:
    ops = {v["op"] for v in REQUESTS}
    assert ops == {
        "hello", "append", "read", "credit", "cancel", "pointer", "delete", "purge", "ping",
        "subscribe", "subscribe_all", "save_snapshot", "load_snapshot", "delete_snapshots",
    }
    assert {v["op"] for v in REPLIES} >= {
        "hello", "append", "read", "pointer", "delete", "purge", "ping", "subscribe", "subscribe_all",
        "save_snapshot", "load_snapshot", "delete_snapshots",
    }


@pytest.mark.parametrize("v", VECTORS["vectors"], ids=ids(VECTORS["vectors"]))
def test_decode_body(v: dict[str, Any]) -> None:
    body = protocol.unpack_body(split_frame(v["hex"]))
    assert_same(body, from_notation(v["decoded"]))


def build_request(d: dict[str, Any]) -> dict[str, Any]:
    """Build a request from its meaning with the protocol module's builders."""
    op, id = d["op"], d["id"]
    if op == "hello":
        return protocol.hello_request(id, d["versions"], d.get("client"))
    if op == "append":
        events = [
            Event(e["seq_nr"], e.get("payload"), e.get("tags") or (), e.get("payload_type"))
            for e in d["events"]
        ]
        return protocol.append_request(
            id,
            d["journal"],
            events,
            topic=d.get("topic"),
            expire_after_ms=d.get("expire_after_ms"),
            metadata=d.get("metadata"),
            payload_metadata=d.get("payload_metadata"),
            headers=d.get("headers"),
            timeout_ms=d.get("timeout_ms"),
            expected_seq_nr=d.get("expected_seq_nr"),
        )
    if op == "read":
        return protocol.read_request(
            id,
            d["journal"],
            credit=d["credit"],
            topic=d.get("topic"),
            from_seq_nr=d.get("from"),
            to_seq_nr=d.get("to"),
            max_count=d.get("max"),
            timeout_ms=d.get("timeout_ms"),
        )
    if op == "credit":
        return protocol.credit_request(id, d["n"])
    if op == "cancel":
        return protocol.cancel_request(id)
    if op == "pointer":
        return protocol.pointer_request(id, d["journal"], topic=d.get("topic"), timeout_ms=d.get("timeout_ms"))
    if op == "delete":
        return protocol.delete_request(
            id, d["journal"], d["to"], topic=d.get("topic"), timeout_ms=d.get("timeout_ms")
        )
    if op == "purge":
        return protocol.purge_request(id, d["journal"], topic=d.get("topic"), timeout_ms=d.get("timeout_ms"))
    if op == "ping":
        return protocol.ping_request(id, timeout_ms=d.get("timeout_ms"))
    criteria = {
        "max_seq_nr": d.get("max_seq_nr"),
        "max_timestamp_ms": d.get("max_timestamp"),
        "min_seq_nr": d.get("min_seq_nr"),
        "min_timestamp_ms": d.get("min_timestamp"),
    }
    if op == "save_snapshot":
        return protocol.save_snapshot_request(
            id,
            d["journal"],
            d["seq_nr"],
            d.get("payload"),
            d.get("payload_type"),
            topic=d.get("topic"),
            metadata=d.get("metadata"),
            timestamp_ms=d.get("timestamp"),
            timeout_ms=d.get("timeout_ms"),
        )
    if op == "load_snapshot":
        return protocol.load_snapshot_request(
            id, d["journal"], topic=d.get("topic"), timeout_ms=d.get("timeout_ms"), **criteria
        )
    if op == "delete_snapshots":
        return protocol.delete_snapshots_request(
            id,
            d["journal"],
            topic=d.get("topic"),
            seq_nr=d.get("seq_nr"),
            timeout_ms=d.get("timeout_ms"),
            **criteria,
        )
    if op == "subscribe":
        return protocol.subscribe_request(
            id, d["journal"], credit=d["credit"], topic=d.get("topic"), from_seq_nr=d.get("from"),
            timeout_ms=d.get("timeout_ms"),
        )
    if op == "subscribe_all":
        return protocol.subscribe_all_request(
            id, credit=d["credit"], topic=d.get("topic"), start=d.get("from"),
            offsets={o["partition"]: o["offset"] for o in d.get("offsets") or ()},
            timeout_ms=d.get("timeout_ms"),
        )
    raise AssertionError(f"unknown op {op}")


@pytest.mark.parametrize("v", REQUESTS, ids=ids(REQUESTS))
def test_encode_request_canonically(v: dict[str, Any]) -> None:
    frame = protocol.pack_frame(build_request(from_notation(v["decoded"])))
    want = v["hex"] if v["canonical"] else v["canonical_hex"]
    assert frame.hex() == want


def test_hello_vector_uses_our_client_name() -> None:
    assert FRAMES["hello"]["decoded"]["client"] == protocol.CLIENT_NAME


def expected_record(r: dict[str, Any]) -> kjournal.EventRecord:
    return kjournal.EventRecord(
        seq_nr=r["seq_nr"],
        tags=frozenset(r["tags"]),
        payload=r["payload"],
        payload_type=r["payload_type"],
        timestamp=datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=r["timestamp"]),
        partition=r["partition"],
        offset=r["offset"],
        origin=r["origin"],
        version=r["version"],
        metadata=r["metadata"],
        expire_after=None if r["expire_after_ms"] is None else timedelta(milliseconds=r["expire_after_ms"]),
        payload_metadata=r["payload_metadata"],
        headers=r["headers"],
    )


def expected_reply(op: str, d: dict[str, Any]) -> Any:
    if "error" in d:
        return d["error"]
    if op == "hello":
        return kjournal.ServerInfo(**{k: v for k, v in d.items() if k != "id"})
    if op in ("append", "purge"):
        return kjournal.PartitionOffset(d["partition"], d["offset"])
    if op == "delete":
        return None if d["partition"] is None else kjournal.PartitionOffset(d["partition"], d["offset"])
    if op == "pointer":
        return d["seq_nr"]
    if op == "read":
        if "events" in d:
            return ReadEvents(tuple(expected_record(r) for r in d["events"]))
        return ReadEnd(d["highest_seq_nr"])
    if op == "ping":
        return None
    if op == "save_snapshot":
        return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=d["timestamp"])
    if op == "load_snapshot":
        s = d["snapshot"]
        if s is None:
            return None
        return kjournal.Snapshot(
            seq_nr=s["seq_nr"],
            payload=s["payload"],
            payload_type=s["payload_type"],
            timestamp=datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=s["timestamp"]),
            timestamp_ms=s["timestamp"],
            metadata=s["metadata"],
            origin=s["origin"],
            version=s["version"],
        )
    if op == "delete_snapshots":
        return d["deleted"]
    if op == "subscribe":
        return ReadEvents(tuple(expected_record(r) for r in d["events"]))
    if op == "subscribe_all":
        return TopicEvents(tuple(TopicEventRecord(r["journal"], expected_record(r)) for r in d["events"]))
    raise AssertionError(op)


def check_error(got: Any, want: dict[str, Any]) -> None:
    assert isinstance(got, kjournal.JournalError)
    assert type(got) is ERRORS_BY_CODE[want["code"]]
    assert (got.code, got.message, got.retryable) == (want["code"], want["message"], want["retryable"])
    assert got.highest_seq_nr == want.get("highest_seq_nr")


@pytest.mark.parametrize("v", REPLIES, ids=ids(REPLIES))
def test_parse_reply(v: dict[str, Any]) -> None:
    d = from_notation(v["decoded"])
    body = protocol.unpack_body(split_frame(v["hex"]))
    got = protocol.parse_reply(v["op"], body)
    want = expected_reply(v["op"], d)
    if "error" in d:
        check_error(got, want)
        return
    assert got == want
    if isinstance(got, ReadEvents):
        for g, w in zip(got.records, want.records):
            assert_same(g.payload, w.payload)  # types too: bytes vs str vs JSON
            assert g.timestamp.tzinfo is not None


@pytest.mark.parametrize("v", REPLIES, ids=ids(REPLIES))
def test_session_dispatches_reply(v: dict[str, Any]) -> None:
    """A Session with the vector's request in flight turns the frame into a Reply."""
    d = from_notation(v["decoded"])
    s = Session()
    if d["id"] == 0:
        (notice,) = s.receive(bytes.fromhex(v["hex"]))
        assert isinstance(notice, ConnectionNotice)
        check_error(notice.error, d["error"])
        assert not notice.fatal
        return
    s._next_id = d["id"]
    id, _ = s.register({"id": 0, "op": v["op"]})
    assert id == d["id"]
    (reply,) = s.receive(bytes.fromhex(v["hex"]))
    assert isinstance(reply, Reply)
    assert reply.id == id and reply.op == v["op"]
    assert reply.final == ("events" not in d)
    assert s.is_in_flight(id) == ("events" in d)
    if v["op"] == "hello" and "error" not in d:
        assert s.server_info == reply.value
        assert s.max_frame_bytes == d["max_frame_bytes"]


def test_session_handles_frames_split_anywhere() -> None:
    """Replies arriving one byte at a time, and several in one chunk, come out in order."""
    names = ["read-events", "read-events-seq-nr-max", "read-end"]
    stream = b"".join(bytes.fromhex(FRAMES[n]["hex"]) for n in names)
    for chunk in (1, 7, len(stream)):
        s = Session()
        s._next_id = 8
        s.register({"id": 0, "op": "read"})
        out: list[Any] = []
        for i in range(0, len(stream), chunk):
            out += s.receive(stream[i : i + chunk])
        assert [type(r.value) for r in out if isinstance(r, Reply)] == [ReadEvents, ReadEvents, ReadEnd]
        assert s.in_flight == 0


def test_session_drops_replies_for_unknown_ids() -> None:
    s = Session()
    assert s.receive(bytes.fromhex(FRAMES["ping-reply"]["hex"])) == []


# -- invalid frames -----------------------------------------------------------------------------


@pytest.mark.parametrize("v", VECTORS["invalid_frames"], ids=ids(VECTORS["invalid_frames"]))
def test_invalid_frames_rejected(v: dict[str, Any]) -> None:
    dec = FrameDecoder(v["max_frame_bytes"])
    dec.feed(bytes.fromhex(v["hex"]))
    if "code" in v:  # too large: rejected from the prefix alone, before the body arrives
        with pytest.raises(FrameError, match="exceeds max_frame_bytes"):
            dec.next_raw()
    else:  # cut short: nothing decodes, and EOF with bytes pending is an error
        assert dec.next_raw() is None
        with pytest.raises(FrameError, match="inside a frame"):
            dec.check_eof()


def test_frame_at_the_limit_accepted() -> None:
    body = protocol.pack_frame({"id": 1, "x": b"\x00" * 100})
    dec = FrameDecoder(len(body) - 4)
    dec.feed(body)
    assert dec.next_raw() == body[4:]


# -- invalid requests ---------------------------------------------------------------------------

BAD_FRAME = 100

NOWHERE = "/nonexistent/kjournal-test.sock"


def _journal(id: Any = "j", topic: Any = None) -> kjournal.Journal:
    # No sidecar at NOWHERE: if anything tried to connect, JournalConnectionError would surface
    # instead of ValueError/TypeError — so these checks also prove nothing was sent.
    return Client(NOWHERE).journal(id, topic)


def _nested(depth: int) -> Any:
    v: Any = 0
    for _ in range(depth):
        v = [v]
    return v


E1 = [Event(1)]

def _ids_assigned() -> None:
    s = Session()
    id, frame = s.register(protocol.ping_request(0))
    assert id >= 1 and protocol.unpack_body(frame[4:])["id"] == id


def _op_always_written() -> None:
    from kjournal import _common

    bodies = [
        protocol.hello_request(0),
        _common.append_body("j", None, E1, None, None, None, None, None),
        _common.read_body("j", None, 1, None, None, None, 256)[0],
        protocol.credit_request(1, 1),
        protocol.cancel_request(1),
        protocol.pointer_request(0, "j"),
        protocol.delete_request(0, "j", 1),
        protocol.purge_request(0, "j"),
        protocol.ping_request(0),
    ]
    for b in bodies:
        assert list(b)[:2] == ["id", "op"] and isinstance(b["op"], str)


def _credit_always_sent() -> None:
    from kjournal import _common

    for mx in (None, 0, 1, 10**6):
        body, _ = _common.read_body("j", None, 1, None, mx, None, 256)
        assert isinstance(body["credit"], int)


def _no_duplicate_keys() -> None:
    frame = protocol.pack_frame({"a": 1, "a": 2})  # noqa: F601 — Python keeps one
    assert protocol.unpack_body(frame[4:]) == {"a": 2}


def _offsets_are_a_mapping() -> None:
    body = protocol.subscribe_all_request(1, credit=1, offsets={1: 5, 2: 6})
    assert isinstance(body["offsets"], list)  # always an array, built from a mapping: no partition twice
    parts = [o["partition"] for o in body["offsets"]]
    assert len(parts) == len(set(parts))


# How each invalid request of vectors.json is prevented client-side: a call that must raise
# ValueError or TypeError, or, where the API cannot express it at all, a check of why.
PREVENTED: dict[str, tuple[type[Exception], Callable[[], Any]] | Callable[[], None]] = {
    "missing-id": _ids_assigned,
    "id-zero": _ids_assigned,
    "id-too-large": (ValueError, lambda: protocol.ping_request(2**53)),
    "id-negative": (ValueError, lambda: protocol.ping_request(-1)),
    "id-string": (TypeError, lambda: protocol.ping_request("1")),  # type: ignore[arg-type]
    "id-float": (TypeError, lambda: protocol.ping_request(1.0)),  # type: ignore[arg-type]
    "missing-op": _op_always_written,
    "unknown-op": _op_always_written,
    "op-not-string": _op_always_written,
    "hello-no-versions": (TypeError, lambda: protocol.hello_request(1, None)),  # type: ignore[arg-type]
    "hello-empty-versions": (ValueError, lambda: protocol.hello_request(1, [])),
    "append-seq-nr-zero": (ValueError, lambda: Event(0)),
    "append-seq-nr-negative": (ValueError, lambda: Event(-1)),
    "append-seq-nr-2^63": (ValueError, lambda: Event(2**63)),
    "append-seq-nr-string": (TypeError, lambda: Event("1")),  # type: ignore[arg-type]
    "append-seq-nr-float": (TypeError, lambda: Event(1.0)),  # type: ignore[arg-type]
    "append-seq-nr-missing": (TypeError, lambda: Event()),  # type: ignore[call-arg]
    "append-not-increasing": (ValueError, lambda: _journal().append([Event(2), Event(1)])),
    "append-duplicate-seq-nr": (ValueError, lambda: _journal().append([Event(1), Event(1)])),
    "append-empty-events": (ValueError, lambda: _journal().append([])),
    "append-no-events": (TypeError, lambda: _journal().append(None)),  # type: ignore[arg-type]
    "append-event-not-map": (TypeError, lambda: _journal().append([1])),  # type: ignore[list-item]
    "append-no-journal": (TypeError, lambda: _journal(None)),
    "append-empty-journal": (ValueError, lambda: _journal("")),
    "append-journal-not-utf8": (ValueError, lambda: _journal("\udcff")),
    "append-journal-binary": (TypeError, lambda: _journal(b"j")),
    "append-topic-illegal": (ValueError, lambda: _journal("j", "no spaces!")),
    "append-topic-not-utf8": (ValueError, lambda: _journal("j", "\udcff")),
    "append-binary-as-json": (TypeError, lambda: Event(1, b"\x01", payload_type="json")),
    "append-binary-as-text": (TypeError, lambda: Event(1, b"\x01", payload_type="text")),
    "append-string-as-binary": (TypeError, lambda: Event(1, "x", payload_type="binary")),
    "append-unknown-payload-type": (ValueError, lambda: Event(1, "x", payload_type="xml")),  # type: ignore[arg-type]
    "append-text-without-payload": (TypeError, lambda: Event(1, None, payload_type="text")),
    "append-json-with-binary-inside": (TypeError, lambda: Event(1, {"b": b"\x01"})),
    "append-json-with-ext": (TypeError, lambda: Event(1, {"x": object()})),
    "append-json-nan": (ValueError, lambda: Event(1, float("nan"))),
    "append-json-integer-key": (TypeError, lambda: Event(1, {1: 1})),
    "append-json-duplicate-key": _no_duplicate_keys,
    "append-json-too-deep": (ValueError, lambda: Event(1, _nested(129), payload_type="json")),
    "append-tag-not-string": (TypeError, lambda: Event(1, tags=[1])),  # type: ignore[list-item]
    "append-header-not-string": (TypeError, lambda: _journal().append(E1, headers={"h": 1})),  # type: ignore[dict-item]
    "append-expire-after-zero": (ValueError, lambda: _journal().append(E1, expire_after=timedelta(0))),
    "read-no-credit": _credit_always_sent,
    "read-credit-too-large": (ValueError, lambda: protocol.read_request(1, "j", credit=2**31)),
    "read-from-zero": (ValueError, lambda: _journal().read(from_seq_nr=0)),
    "read-max-zero": (ValueError, lambda: protocol.read_request(1, "j", credit=1, max_count=0)),
    "read-timeout-zero": (ValueError, lambda: _journal().read(timeout=0)),
    "delete-no-to": (TypeError, lambda: _journal().delete()),  # type: ignore[call-arg]
    "delete-to-zero": (ValueError, lambda: _journal().delete(0)),
    "pointer-journal-nil": (TypeError, lambda: _journal(None)),
    "append-expected-negative": (ValueError, lambda: _journal().append([Event(1)], expected_seq_nr=-1)),
    "append-expected-string": (TypeError, lambda: _journal().append([Event(1)], expected_seq_nr="1")),  # type: ignore[arg-type]
    "save-snapshot-no-seq-nr": (TypeError, lambda: _journal().save_snapshot(None)),  # type: ignore[arg-type]
    "save-snapshot-seq-nr-zero": (ValueError, lambda: _journal().save_snapshot(0)),
    "save-snapshot-binary-as-text": (TypeError, lambda: _journal().save_snapshot(1, b"x", payload_type="text")),
    "save-snapshot-timestamp-float": (TypeError, lambda: _journal().save_snapshot(1, timestamp=1.0)),  # type: ignore[arg-type]
    "load-snapshot-no-journal": (TypeError, lambda: _journal(None)),
    "load-snapshot-max-seq-nr-negative": (ValueError, lambda: _journal().load_snapshot(max_seq_nr=-1)),
    "delete-snapshots-seq-nr-zero": (ValueError, lambda: _journal().delete_snapshots(seq_nr=0)),
    "credit-zero": (ValueError, lambda: protocol.credit_request(8, 0)),
    "credit-no-n": (TypeError, lambda: protocol.credit_request(8, None)),  # type: ignore[arg-type]
    "cancel-id-zero": (ValueError, lambda: protocol.cancel_request(0)),
    "subscribe-no-credit": (TypeError, lambda: protocol.subscribe_request(1, "j")),  # type: ignore[call-arg]
    "subscribe-from-zero": (ValueError, lambda: _journal().subscribe(from_seq_nr=0)),
    "subscribe-no-journal": (TypeError, lambda: _journal(None)),
    "subscribe-all-bad-from": (ValueError, lambda: Client(NOWHERE).subscribe_all(start="middle")),
    "subscribe-all-offsets-not-array": _offsets_are_a_mapping,
    "subscribe-all-offset-negative": (
        ValueError, lambda: Client(NOWHERE).subscribe_all(after=[kjournal.Position(0, -1, 1)]),
    ),
    "subscribe-all-partition-twice": _offsets_are_a_mapping,
    "subscribe-all-no-credit": (TypeError, lambda: protocol.subscribe_all_request(1)),  # type: ignore[call-arg]
}


INVALID = VECTORS["invalid_requests"]


@pytest.mark.parametrize("v", INVALID, ids=ids(INVALID))
def test_invalid_request_not_produced(v: dict[str, Any]) -> None:
    body = split_frame(v["hex"])
    if v["code"] == BAD_FRAME:
        # Not a request at all: our decoder (used on replies) rejects the same bytes.
        with pytest.raises(FrameError):
            protocol.unpack_body(body)
        return
    assert v["name"] in PREVENTED, f"add {v['name']!r} to PREVENTED"
    how = PREVENTED[v["name"]]
    if not isinstance(how, tuple):
        how()  # not expressible through the API; this checks why
        return
    exc, call = how
    with pytest.raises(exc):
        call()


def test_session_ids_start_at_one_and_are_unique() -> None:
    s = Session()
    got = [s.register(protocol.ping_request(0))[0] for _ in range(3)]
    assert got == [1, 2, 3]
    s._next_id = protocol.MAX_ID
    assert s.register(protocol.ping_request(0))[0] == protocol.MAX_ID
    assert s.register(protocol.ping_request(0))[0] == 4  # wrapped, skipping 1..3 still in flight
