"""The values the API takes and returns: :class:`Event`, :class:`EventRecord`,
:class:`PartitionOffset`, :class:`ServerInfo`.

Payloads come in three kinds (``payload_type``):

* ``"binary"`` — :class:`bytes` (``bytearray`` and ``memoryview`` are accepted and copied to bytes);
* ``"text"`` — :class:`str`;
* ``"json"`` — any JSON value: ``None``, ``bool``, ``int`` (−2^63..2^64−1), finite ``float``,
  ``str``, ``list``/``tuple`` and ``dict`` with ``str`` keys, nested at most 128 deep.

Without an explicit ``payload_type`` the kind follows the Python type: bytes → binary, str → text,
anything else → json, and ``None`` means no payload. Say ``payload_type="json"`` to store a str as a
JSON string, or ``None`` as JSON null.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

__all__ = [
    "MAX_JSON_DEPTH",
    "MAX_SEQ_NR",
    "Event",
    "EventRecord",
    "PartitionOffset",
    "PayloadType",
    "Position",
    "ServerInfo",
    "TopicEventRecord",
    "check_json",
    "check_seq_nr",
]

#: The largest sequence number, 2^63−1. Sequence numbers start at 1.
MAX_SEQ_NR = 2**63 - 1

#: How deeply arrays and maps may nest in a JSON value.
MAX_JSON_DEPTH = 128

#: The kind of an event's payload.
PayloadType = Literal["binary", "text", "json"]

_PAYLOAD_TYPES: frozenset[str] = frozenset(("binary", "text", "json"))
_JSON_INT_MIN = -(2**63)
_JSON_INT_MAX = 2**64 - 1


def check_seq_nr(value: object, what: str = "seq_nr") -> int:
    """Return ``value`` if it is an int in 1..2^63−1; raise TypeError or ValueError otherwise."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be an int, got {type(value).__name__}")
    if not 1 <= value <= MAX_SEQ_NR:
        raise ValueError(f"{what} must be 1..{MAX_SEQ_NR}, got {value}")
    return int(value)


