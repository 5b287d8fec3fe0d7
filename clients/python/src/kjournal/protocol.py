"""The kjournal sidecar protocol, version 1, without any I/O ("sans-IO").

This module turns requests into bytes and bytes into replies; it never touches a socket, so the
blocking :class:`kjournal.Client` and the asyncio :class:`kjournal.AsyncClient` share all of it,
and it is tested without a sidecar against ``protocol/testdata/vectors.json``. The wire format is
specified in ``protocol/PROTOCOL.md``; in short:

* A frame is a 4-byte big-endian length and one msgpack map with str keys
  (:func:`pack_frame`, :class:`FrameDecoder`, :func:`unpack_body`).
* Requests carry a client-chosen ``id`` and an ``op``; replies carry the id back and may arrive in
  any order. The ``*_request`` functions validate their arguments (raising :class:`ValueError`
  or :class:`TypeError`) and build request maps in the canonical key order.
* :class:`Session` is one connection's protocol state: it allocates ids, remembers the op of each
  request in flight, and turns received bytes into :class:`Reply` and :class:`ConnectionNotice`
  values (parsed results, or :class:`~kjournal.errors.JournalError` instances for error frames).
* A ``read`` is a stream of :class:`ReadEvents` frames ending with one :class:`ReadEnd` (or an
  error), paced by credit; :class:`CreditWindow` decides when to grant more.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Final

import msgpack

from . import _codes
from ._codes import ErrorCode
from ._version import __version__
from .errors import JournalConnectionError, JournalError
from .model import (
    MAX_SEQ_NR,
    Event,
    EventRecord,
    PartitionOffset,
    PayloadType,
    ServerInfo,
    Snapshot,
    TopicEventRecord,
    check_json,
    check_seq_nr,
    check_str,
)

__all__ = [
    "CLIENT_NAME",
    "DEFAULT_MAX_FRAME_BYTES",
    "MAX_CREDIT",
    "MAX_EXPIRE_AFTER_MS",
    "MAX_ID",
    "MAX_SEQ_NR",
    "MAX_TIMEOUT_MS",
    "PROTOCOL_VERSIONS",
    "ConnectionNotice",
    "CreditWindow",
    "FrameDecoder",
    "FrameError",
    "ReadEnd",
    "ReadEvents",
    "Reply",
    "TopicEvents",
    "Session",
    "append_request",
    "cancel_request",
    "check_topic",
    "credit_request",
    "delete_request",
    "error_from_wire",
    "hello_request",
    "pack_frame",
    "parse_event_record",
    "parse_reply",
    "ping_request",
    "pointer_request",
    "purge_request",
    "read_request",
    "subscribe_all_request",
    "subscribe_request",
    "unpack_body",
]

#: The protocol versions this client speaks, offered in hello.
PROTOCOL_VERSIONS: Final[tuple[int, ...]] = (1,)
#: Sent in hello's ``client`` field.
CLIENT_NAME: Final[str] = f"kjournal-python/{__version__}"
#: The frame size limit until hello has announced the sidecar's ``max_frame_bytes``.
DEFAULT_MAX_FRAME_BYTES: Final[int] = 16 * 1024 * 1024
#: Request ids are 1..2^53−1 (0 is reserved for connection-level errors).
MAX_ID: Final[int] = 2**53 - 1
#: Limits of credit grants and ``timeout_ms``.
MAX_CREDIT: Final[int] = 2**31 - 1
MAX_TIMEOUT_MS: Final[int] = 2**31 - 1
MAX_EXPIRE_AFTER_MS: Final[int] = 2**53 - 1

_PREFIX = 4
_TOPIC_RE = re.compile(r"[a-zA-Z0-9._-]{1,249}")
_PAYLOAD_TYPES: frozenset[str] = frozenset(("binary", "text", "json"))
# id-0 errors after which the sidecar closes the connection.
_FATAL_CODES: frozenset[int] = frozenset(
    (ErrorCode.FRAME_TOO_LARGE, ErrorCode.TOO_MANY_CONNECTIONS, ErrorCode.SHUTTING_DOWN)
)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_DATETIME_MIN = datetime.min.replace(tzinfo=timezone.utc)
_DATETIME_MAX = datetime.max.replace(tzinfo=timezone.utc)


class FrameError(JournalConnectionError):
    """The peer sent bytes that are not a valid frame or reply; the connection cannot be trusted."""

    default_retryable = True


# ---------------------------------------------------------------------------------------------
# Frames


def pack_frame(body: Mapping[str, Any]) -> bytes:
    """Encode one frame: the length prefix and ``body`` as a msgpack map."""
    data: bytes = msgpack.packb(body, use_bin_type=True)
    return len(data).to_bytes(_PREFIX, "big") + data


class _DuplicateKey(Exception):
    pass


class _BadKey(Exception):
    pass


def _pairs_hook(pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
    d = {}
    for k, v in pairs:
        if not isinstance(k, str):
            raise _BadKey(f"map key {k!r} is not a str")
        d[k] = v
    if len(d) != len(pairs):
        raise _DuplicateKey("duplicate map key")
    return d


def _ext_hook(code: int, data: bytes) -> Any:
    raise FrameError(f"msgpack ext type {code} is not part of the protocol")


def unpack_body(data: bytes) -> dict[str, Any]:
    """Decode a frame body: exactly one msgpack map with str keys, no duplicate keys.

    Raises :class:`FrameError` for anything else (empty body, another type, trailing bytes,
    truncated or invalid msgpack, invalid UTF-8, non-str or duplicate keys, ext types).
    """
    if not data:
        raise FrameError("empty frame body")
    try:
        obj = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
            object_pairs_hook=_pairs_hook,
            ext_hook=_ext_hook,
            timestamp=0,
        )
    except FrameError:
        raise
    except msgpack.ExtraData:
        raise FrameError("trailing bytes after the frame's map") from None
    except (_DuplicateKey, _BadKey) as e:
        raise FrameError(str(e)) from None
    except Exception as e:  # FormatError, StackError, ValueError (truncated), UnicodeDecodeError
        raise FrameError(f"frame body is not valid msgpack: {type(e).__name__}: {e}") from None
    if not isinstance(obj, dict):
        raise FrameError(f"frame body is a {type(obj).__name__}, not a map")
    return obj


class FrameDecoder:
    """Splits a byte stream into frame bodies.

    ``feed()`` bytes as they arrive, then iterate to get each complete body decoded. A length
    prefix above ``max_frame_bytes`` raises :class:`FrameError` before the body is buffered.
    """

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a frame (non-zero at EOF: a cut frame)."""
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        """Add received bytes."""
        self._buf += data

    def next_raw(self) -> bytes | None:
        """Return the next complete body as bytes, or None until more bytes are fed."""
        if len(self._buf) < _PREFIX:
            return None
        n = int.from_bytes(self._buf[:_PREFIX], "big")
        if n > self.max_frame_bytes:
            raise FrameError(f"frame of {n} bytes exceeds max_frame_bytes {self.max_frame_bytes}")
        end = _PREFIX + n
        if len(self._buf) < end:
            return None
        body = bytes(self._buf[_PREFIX:end])
        del self._buf[:end]
        return body

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while (raw := self.next_raw()) is not None:
            yield unpack_body(raw)

    def check_eof(self) -> None:
        """Call when the peer closed: raises :class:`FrameError` if a frame was cut short."""
        if self._buf:
            raise FrameError(f"connection closed inside a frame ({len(self._buf)} bytes pending)")


