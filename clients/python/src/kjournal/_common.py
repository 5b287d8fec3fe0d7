"""What the blocking and the asyncio clients share above the protocol: argument handling."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from collections import deque
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from . import protocol
from .model import MAX_SEQ_NR, Event, check_seq_nr, check_str

if TYPE_CHECKING:
    from .aio import _AsyncConnection, _Waiter

T = TypeVar("T")

#: Where the sidecar's socket is when neither ``path`` nor ``$KJOURNAL_SOCKET`` says.
DEFAULT_SOCKET_PATH = "/var/run/kjournal/kjournal.sock"
#: The environment variable naming the socket.
SOCKET_ENV = "KJOURNAL_SOCKET"
#: How long the client waits beyond a request's deadline before it gives up on the sidecar.
LOCAL_TIMEOUT_MARGIN = 2.0
#: Events granted ahead of a read's consumer.
DEFAULT_READ_WINDOW = 256

Timeout = float | timedelta | None


def socket_path(path: str | os.PathLike[str] | None) -> str:
    """``path``, else ``$KJOURNAL_SOCKET``, else :data:`DEFAULT_SOCKET_PATH`."""
    if path is not None:
        return os.fspath(path)
    return os.environ.get(SOCKET_ENV) or DEFAULT_SOCKET_PATH


def seconds(value: object, what: str) -> float | None:
    """A timeout given as seconds or a timedelta, as positive seconds (None stays None)."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        s = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        s = float(value)
    else:
        raise TypeError(f"{what} must be seconds (float) or a timedelta, got {type(value).__name__}")
    if not s > 0 or math.isinf(s):
        raise ValueError(f"{what} must be positive and finite, got {value!r}")
    return s


def timeout_ms(value: object, what: str = "timeout") -> int | None:
    """A timeout as the protocol's ``timeout_ms`` (rounded up to whole milliseconds)."""
    s = seconds(value, what)
    if s is None:
        return None
    ms = max(1, math.ceil(s * 1000))
    if ms > protocol.MAX_TIMEOUT_MS:
        raise ValueError(f"{what} must be at most {protocol.MAX_TIMEOUT_MS} ms")
    return ms


def local_deadline(request_ms: int | None, default_ms: int | None) -> float:
    """Seconds the client waits for a reply: the request's deadline plus a margin."""
    ms = request_ms if request_ms is not None else (default_ms or 30_000)
    return ms / 1000 + LOCAL_TIMEOUT_MARGIN


def journal_args(id: object, topic: object) -> tuple[str, str | None]:
    """Validate a journal id and an optional topic."""
    jid = check_str(id, "journal id")
    if topic is not None:
        topic = protocol.check_topic(topic)
    return jid, topic


def append_body(
    journal: str,
    topic: str | None,
    events: Iterable[Event],
    expire_after: object,
    metadata: Any,
    payload_metadata: Any,
    headers: Mapping[str, str] | None,
    request_ms: int | None,
    expected_seq_nr: int | None = None,
) -> dict[str, Any]:
    """The append request map (id 0), with every argument checked."""
    if isinstance(events, (Event, str, bytes)) or not isinstance(events, Iterable):
        raise TypeError("events must be an iterable of Event")
    expire_ms: int | None = None
    if expire_after is not None:
        if not isinstance(expire_after, timedelta):
            raise TypeError(f"expire_after must be a timedelta, got {type(expire_after).__name__}")
        expire_ms = expire_after // timedelta(milliseconds=1)
        if not 1 <= expire_ms <= protocol.MAX_EXPIRE_AFTER_MS:
            raise ValueError(f"expire_after must be 1 ms..{protocol.MAX_EXPIRE_AFTER_MS} ms, got {expire_after}")
    return protocol.append_request(
        0,
        journal,
        list(events),
        topic=topic,
        expire_after_ms=expire_ms,
        metadata=metadata,
        payload_metadata=payload_metadata,
        headers=headers,
        timeout_ms=request_ms,
        expected_seq_nr=expected_seq_nr,
    )


