"""The real sidecar against protocol/PROTOCOL.md at the frame level: the invalid frames and
requests of vectors.json, the handshake rules, credit, cancel and duplicate ids. These use a raw
socket (no client library) so that they can send what the client never would."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kjournal import Client, Event, protocol

from .conftest import VECTORS_PATH, from_notation, load_json

VECTORS = load_json(VECTORS_PATH)


class Raw:
    """A bare protocol connection."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(path)
        self.decoder = protocol.FrameDecoder()

    def send(self, body: dict[str, Any]) -> None:
        self.sock.sendall(protocol.pack_frame(body))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self, timeout: float = 10) -> dict[str, Any] | None:
        """The next frame, or None at EOF."""
        self.sock.settimeout(timeout)
        while True:
            raw = self.decoder.next_raw()
            if raw is not None:
                body = protocol.unpack_body(raw)
                # The Go encoder writes the canonical form (PROTOCOL.md, Canonical encoding), which
                # msgpack.packb reproduces from the decoded map (key order kept).
                assert protocol.pack_frame(body)[4:] == raw, f"not canonical: {raw.hex()}"
                return body
            data = self.sock.recv(65536)
            if not data:
                return None
            self.decoder.feed(data)

    def nothing_within(self, seconds: float) -> bool:
        """True if no frame arrives (and the connection stays open) for ``seconds``."""
        try:
            self.recv(timeout=seconds)  # a frame, or None at EOF: something happened
        except socket.timeout:
            return True
        return False

    def hello(self, id: int = 1) -> dict[str, Any]:
        self.send(protocol.hello_request(id))
        reply = self.recv()
        assert reply is not None and reply["id"] == id and "error" not in reply, reply
        return reply

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw(socket_path: str) -> Iterator[Raw]:
    r = Raw(socket_path)
    r.hello()
    yield r
    r.close()


def error_of(frame: dict[str, Any] | None) -> tuple[int, int]:
    assert frame is not None and "error" in frame, frame
    return frame["id"], frame["error"]["code"]


@pytest.mark.parametrize("v", VECTORS["invalid_requests"], ids=[v["name"] for v in VECTORS["invalid_requests"]])
def test_invalid_request_rejected(raw: Raw, v: dict[str, Any]) -> None:
    raw.send_raw(bytes.fromhex(v["hex"]))
    frame = raw.recv()
    assert error_of(frame) == (v["reply_id"], v["code"]), f"{v['name']}: got {frame}"
    raw.send(protocol.ping_request(99))  # the connection stays open
    assert raw.recv() == {"id": 99}


@pytest.mark.parametrize("v", VECTORS["invalid_frames"], ids=[v["name"] for v in VECTORS["invalid_frames"]])
def test_invalid_frame(socket_path: str, v: dict[str, Any]) -> None:
    r = Raw(socket_path)
    try:
        r.hello()
        r.send_raw(bytes.fromhex(v["hex"]))
        if "code" not in v:  # cut short: the sidecar waits for the rest, answering nothing
            assert r.nothing_within(0.3)
            return
        assert error_of(r.recv()) == (0, v["code"])
        if v.get("closes"):
            assert r.recv() is None, "the sidecar must close the connection"
    finally:
        r.close()


def test_hello_required_first(socket_path: str) -> None:
    r = Raw(socket_path)
    try:
        r.send(protocol.ping_request(5))
        assert error_of(r.recv()) == (5, 103)
        r.hello(6)  # still possible
        r.send(protocol.hello_request(7))
        assert error_of(r.recv()) == (7, 107)  # DUPLICATE_HELLO
        r.send(protocol.ping_request(8))
        assert r.recv() == {"id": 8}
    finally:
        r.close()


def test_unsupported_version(socket_path: str) -> None:
    r = Raw(socket_path)
    try:
        r.send(protocol.hello_request(3, versions=[99]))
        assert error_of(r.recv()) == (3, 102)
        assert r.recv() is None, "closed after UNSUPPORTED_VERSION"
    finally:
        r.close()


def test_hello_picks_the_highest_common_version(socket_path: str) -> None:
    r = Raw(socket_path)
    try:
        r.send(protocol.hello_request(1, versions=[5, 1, 3]))
        reply = r.recv()
        assert reply is not None and reply["version"] == 1
        info = protocol.parse_reply("hello", reply)
        assert isinstance(info, protocol.ServerInfo)
    finally:
        r.close()


@pytest.fixture
def filled(socket_path: str, journal_id: str) -> str:
    with Client(socket_path) as c:
        c.journal(journal_id).append([Event(i, f"e{i}") for i in range(1, 6)])
    return journal_id