# ---------------------------------------------------------------------------------------------
# Requests. Each builder validates its arguments and returns the map in canonical key order.


def _check_int(value: object, what: str, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be an int, got {type(value).__name__}")
    if not lo <= value <= hi:
        raise ValueError(f"{what} must be {lo}..{hi}, got {value}")
    return int(value)


def _check_id(id: int) -> int:
    # 0 is accepted as a placeholder: Session.register assigns the real id.
    return _check_int(id, "id", 0, MAX_ID)


def check_topic(topic: object) -> str:
    """Return ``topic`` if it is a legal Kafka topic name; raise TypeError/ValueError otherwise."""
    check_str(topic, "topic")
    assert isinstance(topic, str)
    if not _TOPIC_RE.fullmatch(topic) or topic in (".", ".."):
        raise ValueError(
            f"topic {topic!r} is not a legal Kafka topic name (1..249 of a-z A-Z 0-9 . _ -)"
        )
    return topic


def _check_timeout_ms(timeout_ms: int | None) -> int | None:
    if timeout_ms is None:
        return None
    return _check_int(timeout_ms, "timeout_ms", 1, MAX_TIMEOUT_MS)


def _canonical_json(v: Any) -> Any:
    """A copy of a JSON value with object keys sorted (UTF-8 byte order = code point order)."""
    if isinstance(v, dict):
        return {k: _canonical_json(v[k]) for k in sorted(v)}
    if isinstance(v, (list, tuple)):
        return [_canonical_json(x) for x in v]
    return v


def _encode_event(e: Event) -> dict[str, Any]:
    m: dict[str, Any] = {"seq_nr": e.seq_nr}
    if e.tags:
        m["tags"] = sorted(e.tags)
    if e.payload_type is not None:
        m["payload"] = _canonical_json(e.payload) if e.payload_type == "json" else e.payload
        m["payload_type"] = e.payload_type
    return m


def hello_request(
    id: int, versions: Sequence[int] = PROTOCOL_VERSIONS, client: str | None = CLIENT_NAME
) -> dict[str, Any]:
    """``hello``: the first request on a connection, offering protocol ``versions``."""
    body: dict[str, Any] = {"id": _check_id(id), "op": "hello"}
    if isinstance(versions, (str, bytes)) or not isinstance(versions, Sequence):
        raise TypeError("versions must be a sequence of int")
    if not versions:
        raise ValueError("versions must not be empty")
    body["versions"] = [_check_int(v, "version", 1, 2**31 - 1) for v in versions]
    if client is not None:
        body["client"] = check_str(client, "client", empty=True)
    return body


def append_request(
    id: int,
    journal: str,
    events: Sequence[Event],
    *,
    topic: str | None = None,
    expire_after_ms: int | None = None,
    metadata: Any = None,
    payload_metadata: Any = None,
    headers: Mapping[str, str] | None = None,
    timeout_ms: int | None = None,
    expected_seq_nr: int | None = None,
) -> dict[str, Any]:
    """``append``: events in strictly increasing seq_nr order, appended atomically; with
    ``expected_seq_nr``, only if the journal's highest seq_nr is that (0: no events)."""
    body: dict[str, Any] = {"id": _check_id(id), "op": "append", "journal": check_str(journal, "journal")}
    if topic is not None:
        body["topic"] = check_topic(topic)
    if isinstance(events, (str, bytes, Event)) or not isinstance(events, Sequence):
        raise TypeError("events must be a sequence of Event")
    if not events:
        raise ValueError("events must not be empty")
    prev = 0
    encoded = []
    for e in events:
        if not isinstance(e, Event):
            raise TypeError(f"events must be Event instances, got {type(e).__name__}")
        if e.seq_nr <= prev:
            raise ValueError(
                f"events must be in strictly increasing seq_nr order: {e.seq_nr} after {prev}"
            )
        prev = e.seq_nr
        encoded.append(_encode_event(e))
    body["events"] = encoded
    if expected_seq_nr is not None:
        body["expected_seq_nr"] = _check_int(expected_seq_nr, "expected_seq_nr", 0, MAX_SEQ_NR)
    if expire_after_ms is not None:
        body["expire_after_ms"] = _check_int(expire_after_ms, "expire_after_ms", 1, MAX_EXPIRE_AFTER_MS)
    if metadata is not None:
        check_json(metadata, "metadata")
        body["metadata"] = _canonical_json(metadata)
    if payload_metadata is not None:
        check_json(payload_metadata, "payload_metadata")
        body["payload_metadata"] = _canonical_json(payload_metadata)
    if headers is not None:
        if not isinstance(headers, Mapping):
            raise TypeError(f"headers must be a mapping of str to str, got {type(headers).__name__}")
        for k, v in headers.items():
            check_str(k, "header name", empty=True)
            check_str(v, f"header {k!r}", empty=True)
        if headers:
            body["headers"] = {k: headers[k] for k in sorted(headers)}
    if (t := _check_timeout_ms(timeout_ms)) is not None:
        body["timeout_ms"] = t
    return body


def read_request(
    id: int,
    journal: str,
    *,
    credit: int,
    topic: str | None = None,
    from_seq_nr: int | None = None,
    to_seq_nr: int | None = None,
    max_count: int | None = None,
    timeout_ms: int | None = None,
) -> dict[str, Any]:
    """``read``: stream events ``from_seq_nr..to_seq_nr`` (at most ``max_count``), ``credit`` up front."""
    body: dict[str, Any] = {"id": _check_id(id), "op": "read", "journal": check_str(journal, "journal")}
    if topic is not None:
        body["topic"] = check_topic(topic)
    if from_seq_nr is not None:
        body["from"] = check_seq_nr(from_seq_nr, "from_seq_nr")
    if to_seq_nr is not None:
        body["to"] = check_seq_nr(to_seq_nr, "to_seq_nr")
    if max_count is not None:
        body["max"] = _check_int(max_count, "max_count", 1, MAX_SEQ_NR)
    body["credit"] = _check_int(credit, "credit", 0, MAX_CREDIT)
    if (t := _check_timeout_ms(timeout_ms)) is not None:
        body["timeout_ms"] = t
    return body


def subscribe_request(
    id: int,
    journal: str,
    *,
    credit: int,
    topic: str | None = None,
    from_seq_nr: int | None = None,
    timeout_ms: int | None = None,
) -> dict[str, Any]:
    """``subscribe``: the journal's events from ``from_seq_nr`` on, then each new one; never ends."""
    body = _journal_request("subscribe", id, journal, topic)
    if from_seq_nr is not None:
        body["from"] = check_seq_nr(from_seq_nr, "from_seq_nr")
    body["credit"] = _check_int(credit, "credit", 0, MAX_CREDIT)
    if (t := _check_timeout_ms(timeout_ms)) is not None:
        body["timeout_ms"] = t
    return body


def subscribe_all_request(
    id: int,
    *,
    credit: int,
    topic: str | None = None,
    start: str | None = None,
    offsets: Mapping[int, int] | None = None,
    timeout_ms: int | None = None,
) -> dict[str, Any]:
    """``subscribe_all``: every event of the topic; ``offsets`` maps partitions to the first offset
    to deliver, the others start at ``start`` (``"earliest"``, the default, or ``"latest"``)."""
    body: dict[str, Any] = {"id": _check_id(id), "op": "subscribe_all"}
    if topic is not None:
        body["topic"] = check_topic(topic)
    if start is not None:
        if start not in ("earliest", "latest"):
            raise ValueError(f"start must be 'earliest' or 'latest', got {start!r}")
        body["from"] = start
    if offsets:
        body["offsets"] = [
            {
                "partition": _check_int(p, "partition", 0, 2**31 - 1),
                "offset": _check_int(o, "offset", 0, 2**63 - 1),
            }
            for p, o in sorted(offsets.items())
        ]
    body["credit"] = _check_int(credit, "credit", 0, MAX_CREDIT)
    if (t := _check_timeout_ms(timeout_ms)) is not None:
        body["timeout_ms"] = t
    return body


def credit_request(id: int, n: int) -> dict[str, Any]:
    """``credit``: grant read stream ``id`` ``n`` more events. Gets no reply."""
    return {"id": _check_int(id, "id", 1, MAX_ID), "op": "credit", "n": _check_int(n, "n", 1, MAX_CREDIT)}


def cancel_request(id: int) -> dict[str, Any]:
    """``cancel``: stop read stream ``id``; it ends with ``CANCELLED`` (or its end frame)."""
    return {"id": _check_int(id, "id", 1, MAX_ID), "op": "cancel"}


def _journal_request(
    op: str, id: int, journal: str, topic: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"id": _check_id(id), "op": op, "journal": check_str(journal, "journal")}
    if topic is not None:
        body["topic"] = check_topic(topic)
    return body


def pointer_request(
    id: int, journal: str, *, topic: str | None = None, timeout_ms: int | None = None
) -> dict[str, Any]:
    """``pointer``: the journal's last seq_nr."""
    body = _journal_request("pointer", id, journal, topic)
    if (t := _check_timeout_ms(timeout_ms)) is not None:
        body["timeout_ms"] = t
    return body


def delete_request(
    id: int, journal: str, to: int, *, topic: str | None = None, timeout_ms: int | None = None
) -> dict[str, Any]:
    """``delete``: delete events with seq_nr ≤ ``to`` (clamped to the journal's last seq_nr)."""
    body = _journal_request("delete", id, journal, topic)
    body["to"] = check_seq_nr(to, "to_seq_nr")
    if (t := _check_timeout_ms(timeout_ms)) is not None:
        body["timeout_ms"] = t
    return body


def purge_request(
    id: int, journal: str, *, topic: str | None = None, timeout_ms: int | None = None
) -> dict[str, Any]:
    """``purge``: remove the journal completely."""
    body = _journal_request("purge", id, journal, topic)
    if (t := _check_timeout_ms(timeout_ms)) is not None:
        body["timeout_ms"] = t
    return body


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def save_snapshot_request(
    id: int,
    journal: str,
    seq_nr: int,
    payload: Any = None,
    payload_type: PayloadType | None = None,
    *,
    topic: str | None = None,
    metadata: Any = None,
    timestamp_ms: int | None = None,
    timeout_ms: int | None = None,
) -> dict[str, Any]:
    """``save_snapshot``: the journal's state after the events up to ``seq_nr``; the payload is
    typed as an event's (bytes, str or a JSON value, or ``payload_type`` given)."""
    body = _journal_request("save_snapshot", id, journal, topic)
    body["seq_nr"] = check_seq_nr(seq_nr, "seq_nr")
    ev = Event(body["seq_nr"], payload, payload_type=payload_type)
    if ev.payload_type is not None:
        body["payload"] = _canonical_json(ev.payload) if ev.payload_type == "json" else ev.payload
        body["payload_type"] = ev.payload_type
    if metadata is not None:
        check_json(metadata, "metadata")
        body["metadata"] = _canonical_json(metadata)
    if timestamp_ms is not None:
        body["timestamp"] = _check_int(timestamp_ms, "timestamp", _INT64_MIN, _INT64_MAX)
    if (t := _check_timeout_ms(timeout_ms)) is not None:
        body["timeout_ms"] = t
    return body


def load_snapshot_request(
    id: int,
    journal: str,
    *,
    topic: str | None = None,
    max_seq_nr: int | None = None,
    max_timestamp_ms: int | None = None,
    min_seq_nr: int | None = None,
    min_timestamp_ms: int | None = None,
    timeout_ms: int | None = None,
) -> dict[str, Any]:
    """``load_snapshot``: the selected snapshot with the highest seq_nr."""
    return delete_snapshots_request(
        id, journal, topic=topic, max_seq_nr=max_seq_nr, max_timestamp_ms=max_timestamp_ms,
        min_seq_nr=min_seq_nr, min_timestamp_ms=min_timestamp_ms, timeout_ms=timeout_ms,
        op="load_snapshot",
    )


def delete_snapshots_request(
    id: int,
    journal: str,
    *,
    topic: str | None = None,
    seq_nr: int | None = None,
    max_seq_nr: int | None = None,
    max_timestamp_ms: int | None = None,
    min_seq_nr: int | None = None,
    min_timestamp_ms: int | None = None,
    timeout_ms: int | None = None,
    op: str = "delete_snapshots",
) -> dict[str, Any]:
    """``delete_snapshots``: the snapshots the criteria select (only ``seq_nr``'s, when given).
    With ``op="load_snapshot"`` (and no ``seq_nr``), the same selection for load_snapshot."""
    body = _journal_request(op, id, journal, topic)
    if seq_nr is not None:
        body["seq_nr"] = check_seq_nr(seq_nr, "seq_nr")
    for key, v, lo, hi, default in (
        ("max_seq_nr", max_seq_nr, 0, MAX_SEQ_NR, MAX_SEQ_NR),
        ("max_timestamp", max_timestamp_ms, _INT64_MIN, _INT64_MAX, _INT64_MAX),
        ("min_seq_nr", min_seq_nr, 0, MAX_SEQ_NR, 0),
        ("min_timestamp", min_timestamp_ms, _INT64_MIN, _INT64_MAX, _INT64_MIN),
    ):
        # A bound equal to its default is left out: the canonical form.
        if v is not None and _check_int(v, key, lo, hi) != default:
            body[key] = v
    if (t := _check_timeout_ms(timeout_ms)) is not None:
        body["timeout_ms"] = t
    return body


def ping_request(id: int, *, timeout_ms: int | None = None) -> dict[str, Any]:
    """``ping``: a liveness check that touches no backend."""
    body: dict[str, Any] = {"id": _check_id(id), "op": "ping"}
    if (t := _check_timeout_ms(timeout_ms)) is not None:
        body["timeout_ms"] = t
    return body


# ---------------------------------------------------------------------------------------------
# Replies


@dataclass(frozen=True)
class ReadEvents:
    """An events frame of a read stream."""

    records: tuple[EventRecord, ...]


@dataclass(frozen=True)
class TopicEvents:
    """An events frame of a subscribe_all stream."""

    records: tuple[TopicEventRecord, ...]


@dataclass(frozen=True)
class ReadEnd:
    """The end frame of a read stream: the journal's highest seq_nr as of the read's Mark."""

    highest_seq_nr: int | None


def error_from_wire(code: int, message: str, retryable: bool | None = None) -> JournalError:
    """The exception for an error frame: the code's class, else its family's, else JournalError."""
    cls = _codes.ERRORS_BY_CODE.get(code) or _codes.FAMILY_BY_HUNDREDS.get(code // 100, JournalError)
    return cls(message, code=code, retryable=retryable)


def _bad(what: str, detail: str) -> FrameError:
    return FrameError(f"bad {what} from the sidecar: {detail}")


def _get_int(m: Mapping[str, Any], key: str, what: str, *, nullable: bool = False) -> Any:
    v = m.get(key)
    if v is None:
        if nullable:
            return None
        raise _bad(what, f"{key} is missing")
    if not isinstance(v, int) or isinstance(v, bool):
        raise _bad(what, f"{key} is a {type(v).__name__}, not an int")
    return v


def _get_str(m: Mapping[str, Any], key: str, what: str, *, nullable: bool = False) -> Any:
    v = m.get(key)
    if v is None:
        if nullable:
            return None
        raise _bad(what, f"{key} is missing")
    if not isinstance(v, str):
        raise _bad(what, f"{key} is a {type(v).__name__}, not a str")
    return v


def _parse_error(body: Mapping[str, Any]) -> JournalError:
    err = body["error"]
    if not isinstance(err, dict):
        raise _bad("error frame", f"error is a {type(err).__name__}, not a map")
    code = _get_int(err, "code", "error frame")
    message = _get_str(err, "message", "error frame", nullable=True) or ""
    retryable = err.get("retryable")
    if retryable is not None and not isinstance(retryable, bool):
        raise _bad("error frame", "retryable is not a bool")
    e = error_from_wire(code, message, retryable)
    e.highest_seq_nr = _get_int(err, "highest_seq_nr", "error frame", nullable=True)
    return e


def _timestamp(ms: int) -> datetime:
    try:
        return _EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        return _DATETIME_MIN if ms < 0 else _DATETIME_MAX


def parse_event_record(m: object) -> EventRecord:
    """Turn an event record map into an :class:`~kjournal.model.EventRecord`."""
    what = "event record"
    if not isinstance(m, dict):
        raise _bad(what, f"a {type(m).__name__}, not a map")
    seq_nr = _get_int(m, "seq_nr", what)
    if not 1 <= seq_nr <= MAX_SEQ_NR:
        raise _bad(what, f"seq_nr {seq_nr} out of range")
    tags = m.get("tags")
    if tags is None:
        tags = []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise _bad(what, "tags is not an array of str")
    payload = m.get("payload")
    ptype = m.get("payload_type")
    if ptype is not None and ptype not in _PAYLOAD_TYPES:
        raise _bad(what, f"unknown payload_type {ptype!r}")
    if ptype is None and payload is not None:
        raise _bad(what, "a payload without payload_type")
    if ptype == "binary" and not isinstance(payload, bytes):
        raise _bad(what, f"a binary payload that is a {type(payload).__name__}")
    if ptype == "text" and not isinstance(payload, str):
        raise _bad(what, f"a text payload that is a {type(payload).__name__}")
    if ptype == "json" and isinstance(payload, bytes):
        raise _bad(what, "a json payload that is bin")
    headers = m.get("headers")
    if headers is None:
        headers = {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise _bad(what, "headers is not a map of str to str")
    expire = _get_int(m, "expire_after_ms", what, nullable=True)
    ptype_typed: PayloadType | None = ptype
    return EventRecord(
        seq_nr=seq_nr,
        tags=frozenset(tags),
        payload=payload,
        payload_type=ptype_typed,
        timestamp=_timestamp(_get_int(m, "timestamp", what)),
        partition=_get_int(m, "partition", what),
        offset=_get_int(m, "offset", what),
        origin=_get_str(m, "origin", what, nullable=True),
        version=_get_str(m, "version", what, nullable=True),
        metadata=m.get("metadata"),
        expire_after=None if expire is None else timedelta(milliseconds=expire),
        payload_metadata=m.get("payload_metadata"),
        headers=headers,
    )


def parse_snapshot(m: object) -> Snapshot:
    """Turn a load_snapshot reply's snapshot map into a :class:`~kjournal.model.Snapshot`."""
    what = "snapshot"
    if not isinstance(m, dict):
        raise _bad(what, f"a {type(m).__name__}, not a map")
    seq_nr = _get_int(m, "seq_nr", what)
    if not 1 <= seq_nr <= MAX_SEQ_NR:
        raise _bad(what, f"seq_nr {seq_nr} out of range")
    ptype = m.get("payload_type")
    if ptype is not None and ptype not in _PAYLOAD_TYPES:
        raise _bad(what, f"unknown payload_type {ptype!r}")
    ms = _get_int(m, "timestamp", what)
    return Snapshot(
        seq_nr=seq_nr,
        payload=m.get("payload"),
        payload_type=ptype,
        timestamp=_timestamp(ms),
        timestamp_ms=ms,
        metadata=m.get("metadata"),
        origin=_get_str(m, "origin", what, nullable=True),
        version=_get_str(m, "version", what, nullable=True),
    )


def _parse_partition_offset(body: Mapping[str, Any], what: str) -> PartitionOffset:
    return PartitionOffset(_get_int(body, "partition", what), _get_int(body, "offset", what))


def parse_reply(op: str, body: Mapping[str, Any]) -> Any:
    """Parse a reply to a request of ``op``; an error frame gives a JournalError (not raised).

    Results: hello → :class:`~kjournal.model.ServerInfo`; append, purge →
    :class:`~kjournal.model.PartitionOffset`; delete → PartitionOffset or None; pointer → int or
    None; read → :class:`ReadEvents` or :class:`ReadEnd`; ping → None; save_snapshot → the stored
    timestamp (datetime); load_snapshot → :class:`~kjournal.model.Snapshot` or None;
    delete_snapshots → int. Unknown keys are ignored.
    Raises :class:`FrameError` when the reply does not match the spec.
    """
    if "error" in body:
        return _parse_error(body)
    what = f"{op} reply"
    if op == "hello":
        return ServerInfo(
            version=_get_int(body, "version", what),
            server=_get_str(body, "server", what, nullable=True) or "",
            max_frame_bytes=_get_int(body, "max_frame_bytes", what),
            max_in_flight=_get_int(body, "max_in_flight", what),
            default_topic=_get_str(body, "default_topic", what),
            default_timeout_ms=_get_int(body, "default_timeout_ms", what),
        )
    if op in ("append", "purge"):
        return _parse_partition_offset(body, what)
    if op == "delete":
        if body.get("partition") is None and body.get("offset") is None:
            return None
        return _parse_partition_offset(body, what)
    if op == "pointer":
        seq_nr = _get_int(body, "seq_nr", what, nullable=True)
        if seq_nr is not None and not 1 <= seq_nr <= MAX_SEQ_NR:
            raise _bad(what, f"seq_nr {seq_nr} out of range")
        return seq_nr
    if op == "read":
        if "events" in body:
            events = body["events"]
            if not isinstance(events, list):
                raise _bad(what, "events is not an array")
            return ReadEvents(tuple(parse_event_record(e) for e in events))
        if body.get("end") is True:
            highest = _get_int(body, "highest_seq_nr", what, nullable=True)
            if highest is not None and not 1 <= highest <= MAX_SEQ_NR:
                raise _bad(what, f"highest_seq_nr {highest} out of range")
            return ReadEnd(highest)
        raise _bad(what, "a frame with neither events, end nor error")
    if op == "subscribe":
        return ReadEvents(tuple(parse_event_record(e) for e in _events(body, what)))
    if op == "subscribe_all":
        return TopicEvents(tuple(_parse_topic_record(e) for e in _events(body, what)))
    if op == "ping":
        return None
    if op == "save_snapshot":
        return _timestamp(_get_int(body, "timestamp", what))
    if op == "load_snapshot":
        snap = body.get("snapshot")
        return None if snap is None else parse_snapshot(snap)
    if op == "delete_snapshots":
        return _get_int(body, "deleted", what)
    raise ValueError(f"unknown op {op!r}")


def _events(body: Mapping[str, Any], what: str) -> list[Any]:
    events = body.get("events")
    if not isinstance(events, list):
        raise _bad(what, "a frame with neither events nor error")
    return events


def _parse_topic_record(m: object) -> TopicEventRecord:
    if not isinstance(m, dict):
        raise _bad("topic event record", f"a {type(m).__name__}, not a map")
    return TopicEventRecord(_get_str(m, "journal", "topic event record"), parse_event_record(m))


# ---------------------------------------------------------------------------------------------
# Connection state


@dataclass(frozen=True)
class Reply:
    """A reply to the request ``id`` (of ``op``).

    ``value`` is the parsed result (see :func:`parse_reply`) or a
    :class:`~kjournal.errors.JournalError` for an error frame. ``final`` is true when nothing more
    will arrive for this id (every reply but a read's events frames); the id is then free.
    """

    id: int
    op: str
    value: Any
    final: bool


@dataclass(frozen=True)
class ConnectionNotice:
    """An error frame with id 0: about the connection, not a request.

    ``fatal`` errors (``FRAME_TOO_LARGE``, ``TOO_MANY_CONNECTIONS``, ``SHUTTING_DOWN``) are followed
    by the sidecar closing the connection; others (a bad frame the client sent, …) are only news.
    """

    error: JournalError
    fatal: bool


class Session:
    """One connection's protocol state, without I/O. Not thread-safe: the caller serialises.

    Usage: send the frame of ``register(hello_request(0))``; ``receive(data)`` with everything
    read from the socket, acting on the returned replies; ``register`` further requests;
    ``control`` for credit and cancel. The hello reply sets :attr:`server_info` and the frame
    limit.
    """

    def __init__(self) -> None:
        self.decoder = FrameDecoder(DEFAULT_MAX_FRAME_BYTES)
        self.server_info: ServerInfo | None = None
        self._next_id = 1
        self._ops: dict[int, str] = {}

    @property
    def max_frame_bytes(self) -> int:
        """The largest frame body either side may send on this connection."""
        return self.decoder.max_frame_bytes

    @property
    def in_flight(self) -> int:
        """Requests sent whose final reply has not arrived (open read streams included)."""
        return len(self._ops)

    def is_in_flight(self, id: int) -> bool:
        """Whether request ``id`` still awaits its final reply."""
        return id in self._ops

    def _encode(self, body: Mapping[str, Any]) -> bytes:
        frame = pack_frame(body)
        if len(frame) - _PREFIX > self.max_frame_bytes:
            raise ValueError(
                f"{body.get('op')} request of {len(frame) - _PREFIX} bytes exceeds the "
                f"sidecar's max_frame_bytes {self.max_frame_bytes}"
            )
        return frame

    def register(self, body: dict[str, Any]) -> tuple[int, bytes]:
        """Give request ``body`` (built with id 0) a fresh id; return the id and its frame.

        Raises ValueError, before registering anything, if the frame is too large.
        """
        id = self._next_id
        body["id"] = id
        frame = self._encode(body)
        self._next_id = 1 if id >= MAX_ID else id + 1
        while self._next_id in self._ops:  # only after 2^53 requests: skip ids still in flight
            self._next_id += 1
        self._ops[id] = str(body["op"])
        return id, frame

    def control(self, body: Mapping[str, Any]) -> bytes:
        """The frame of a credit or cancel (which are not requests: no id, no reply)."""
        return self._encode(body)

    def receive(self, data: bytes) -> list[Reply | ConnectionNotice]:
        """Feed bytes read from the socket; return the replies they complete, in order.

        Replies for ids not in flight (late replies to abandoned requests are still in flight;
        these would be a sidecar bug) are dropped. Raises :class:`FrameError` for anything
        unreadable: the caller should then close the connection.
        """
        self.decoder.feed(data)
        out: list[Reply | ConnectionNotice] = []
        for body in self.decoder:
            item = self._dispatch(body)
            if item is not None:
                out.append(item)
        return out

    def _dispatch(self, body: dict[str, Any]) -> Reply | ConnectionNotice | None:
        id = body.get("id")
        if not isinstance(id, int) or isinstance(id, bool):
            raise _bad("reply", f"id is {id!r}")
        if id == 0:
            if "error" not in body:
                raise _bad("reply", "id 0 without an error")
            err = _parse_error(body)
            return ConnectionNotice(err, err.code in _FATAL_CODES)
        op = self._ops.get(id)
        if op is None:
            return None
        value = parse_reply(op, body)
        final = not isinstance(value, (ReadEvents, TopicEvents))
        if final:
            del self._ops[id]
        if op == "hello" and isinstance(value, ServerInfo):
            self.server_info = value
            self.decoder.max_frame_bytes = value.max_frame_bytes
        return Reply(id, op, value, final)


class CreditWindow:
    """When to grant credit to a read stream.

    Grants ``window`` events up front (fewer if ``max_count`` is smaller), then, each time half
    the window has been consumed, grants what was consumed — so the sidecar stays about one
    window ahead of the consumer and the client never buffers more than ``window`` events.
    """

    def __init__(self, window: int = 256, max_count: int | None = None) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self.window = min(window, MAX_CREDIT)
        self._limit = max_count
        self.initial = self.window if max_count is None else min(self.window, max_count)
        self._granted = self.initial
        self._consumed = 0

    def consumed(self, n: int = 1) -> int:
        """Record ``n`` events handed to the consumer; return how much credit to grant now (0: none)."""
        self._consumed += n
        if self._consumed < max(1, self.window // 2):
            return 0
        grant = self._consumed
        self._consumed = 0
        if self._limit is not None:
            grant = min(grant, self._limit - self._granted)
        grant = max(0, min(grant, MAX_CREDIT))
        self._granted += grant
        return grant