def read_body(
    journal: str,
    topic: str | None,
    from_seq_nr: object,
    to_seq_nr: object,
    max_count: object,
    request_ms: int | None,
    window: int,
) -> tuple[dict[str, Any], protocol.CreditWindow]:
    """The read request map (id 0) and its credit window, with every argument checked.

    ``max_count=0`` reads no events but still learns the highest seq_nr: it is sent as an empty
    range (``from`` > ``to``), which the protocol answers with just the end frame.
    """
    frm = check_seq_nr(from_seq_nr, "from_seq_nr")
    to = None if to_seq_nr is None else check_seq_nr(to_seq_nr, "to_seq_nr")
    if max_count is not None:
        if not isinstance(max_count, int) or isinstance(max_count, bool):
            raise TypeError(f"max_count must be an int, got {type(max_count).__name__}")
        if not 0 <= max_count <= MAX_SEQ_NR:
            raise ValueError(f"max_count must be 0..{MAX_SEQ_NR}, got {max_count}")
    if max_count == 0:
        frm, to = (frm, frm - 1) if frm > 1 else (2, 1)
        credits = protocol.CreditWindow(window, 1)
        body = protocol.read_request(
            0, journal, topic=topic, from_seq_nr=frm, to_seq_nr=to, credit=0, timeout_ms=request_ms
        )
        return body, credits
    credits = protocol.CreditWindow(window, None if max_count is None else int(max_count))
    body = protocol.read_request(
        0,
        journal,
        topic=topic,
        from_seq_nr=None if frm == 1 else frm,
        to_seq_nr=to,
        max_count=None if max_count is None else int(max_count),
        credit=credits.initial,
        timeout_ms=request_ms,
    )
    return body, credits


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def epoch_ms(value: object, what: str) -> int | None:
    """A snapshot timestamp or bound: an aware datetime or int milliseconds since the epoch."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{what} must be an aware datetime (with tzinfo)")
        return (value - _EPOCH) // timedelta(milliseconds=1)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TypeError(f"{what} must be a datetime or int milliseconds, got {type(value).__name__}")


def criteria(
    max_seq_nr: int | None, max_timestamp: object, min_seq_nr: int | None, min_timestamp: object
) -> dict[str, Any]:
    """Snapshot selection criteria as the protocol builders' keyword arguments."""
    return {
        "max_seq_nr": max_seq_nr,
        "max_timestamp_ms": epoch_ms(max_timestamp, "max_timestamp"),
        "min_seq_nr": min_seq_nr,
        "min_timestamp_ms": epoch_ms(min_timestamp, "min_timestamp"),
    }


def recovery_read_args(snapshot: Any, to_seq_nr: int | None) -> dict[str, Any]:
    """The read arguments of a recovery: the events after the snapshot, up to ``to_seq_nr``."""
    start = 1 if snapshot is None else snapshot.seq_nr + 1
    if start > MAX_SEQ_NR:
        return {"from_seq_nr": MAX_SEQ_NR, "to_seq_nr": to_seq_nr, "max_count": 0}
    return {"from_seq_nr": start, "to_seq_nr": to_seq_nr}


class AsyncStreamIterator(Generic[T]):
    """What the asyncio iterators of a read and of a subscription share: the stream's state once
    started, and cancelling it when closed or dropped. A class rather than an async generator so
    that dropping it cancels the stream right away (``__del__``), instead of whenever the event
    loop gets round to finalizing a generator."""

    def __init__(self) -> None:
        self._conn: _AsyncConnection | None = None
        self._id = 0
        self._waiter: _Waiter | None = None
        self._buffer: deque[T] = deque()
        self._done = False

    def close(self, *, deferred: bool = False) -> None:
        """Cancel the stream if it is still open; a no-op when it already ended."""
        if self._done:
            return
        self._done = True
        self._buffer.clear()
        if self._conn is not None:
            self._conn.control(protocol.cancel_request(self._id), deferred=deferred)

    def __del__(self) -> None:
        try:
            self.close(deferred=True)
        except Exception:  # never raise from a finalizer (e.g. the event loop is gone)
            pass