def check_str(value: object, what: str, *, empty: bool = False) -> str:
    """Return ``value`` if it is a str that encodes to UTF-8 (and is non-empty unless ``empty``)."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {type(value).__name__}")
    if not empty and not value:
        raise ValueError(f"{what} must not be empty")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"{what} is not valid UTF-8 (lone surrogate?): {e}") from None
    return value


def check_json(value: object, what: str = "value") -> None:
    """Raise TypeError or ValueError unless ``value`` is a JSON value the protocol can carry.

    Allowed: ``None``, ``bool``, ``int`` in −2^63..2^64−1, finite ``float``, ``str``, and
    ``list``/``tuple``/``dict`` (str keys) of those, nested at most :data:`MAX_JSON_DEPTH` deep.
    """
    # Iterative, so a deeply nested value cannot exhaust the Python stack before we reject it.
    stack: list[tuple[object, int, str]] = [(value, 0, what)]
    while stack:
        v, depth, path = stack.pop()
        if v is None or isinstance(v, (bool, str)):
            if isinstance(v, str):
                check_str(v, path, empty=True)
            continue
        if isinstance(v, int):
            if not _JSON_INT_MIN <= v <= _JSON_INT_MAX:
                raise ValueError(f"{path}: integer {v} is outside -2^63..2^64-1")
            continue
        if isinstance(v, float):
            if not math.isfinite(v):
                raise ValueError(f"{path}: {v} is not a JSON number")
            continue
        if isinstance(v, (list, tuple)):
            if depth >= MAX_JSON_DEPTH:
                raise ValueError(f"{path}: nested deeper than {MAX_JSON_DEPTH}")
            for i, item in enumerate(v):
                stack.append((item, depth + 1, f"{path}[{i}]"))
            continue
        if isinstance(v, dict):
            if depth >= MAX_JSON_DEPTH:
                raise ValueError(f"{path}: nested deeper than {MAX_JSON_DEPTH}")
            for k, item in v.items():
                if not isinstance(k, str):
                    raise TypeError(f"{path}: JSON object keys must be str, got {type(k).__name__}")
                check_str(k, f"{path} key", empty=True)
                stack.append((item, depth + 1, f"{path}[{k!r}]"))
            continue
        raise TypeError(f"{path}: {type(v).__name__} is not JSON-serialisable")


@dataclass(frozen=True, init=False)
class Event:
    """An event to append: its sequence number, optional payload and tags.

    ``Event(seq_nr, payload=None, tags=frozenset(), payload_type=None)``. ``tags`` takes any
    iterable of str and is stored as a frozenset. ``payload_type`` is inferred when not given
    (see :mod:`kjournal.model`), so ``Event(1, "hi").payload_type == "text"``. Invalid values
    raise :class:`TypeError` or :class:`ValueError` here, before anything is sent.

    Example::

        Event(1, {"amount": 100})                  # json
        Event(2, b"\\x00\\x01", tags={"binary"})     # binary
        Event(3, "hello")                          # text
        Event(4, "hello", payload_type="json")     # the JSON string "hello"
        Event(5)                                   # no payload
    """

    seq_nr: int
    payload: Any
    tags: frozenset[str]
    payload_type: PayloadType | None

    def __init__(
        self,
        seq_nr: int,
        payload: Any = None,
        tags: Iterable[str] = frozenset(),
        payload_type: PayloadType | None = None,
    ) -> None:
        check_seq_nr(seq_nr)
        if isinstance(tags, (str, bytes)):
            raise TypeError("tags must be an iterable of str (a set), not a single str")
        tag_set = frozenset(tags)
        for t in tag_set:
            check_str(t, "tag", empty=True)
        payload, kind = _resolve_payload(payload, payload_type)
        object.__setattr__(self, "seq_nr", int(seq_nr))
        object.__setattr__(self, "payload", payload)
        object.__setattr__(self, "tags", tag_set)
        object.__setattr__(self, "payload_type", kind)

    @property
    def has_payload(self) -> bool:
        """Whether the event carries a payload (JSON null counts as one)."""
        return self.payload_type is not None


def _resolve_payload(payload: Any, payload_type: object) -> tuple[Any, PayloadType | None]:
    if payload_type is not None:
        if not isinstance(payload_type, str):
            raise TypeError(f"payload_type must be a str, got {type(payload_type).__name__}")
        if payload_type not in _PAYLOAD_TYPES:
            raise ValueError(f"payload_type must be 'binary', 'text' or 'json', got {payload_type!r}")
    is_bytes = isinstance(payload, (bytes, bytearray, memoryview))
    if payload_type is None:
        if payload is None:
            return None, None
        if is_bytes:
            return bytes(payload), "binary"
        if isinstance(payload, str):
            return check_str(payload, "payload", empty=True), "text"
        check_json(payload, "payload")
        return payload, "json"
    if payload_type == "binary":
        if not is_bytes:
            raise TypeError(f"a binary payload must be bytes, got {type(payload).__name__}")
        return bytes(payload), "binary"
    if payload_type == "text":
        if not isinstance(payload, str):
            raise TypeError(f"a text payload must be a str, got {type(payload).__name__}")
        return check_str(payload, "payload", empty=True), "text"
    if is_bytes:
        raise TypeError("a json payload cannot be bytes; use payload_type='binary'")
    check_json(payload, "payload")
    return payload, "json"


class PartitionOffset(NamedTuple):
    """Where Kafka stored an action: partition and offset of its record."""

    partition: int
    offset: int


@dataclass(frozen=True)
class EventRecord:
    """An event read back from a journal, with everything the sidecar knows about it.

    Attributes:
        seq_nr: the event's sequence number.
        tags: its tags.
        payload: bytes (``payload_type == "binary"``), str (``"text"``), a JSON value
            (``"json"``; ``None`` is JSON null), or ``None`` when there is no payload.
        payload_type: the payload's kind, ``None`` when the event has no payload.
        timestamp: the Kafka record's timestamp, an aware :class:`~datetime.datetime` in UTC
            (clamped to the range of ``datetime`` for absurd values).
        partition: Kafka partition of the record that carried the event.
        offset: Kafka offset of that record; events appended together share it.
        origin: who wrote the event (usually a host name), ``None`` when unknown.
        version: the writing library's version, ``None`` when unknown.
        metadata: the append's ``metadata`` JSON value, ``None`` when none.
        expire_after: the append's ``expire_after``, ``None`` when none.
        payload_metadata: the append's ``payload_metadata`` JSON value, ``None`` when none.
        headers: the Kafka record headers.
    """

    seq_nr: int
    tags: frozenset[str]
    payload: Any
    payload_type: PayloadType | None
    timestamp: datetime
    partition: int
    offset: int
    origin: str | None
    version: str | None
    metadata: Any
    expire_after: timedelta | None
    payload_metadata: Any
    headers: Mapping[str, str]

    @property
    def event(self) -> Event:
        """The record as an :class:`Event` (seq_nr, payload, tags, payload_type), e.g. to copy it."""
        return Event(self.seq_nr, self.payload, self.tags, self.payload_type)


@dataclass(frozen=True)
class Snapshot:
    """A stored snapshot of a journal's state (see :meth:`kjournal.Journal.save_snapshot`).

    Attributes:
        seq_nr: the seq_nr of the last event the snapshot reflects.
        payload: the state: bytes, str or a JSON value, as ``payload_type`` says; ``None`` with
            ``payload_type`` ``None`` when it was saved without one.
        payload_type: ``"binary"``, ``"text"``, ``"json"`` or ``None``.
        timestamp: the snapshot's time, an aware :class:`~datetime.datetime` in UTC.
        timestamp_ms: the same, in milliseconds since the Unix epoch (exact, for criteria).
        metadata: the JSON value saved with it, ``None`` when none.
        origin: the host of the sidecar that saved it, ``None`` when unknown.
        version: the saving library's version, ``None`` when unknown.
    """

    seq_nr: int
    payload: Any
    payload_type: PayloadType | None
    timestamp: datetime
    timestamp_ms: int
    metadata: Any = None
    origin: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class Recovery:
    """What :meth:`kjournal.Journal.recover` found: the latest snapshot and the events after it.

    Attributes:
        snapshot: the latest selected snapshot, ``None`` when there is none.
        events: the events after the snapshot's seq_nr (all events without a snapshot).
        highest_seq_nr: the journal's last seq_nr as of the read, ``None`` when it has no events.
    """

    snapshot: Snapshot | None
    events: list[EventRecord]
    highest_seq_nr: int | None


@dataclass(frozen=True)
class ServerInfo:
    """The sidecar's answer to hello: the negotiated version and the connection's limits."""

    version: int
    server: str
    max_frame_bytes: int
    max_in_flight: int
    default_topic: str
    default_timeout_ms: int

    @property
    def default_timeout(self) -> timedelta:
        """The deadline of requests sent without a timeout."""
        return timedelta(milliseconds=self.default_timeout_ms)


class Position(NamedTuple):
    """Where a projection fed by ``subscribe_all`` got to in one partition: the partition, offset
    and seq_nr of the last event it applied. Store it with the projection's state; pass the stored
    positions as ``after`` to resume exactly after that event (events appended together share an
    offset, so the seq_nr tells how far into that record the projection got)."""

    partition: int
    offset: int
    seq_nr: int


@dataclass(frozen=True)
class TopicEventRecord:
    """An event delivered by ``subscribe_all``: the journal it belongs to and the record.

    The record's fields are also available directly (``r.seq_nr``, ``r.payload``, …);
    :attr:`position` is what a projection stores to resume after this event.
    """

    journal: str
    record: EventRecord

    def __getattr__(self, name: str) -> Any:
        if name == "record":  # not set yet (e.g. during unpickling)
            raise AttributeError(name)
        return getattr(self.record, name)

    @property
    def position(self) -> Position:
        """The position to store after applying this event."""
        return Position(self.record.partition, self.record.offset, self.record.seq_nr)
