"""Events, records, payload typing, argument checking and credit, without a server."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import kjournal
from kjournal import MAX_SEQ_NR, AsyncClient, Client, Event, _common, protocol

NOWHERE = "/nonexistent/kjournal-test.sock"


# -- Event --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "kind", "stored"),
    [
        (None, None, None),
        (b"\x00\x01", "binary", b"\x00\x01"),
        (bytearray(b"ab"), "binary", b"ab"),
        (memoryview(b"cd"), "binary", b"cd"),
        ("text", "text", "text"),
        ("", "text", ""),
        ({"a": [1, 2.5, None, True]}, "json", {"a": [1, 2.5, None, True]}),
        ([1, "x"], "json", [1, "x"]),
        ((1, 2), "json", (1, 2)),
        (42, "json", 42),
        (-0.25, "json", -0.25),
        (False, "json", False),
        (2**64 - 1, "json", 2**64 - 1),
        (-(2**63), "json", -(2**63)),
    ],
)
def test_payload_type_inferred(payload: Any, kind: str | None, stored: Any) -> None:
    e = Event(1, payload)
    assert e.payload_type == kind
    assert e.payload == stored and type(e.payload) is type(stored)
    assert e.has_payload is (kind is not None)


def test_explicit_payload_types() -> None:
    assert Event(1, "x", payload_type="json").payload_type == "json"
    null = Event(1, None, payload_type="json")
    assert null.payload is None and null.payload_type == "json" and null.has_payload
    assert Event(1, b"x", payload_type="binary").payload_type == "binary"
    assert Event(1, "x", payload_type="text").payload_type == "text"


@pytest.mark.parametrize(
    ("kwargs", "exc"),
    [
        ({"seq_nr": 0}, ValueError),
        ({"seq_nr": MAX_SEQ_NR + 1}, ValueError),
        ({"seq_nr": True}, TypeError),
        ({"seq_nr": 1, "tags": "abc"}, TypeError),
        ({"seq_nr": 1, "tags": [b"x"]}, TypeError),
        ({"seq_nr": 1, "payload": 2**64}, ValueError),
        ({"seq_nr": 1, "payload": -(2**63) - 1}, ValueError),
        ({"seq_nr": 1, "payload": float("inf")}, ValueError),
        ({"seq_nr": 1, "payload": {1, 2}}, TypeError),
        ({"seq_nr": 1, "payload": b"x", "payload_type": "json"}, TypeError),
        ({"seq_nr": 1, "payload": 1, "payload_type": "text"}, TypeError),
        ({"seq_nr": 1, "payload": None, "payload_type": "binary"}, TypeError),
        ({"seq_nr": 1, "payload": "x", "payload_type": 1}, TypeError),
        ({"seq_nr": 1, "payload": "\ud800"}, ValueError),
        ({"seq_nr": 1, "payload": {"\ud800": 1}}, ValueError),
    ],
)
def test_bad_events(kwargs: dict[str, Any], exc: type[Exception]) -> None:
    with pytest.raises(exc):
        Event(**kwargs)


def test_event_values() -> None:
    e = Event(MAX_SEQ_NR, "x", tags=["b", "a", "b"])
    assert e.seq_nr == MAX_SEQ_NR and e.tags == frozenset({"a", "b"})
    assert e == Event(MAX_SEQ_NR, "x", {"a", "b"}, "text")
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.seq_nr = 2  # type: ignore[misc]
    assert "seq_nr=9223372036854775807" in repr(e)


def test_json_depth_limit_and_cycles() -> None:
    v: Any = 0
    for _ in range(128):
        v = [v]
    Event(1, v)  # 128 nested arrays: the limit
    with pytest.raises(ValueError, match="nested deeper"):
        Event(1, [v])
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(ValueError, match="nested deeper"):
        Event(1, cyclic)


# -- encoding -----------------------------------------------------------------------------------


def test_canonical_encoding_sorts_keys_tags_and_headers() -> None:
    body = protocol.append_request(
        7,
        "j",
        [Event(1, {"b": 1, "a": {"d": 2, "c": 3}}, tags={"z", "é", "a"})],
        metadata={"y": 1, "x": 2},
        headers={"h2": "v", "h1": "v"},
    )
    (ev,) = body["events"]
    assert list(ev["payload"]) == ["a", "b"] and list(ev["payload"]["a"]) == ["c", "d"]
    assert ev["tags"] == ["a", "z", "é"]  # UTF-8 byte order
    assert list(body["metadata"]) == ["x", "y"] and list(body["headers"]) == ["h1", "h2"]
    assert list(body) == ["id", "op", "journal", "events", "metadata", "headers"]


def test_frame_too_large_for_the_session_is_a_value_error() -> None:
    s = protocol.Session()
    s.decoder.max_frame_bytes = 100
    with pytest.raises(ValueError, match="max_frame_bytes"):
        s.register(protocol.append_request(0, "j", [Event(1, b"x" * 200)]))
    assert s.in_flight == 0


# -- records ------------------------------------------------------------------------------------


def record(**over: Any) -> dict[str, Any]:
    r: dict[str, Any] = {
        "seq_nr": 3,
        "tags": ["t"],
        "payload": "hi",
        "payload_type": "text",
        "timestamp": 1764090000123,
        "partition": 1,
        "offset": 2,
        "origin": "h",
        "version": "v",
        "metadata": {"m": 1},
        "expire_after_ms": 60000,
        "payload_metadata": None,
        "headers": {"k": "v"},
    }
    r.update(over)
    return r


def test_event_record_fields() -> None:
    r = protocol.parse_event_record(record())
    assert r.timestamp == datetime(2025, 11, 25, 17, 0, 0, 123000, tzinfo=timezone.utc)
    assert r.timestamp.tzinfo is not None
    assert r.expire_after == timedelta(minutes=1)
    assert r.event == Event(3, "hi", {"t"})
    assert r.headers == {"k": "v"} and r.metadata == {"m": 1} and r.payload_metadata is None


def test_event_record_timestamp_clamped() -> None:
    assert protocol.parse_event_record(record(timestamp=2**63 - 1)).timestamp.year == 9999
    assert protocol.parse_event_record(record(timestamp=-(2**63))).timestamp.year == 1
    assert protocol.parse_event_record(record(timestamp=-1)).timestamp.year == 1969


@pytest.mark.parametrize(
    "over",
    [
        {"seq_nr": 0},
        {"seq_nr": "1"},
        {"payload_type": "xml"},
        {"payload_type": None},  # a payload without a type
        {"payload_type": "binary"},  # str payload
        {"payload": b"x", "payload_type": "json"},
        {"tags": "t"},
        {"headers": {"k": 1}},
        {"timestamp": 1.5},
    ],
)
def test_bad_records_are_frame_errors(over: dict[str, Any]) -> None:
    with pytest.raises(protocol.FrameError):
        protocol.parse_event_record(record(**over))


# -- credit ---------------------------------------------------------------------------------------


def test_credit_window() -> None:
    w = protocol.CreditWindow(256)
    assert w.initial == 256
    grants = [w.consumed() for _ in range(512)]
    assert [g for g in grants if g] == [128, 128, 128, 128]
    assert grants[127] == 128 and grants[126] == 0


def test_credit_window_capped_by_max_count() -> None:
    w = protocol.CreditWindow(256, max_count=10)
    assert w.initial == 10
    assert sum(w.consumed() for _ in range(10)) == 0
    w = protocol.CreditWindow(4, max_count=9)
    assert w.initial == 4
    assert sum(w.consumed() for _ in range(9)) == 5  # never more than max_count in total
    assert protocol.CreditWindow(1).consumed() == 1


# -- argument handling ------------------------------------------------------------------------------


def test_timeouts() -> None:
    assert _common.timeout_ms(None) is None
    assert _common.timeout_ms(1.5) == 1500
    assert _common.timeout_ms(0.0001) == 1
    assert _common.timeout_ms(timedelta(minutes=1)) == 60000
    for bad, exc in ((0, ValueError), (-1, ValueError), (float("inf"), ValueError), ("1", TypeError),
                     (True, TypeError), (2**31, ValueError)):
        with pytest.raises(exc):
            _common.timeout_ms(bad)


def test_read_max_count_zero_is_an_empty_range() -> None:
    body, w = _common.read_body("j", None, 1, None, 0, None, 256)
    assert (body["from"], body["to"], body["credit"]) == (2, 1) + (0,)
    body, _ = _common.read_body("j", None, 5, 9, 0, None, 256)
    assert (body["from"], body["to"]) == (5, 4)
    body, _ = _common.read_body("j", None, 1, None, None, None, 256)
    assert "from" not in body and "max" not in body and body["credit"] == 256


def test_socket_path_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(kjournal.SOCKET_ENV, raising=False)
    assert Client().path == kjournal.DEFAULT_SOCKET_PATH == "/var/run/kjournal/kjournal.sock"
    monkeypatch.setenv(kjournal.SOCKET_ENV, "/tmp/x.sock")
    assert Client().path == "/tmp/x.sock" and AsyncClient().path == "/tmp/x.sock"
    assert Client("/tmp/y.sock").path == "/tmp/y.sock"


@pytest.mark.parametrize(
    "kwargs",
    [{"timeout": 0}, {"timeout": "1"}, {"connect_timeout": 0}, {"read_window": 0}, {"read_window": 1.5}],
)
def test_bad_client_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises((ValueError, TypeError)):
        Client(NOWHERE, **kwargs)
    with pytest.raises((ValueError, TypeError)):
        AsyncClient(NOWHERE, **kwargs)


def test_bad_arguments_never_reach_the_socket() -> None:
    """Every bad argument raises ValueError/TypeError; none tries to connect (NOWHERE has no sidecar)."""
    j = Client(NOWHERE).journal("j")
    e = [Event(1)]
    cases: list[tuple[type[Exception], Any]] = [
        (ValueError, lambda: j.append(e, expire_after=timedelta(microseconds=999))),
        (TypeError, lambda: j.append(e, expire_after=60)),
        (TypeError, lambda: j.append(e, metadata={"x": {1, 2}})),
        (ValueError, lambda: j.append(e, payload_metadata=float("nan"))),
        (TypeError, lambda: j.append(e, headers=[("a", "b")])),
        (TypeError, lambda: j.append(Event(1))),
        (TypeError, lambda: j.append("events")),
        (ValueError, lambda: j.read(to_seq_nr=0)),
        (ValueError, lambda: j.read(max_count=-1)),
        (TypeError, lambda: j.read(from_seq_nr="1")),
        (ValueError, lambda: j.read(from_seq_nr=MAX_SEQ_NR + 1)),
        (ValueError, lambda: j.delete(-5)),
        (TypeError, lambda: j.delete(None)),
        (ValueError, lambda: j.pointer(timeout=-1)),
        (ValueError, lambda: j.purge(timeout=timedelta(0))),
        (ValueError, lambda: Client(NOWHERE).journal("j", topic="")),
        (ValueError, lambda: Client(NOWHERE).journal("j", topic="..")),
        (ValueError, lambda: Client(NOWHERE).journal("j", topic="x" * 250)),
    ]
    for exc, call in cases:
        with pytest.raises(exc):
            call()
    with pytest.raises(kjournal.JournalConnectionError):
        j.pointer()  # and valid arguments do try to connect


async def test_bad_arguments_never_reach_the_socket_async() -> None:
    j = AsyncClient(NOWHERE).journal("j")
    with pytest.raises(ValueError):
        await j.append([Event(2), Event(2)])
    with pytest.raises(ValueError):
        j.read(from_seq_nr=0)
    with pytest.raises(ValueError):
        await j.delete(0)
    with pytest.raises(kjournal.JournalConnectionError):
        await j.pointer()