def test_credit_paces_the_stream(raw: Raw, filled: str) -> None:
    raw.send(protocol.read_request(10, filled, credit=0))
    assert raw.nothing_within(0.5), "events sent without credit"
    raw.send(protocol.credit_request(10, 2))
    seen: list[int] = []
    while len(seen) < 2:
        frame = raw.recv()
        assert frame is not None and frame["id"] == 10 and "events" in frame, frame
        assert frame["events"], "an events frame must hold at least one record"
        seen += [e["seq_nr"] for e in frame["events"]]
    assert seen == [1, 2]
    assert raw.nothing_within(0.3), "more events than the credit"
    raw.send(protocol.credit_request(10, 100))
    while True:
        frame = raw.recv()
        assert frame is not None and frame["id"] == 10, frame
        if "end" in frame:
            assert frame == {"id": 10, "end": True, "highest_seq_nr": 5}
            break
        seen += [e["seq_nr"] for e in frame["events"]]
    assert seen == [1, 2, 3, 4, 5]


def test_end_frame_needs_no_credit(raw: Raw, filled: str) -> None:
    raw.send(protocol.read_request(11, filled, credit=0, from_seq_nr=3, to_seq_nr=2))
    assert raw.recv() == {"id": 11, "end": True, "highest_seq_nr": 5}


def test_cancel_and_duplicate_id(raw: Raw, filled: str) -> None:
    raw.send(protocol.read_request(12, filled, credit=0))
    time.sleep(0.2)
    raw.send(protocol.ping_request(12))  # id 12 is in flight: DUPLICATE_ID, sent with id 0
    assert error_of(raw.recv()) == (0, 105)
    raw.send(protocol.cancel_request(12))
    assert error_of(raw.recv()) == (12, 302)  # CANCELLED ends the stream
    raw.send(protocol.ping_request(12))  # and the id is free again
    assert raw.recv() == {"id": 12}
    raw.send(protocol.cancel_request(12))  # cancel of nothing: ignored, no reply
    raw.send(protocol.credit_request(12, 5))  # credit for nothing: ignored, no reply
    assert raw.nothing_within(0.3)


def test_read_reply_matches_event_records(raw: Raw, filled: str) -> None:
    raw.send(protocol.read_request(13, filled, credit=100, max_count=1))
    frame = raw.recv()
    assert frame is not None
    (rec,) = frame["events"]
    # Every key of the record table, in the canonical order.
    assert list(rec) == [
        "seq_nr", "tags", "payload", "payload_type", "timestamp", "partition", "offset",
        "origin", "version", "metadata", "expire_after_ms", "payload_metadata", "headers",
    ]  # fmt: skip
    assert (rec["seq_nr"], rec["payload"], rec["payload_type"], rec["tags"]) == (1, "e1", "text", [])
    assert raw.recv() == {"id": 13, "end": True, "highest_seq_nr": 5}


def test_requests_in_the_example_session_shape(raw: Raw) -> None:
    """pointer of an unknown journal and a delete with to 0, as in PROTOCOL.md's example."""
    nobody = f"py-nobody-{time.monotonic_ns()}"
    raw.send(protocol.pointer_request(4, nobody))
    assert raw.recv() == {"id": 4, "seq_nr": None}
    ex = from_notation({"id": 5, "op": "delete", "journal": nobody, "to": 0})
    raw.send(ex)
    assert error_of(raw.recv()) == (5, 201)


def test_too_many_requests(socket_path: str, filled: str) -> None:
    r = Raw(socket_path)
    try:
        limit = r.hello()["max_in_flight"]
        if limit > 1024:
            pytest.skip(f"max_in_flight {limit} is too many streams to open in a test")
        for i in range(limit):  # open streams without credit stay in flight
            r.send(protocol.read_request(100 + i, filled, credit=0))
        r.send(protocol.ping_request(99))
        frame = r.recv()
        assert error_of(frame) == (99, 300)
        assert frame is not None and frame["error"]["retryable"] is True
        for i in range(limit):
            r.send(protocol.cancel_request(100 + i))
        ended = set()
        while len(ended) < limit:
            frame = r.recv()
            assert frame is not None and "error" in frame, frame
            assert frame["error"]["code"] == 302, frame
            ended.add(frame["id"])
        r.send(protocol.ping_request(99))
        assert r.recv() == {"id": 99}
    finally:
        r.close()


def test_unknown_request_keys_are_ignored(raw: Raw) -> None:
    raw.send({"id": 41, "op": "ping", "future_field": {"x": [1, 2]}, "timeout_ms": None})
    assert raw.recv() == {"id": 41}


def test_waiting_for_credit_is_not_timed(raw: Raw, filled: str) -> None:
    """A read's deadline covers the sidecar's work, not the time its consumer takes."""
    raw.send(protocol.read_request(42, filled, credit=0, timeout_ms=1000))
    assert raw.nothing_within(2.0)
    raw.send(protocol.credit_request(42, 10))
    seen = []
    while (frame := raw.recv()) is not None and "events" in frame:
        seen += [e["seq_nr"] for e in frame["events"]]
    assert seen == [1, 2, 3, 4, 5] and frame == {"id": 42, "end": True, "highest_seq_nr": 5}
