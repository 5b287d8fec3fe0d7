"""The blocking client: :class:`Client`, :class:`Journal`, :class:`ReadStream`.

One :class:`Client` holds one connection to the sidecar and is safe to share between threads:
requests from any number of threads are multiplexed on it. There is no background thread: a thread
waiting for a reply reads the socket while no other thread does and hands each reply it reads to the
thread waiting for it (a lone thread reads its own replies, without a thread wake-up per reply). When the connection is lost, every request in
flight fails with :class:`~kjournal.errors.JournalConnectionError` and the next call reconnects.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
import time
import weakref
from collections import deque
from collections.abc import Generator, Iterable, Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any

from . import _common, protocol
from . import subscription as _subscription
from ._codes import JournalTimeoutError
from ._common import Timeout
from .errors import JournalConnectionError, JournalError
from .model import (
    Event,
    EventRecord,
    PartitionOffset,
    PayloadType,
    Position,
    Recovery,
    ServerInfo,
    Snapshot,
    TopicEventRecord,
)
from .protocol import ConnectionNotice, ReadEnd, ReadEvents, Session
from .subscription import Subscription

__all__ = ["Client", "Journal", "ReadStream"]

log = logging.getLogger("kjournal")

_RECV_SIZE = 256 * 1024
# A connection idle this long (seconds) is checked for a close by the sidecar before it is reused.
_IDLE_CHECK_AFTER = 0.05


def _copy(err: JournalError) -> JournalError:
    """A fresh instance of ``err``, so that each waiting thread raises its own exception."""
    return type(err)(err.message, code=err.code, retryable=err.retryable)


class _Waiter:
    __slots__ = ("cond", "discard", "items")

    def __init__(self, lock: threading.RLock) -> None:
        self.items: deque[Any] = deque()  # parsed replies and errors, in arrival order
        self.cond = threading.Condition(lock)  # notified when items grow or the reader role is free
        self.discard = False  # abandoned (timed out, cancelled stream): drop what arrives


class _Connection:
    """One socket and its protocol session, read by the threads waiting for replies.

    There is no reader thread: a thread waiting for a reply reads the socket itself while no other
    thread does (it holds "the reader role"), handing what it reads for other requests to their
    waiters, and gives the role up as soon as its own reply is there. A lone caller thus reads its
    own reply, with no thread wake-up in between; when several threads share the connection, the
    others sleep until the reader hands them a reply or the role.
    """

    def __init__(self, path: str, connect_timeout: float) -> None:
        self.path = path
        self._session = Session()
        # Guards _session, _waiters, _closed, _outbox, _reading. Reentrant because a ReadStream
        # dropped in a reference cycle is finalized by the garbage collector in whatever thread it
        # runs, possibly one holding this lock, and its cleanup sends a cancel.
        self._lock = threading.RLock()
        self._slot_free = threading.Condition(self._lock)
        self._wlock = threading.Lock()  # one frame at a time on the socket
        self._outbox: deque[bytes] = deque()  # credit and cancel frames waiting for _wlock
        self._waiters: dict[int, _Waiter] = {}
        self._blocked: dict[_Waiter, None] = {}  # waiters asleep in wait(), oldest first
        self._reading = False  # a thread holds the reader role
        self._last_read = 0.0  # time.monotonic() of the last read from the socket
        self._closed = False
        self._close_error: JournalError | None = None
        self.server_info: ServerInfo | None = None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(connect_timeout)
            sock.connect(path)
            sock.settimeout(None)
        except OSError as e:
            sock.close()
            raise JournalConnectionError(f"cannot connect to the kjournal sidecar at {path}: {e}") from e
        self._sock = sock
        self._poll = select.poll()
        self._poll.register(sock, select.POLLIN)
        try:
            info = self.call(protocol.hello_request(0), connect_timeout, wait_for_slot=False)
        except BaseException:
            self.close(JournalConnectionError("hello failed"))
            raise
        assert isinstance(info, ServerInfo)
        self.server_info = info

    @property
    def closed(self) -> bool:
        return self._closed

    # -- sending --------------------------------------------------------------------------

    def start(
        self, body: dict[str, Any], timeout: float, *, wait_for_slot: bool = True
    ) -> tuple[int, _Waiter]:
        """Register and send a request; wait up to ``timeout`` for a free in-flight slot."""
        with self._lock:
            if wait_for_slot and self.server_info is not None:
                limit = self.server_info.max_in_flight
                ok = self._slot_free.wait_for(
                    lambda: self._closed or self._session.in_flight < limit, timeout
                )
                if not ok:
                    raise JournalTimeoutError(
                        f"no free request slot within {timeout:.1f}s ({limit} in flight)",
                        retryable=True,
                    )
            if self._closed:
                raise self._closed_error()
            id, frame = self._session.register(body)
            waiter = _Waiter(self._lock)
            self._waiters[id] = waiter
        self._send(frame)
        return id, waiter

    def _send(self, frame: bytes) -> None:
        try:
            with self._wlock:
                self._drain_outbox()  # control frames queued earlier go first
                self._sock.sendall(frame)
                self._drain_outbox()
        except OSError as e:
            self._lost_while_sending(e)
            raise self._closed_error() from e
        self._flush()

    def _drain_outbox(self) -> None:
        # Called with _wlock held.
        while True:
            with self._lock:
                if not self._outbox:
                    return
                frame = self._outbox.popleft()
            self._sock.sendall(frame)

    def _flush(self) -> None:
        """Send queued control frames, unless another writer (maybe this very thread, from a
        finalizer) holds the socket: that writer sends them when it is done."""
        while self._outbox:
            if not self._wlock.acquire(blocking=False):
                return
            try:
                self._drain_outbox()
            except OSError as e:
                self._wlock.release()
                self._lost_while_sending(e)
                return
            self._wlock.release()

    def _lost_while_sending(self, e: OSError) -> None:
        # What is left to read usually says better why (an error frame such as
        # TOO_MANY_CONNECTIONS or SHUTTING_DOWN just before the close): read it first, or give the
        # thread reading it a moment to close the connection with it.
        if self._take_reader_role(1.0):
            try:
                while self._read_once(0):
                    pass
            finally:
                self._release_reader_role()
        self.close(JournalConnectionError(f"connection to the sidecar lost while sending: {e}"))

    def control(self, body: dict[str, Any]) -> None:
        """Send a credit or cancel if its stream is still open; never raises for a dead connection."""
        with self._lock:
            if self._closed or not self._session.is_in_flight(body["id"]):
                return
            self._outbox.append(self._session.control(body))
            if body["op"] == "cancel":
                waiter = self._waiters.get(body["id"])
                if waiter is not None:
                    waiter.discard = True
        self._flush()

    # -- receiving ------------------------------------------------------------------------

    def wait(self, waiter: _Waiter, timeout: float) -> Any:
        """The next value for ``waiter``: a parsed reply, or a JournalError (returned, not raised).

        Reads the socket itself while no other thread does.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            while not waiter.items:
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    self._pass_role_on()
                    return self._no_value(waiter, timeout)
                if not self._reading:
                    self._reading = True
                    break
                self._blocked[waiter] = None
                try:
                    waiter.cond.wait(remaining)
                finally:
                    del self._blocked[waiter]
            else:
                self._pass_role_on()
                return waiter.items.popleft()
        try:
            while True:
                with self._lock:
                    if waiter.items:
                        return waiter.items.popleft()
                    remaining = deadline - time.monotonic()
                    if self._closed or remaining <= 0:
                        return self._no_value(waiter, timeout)
                self._read_once(remaining)
        finally:
            self._release_reader_role()

    def _no_value(self, waiter: _Waiter, timeout: float) -> JournalError:
        # Called with the lock held, when waiter has nothing and gets nothing more.
        if self._closed:
            return self._closed_error()
        waiter.discard = True
        return JournalTimeoutError(f"no reply from the sidecar within {timeout:.1f}s", retryable=True)

    def _take_reader_role(self, timeout: float) -> bool:
        """Take the reader role, waiting up to ``timeout`` for the connection to close while another
        thread holds it; False when the connection is closed."""
        with self._lock:
            if not self._reading and not self._closed:
                self._reading = True
                return True
            self._slot_free.wait_for(lambda: self._closed, timeout)
            return False

    def _release_reader_role(self) -> None:
        with self._lock:
            self._reading = False
            if self._closed:
                self._sock.close()  # close() left it to the reader
            self._pass_role_on()

    def _pass_role_on(self) -> None:
        """Wake the longest-waiting thread to take the reader role if it is free. Called with the
        lock held when the role is released, and by a woken thread leaving without the role (it
        may have been the one woken for it)."""
        if not self._reading:
            for w in self._blocked:
                w.cond.notify()
                break

    def _read_once(self, timeout: float) -> bool:
        """Read what arrives within ``timeout`` seconds (held the reader role) and hand it out;
        close the connection on EOF or a fatal error. False when nothing was readable."""
        try:
            if not self._poll.poll(max(timeout, 0.0) * 1000):
                return False
            data = self._sock.recv(_RECV_SIZE)
        except OSError as e:
            self.close(JournalConnectionError(f"connection to the sidecar lost: {e}"))
            return False
        self._last_read = time.monotonic()
        err: JournalError | None
        if not data:
            try:
                self._session.decoder.check_eof()
                err = JournalConnectionError("the sidecar closed the connection")
            except protocol.FrameError as e:
                err = e
            self.close(err)
            return False
        with self._lock:
            try:
                err = self._dispatch(self._session.receive(data))
            except protocol.FrameError as e:
                err = e
        if err is not None:
            self.close(err)
            return False
        return True

    def check_idle(self) -> None:
        """With nothing in flight for a while, read what the sidecar sent meanwhile: a connection it
        closed (a restart) is then closed here before the next request is sent on it. Calls in quick
        succession skip the check (a syscall each)."""
        if time.monotonic() - self._last_read < _IDLE_CHECK_AFTER:
            return
        with self._lock:
            if self._closed or self._reading or self._waiters:
                return
            self._reading = True
        try:
            while self._read_once(0) and not self._closed:
                pass
        finally:
            self._release_reader_role()

    def call(self, body: dict[str, Any], timeout: float, *, wait_for_slot: bool = True) -> Any:
        """Send a request and wait for its single reply; raise its error."""
        _, waiter = self.start(body, timeout, wait_for_slot=wait_for_slot)
        value = self.wait(waiter, timeout)
        if isinstance(value, JournalError):
            raise value
        return value

    def _dispatch(self, items: list[protocol.Reply | ConnectionNotice]) -> JournalError | None:
        # Called with the lock held.
        for item in items:
            if isinstance(item, ConnectionNotice):
                if item.fatal:
                    return item.error
                log.warning("kjournal sidecar reports a connection error: %s", item.error)
                continue
            waiter = self._waiters.get(item.id)
            if waiter is None:
                continue
            if item.final:
                del self._waiters[item.id]
                self._slot_free.notify()
            if not waiter.discard:
                waiter.items.append(item.value)
                waiter.cond.notify()
        return None

    def _closed_error(self) -> JournalError:
        err = self._close_error or JournalConnectionError("connection closed")
        return _copy(err)

    def close(self, err: JournalError | None = None) -> None:
        """Close the socket and fail every request in flight with ``err``."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._close_error = err or JournalConnectionError("client closed")
            waiters, self._waiters = self._waiters, {}
            for w in waiters.values():
                w.items.append(_copy(self._close_error))
                w.cond.notify()
            for w in self._blocked:
                w.cond.notify()
            self._slot_free.notify_all()
            try:
                self._sock.shutdown(socket.SHUT_RDWR)  # wakes a thread polling the socket
            except OSError:
                pass
            if not self._reading:
                # Otherwise the reader closes it when it gives the role up: its poll must not
                # meet a file descriptor number already reused.
                self._sock.close()


class Client:
    """A blocking, thread-safe client of the kjournal sidecar.

    Args:
        path: the sidecar's Unix socket; default ``$KJOURNAL_SOCKET``, then
            ``/var/run/kjournal/kjournal.sock``.
        timeout: the deadline of each request (seconds or a timedelta), sent to the sidecar as
            ``timeout_ms``; ``None`` uses the sidecar's default (30 s unless configured). The
            client itself gives up 2 s after the deadline if the sidecar does not answer.
            Methods take ``timeout=`` to override it per call.
        connect_timeout: how long connecting and the hello may take, in seconds.
        read_window: how many events a read keeps granted ahead of its consumer.

    Use it as a context manager (``with Client() as c: ...``) or call :meth:`close`. It connects
    on ``__enter__`` (or on the first call), and again on the next call after a lost connection.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        timeout: Timeout = None,
        connect_timeout: float = 5.0,
        read_window: int = _common.DEFAULT_READ_WINDOW,
    ) -> None:
        self.path = _common.socket_path(path)
        self._timeout_ms = _common.timeout_ms(timeout)
        connect = _common.seconds(connect_timeout, "connect_timeout")
        assert connect is not None
        self._connect_timeout = connect
        if not isinstance(read_window, int) or isinstance(read_window, bool) or read_window < 1:
            raise ValueError(f"read_window must be a positive int, got {read_window!r}")
        self._read_window = read_window
        self._lock = threading.Lock()
        self._conn: _Connection | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"Client(path={self.path!r})"

    def __enter__(self) -> Client:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def connect(self) -> ServerInfo:
        """Connect now (if not connected) and return what the sidecar said in hello."""
        info = self._connection().server_info
        assert info is not None
        return info

    @property
    def server_info(self) -> ServerInfo | None:
        """The hello reply of the current connection, None when not connected."""
        conn = self._conn
        return conn.server_info if conn is not None and not conn.closed else None

    def close(self) -> None:
        """Close the connection; requests in flight fail with JournalConnectionError. Idempotent."""
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close(JournalConnectionError("client closed"))

    def journal(self, id: str, topic: str | None = None) -> Journal:
        """The journal ``id`` in ``topic`` (default: the sidecar's default topic)."""
        return Journal(self, id, topic)

    def subscribe_all(
        self,
        topic: str | None = None,
        *,
        start: str = "earliest",
        after: Iterable[Position] | None = None,
        timeout: Timeout = None,
    ) -> Subscription[TopicEventRecord]:
        """Follow every event of ``topic``, partition by partition in offset order, for projections.

        Returns a :class:`~kjournal.subscription.Subscription` of
        :class:`~kjournal.model.TopicEventRecord` values (the journal, the record, and the
        ``position`` to store). Partitions with a stored position in ``after`` resume right after
        it; the others start at ``start``: ``"earliest"`` (the oldest record Kafka still holds) or
        ``"latest"`` (only what is appended from now on). It never ends by itself; leave the loop
        to cancel.
        """
        ms = self._ms(timeout)
        body, applied = _subscription.subscribe_all_body(topic, start, after, ms)
        return Subscription(self, body, self._read_window, ms, applied)

    def ping(self, *, timeout: Timeout = None) -> None:
        """Check that the connection and the sidecar are alive."""
        ms = self._ms(timeout)
        self._call(protocol.ping_request(0, timeout_ms=ms), ms)

    # -- internals used by Journal and ReadStream -----------------------------------------

    def _ms(self, timeout: Timeout) -> int | None:
        return self._timeout_ms if timeout is None else _common.timeout_ms(timeout)

    def _connection(self) -> _Connection:
        with self._lock:
            if self._closed:
                raise JournalConnectionError("client is closed")
            conn = self._conn
            if conn is not None:
                conn.check_idle()
            if conn is None or conn.closed:
                conn = self._conn = _Connection(self.path, self._connect_timeout)
                # A client dropped without close() must not leave its socket behind.
                weakref.finalize(self, conn.close, JournalConnectionError("client collected"))
            return conn

    def _deadline(self, conn: _Connection, request_ms: int | None) -> float:
        default = conn.server_info.default_timeout_ms if conn.server_info else None
        return _common.local_deadline(request_ms, default)

    def _call(self, body: dict[str, Any], request_ms: int | None) -> Any:
        conn = self._connection()
        return conn.call(body, self._deadline(conn, request_ms))


class Journal:
    """One journal: a (topic, id) pair on a :class:`Client`. Cheap to create; holds no state."""

    def __init__(self, client: Client, id: str, topic: str | None = None) -> None:
        self.client = client
        self.id, self.topic = _common.journal_args(id, topic)

    def __repr__(self) -> str:
        return f"Journal(id={self.id!r}, topic={self.topic!r})"

    def append(
        self,
        events: Iterable[Event],
        *,
        expire_after: Any = None,
        metadata: Any = None,
        payload_metadata: Any = None,
        headers: Mapping[str, str] | None = None,
        expected_seq_nr: int | None = None,
        timeout: Timeout = None,
    ) -> PartitionOffset:
        """Append ``events`` atomically (one Kafka record); return where Kafka stored them.

        Args:
            events: one or more :class:`Event`, in strictly increasing seq_nr order.
            expire_after: a :class:`~datetime.timedelta`: purge the journal this long after its
                last append (each append sets it anew; an append without it removes it).
            metadata: a JSON value stored with the append, read back as each record's ``metadata``.
            payload_metadata: a JSON value stored with the events, read back as ``payload_metadata``.
            headers: Kafka record headers (str to str).
            expected_seq_nr: append only if the journal's highest seq_nr is exactly this (0: the
                journal has no events); else raise :class:`~kjournal.WrongExpectedSeqNrError`,
                whose ``highest_seq_nr`` is the actual one. Exact among writers using one sidecar.
            timeout: this request's deadline, overriding the client's.

        Returns after Kafka acknowledged the record. An append that fails with a retryable error
        or a lost connection may still have been written.
        """
        ms = self.client._ms(timeout)
        body = _common.append_body(
            self.id, self.topic, events, expire_after, metadata, payload_metadata, headers, ms,
            expected_seq_nr,
        )
        result: PartitionOffset = self.client._call(body, ms)
        return result

    def read(
        self,
        from_seq_nr: int = 1,
        to_seq_nr: int | None = None,
        max_count: int | None = None,
        *,
        timeout: Timeout = None,
    ) -> ReadStream:
        """Read events ``from_seq_nr..to_seq_nr`` (inclusive), at most ``max_count`` of them.

        Returns a :class:`ReadStream`: iterate it to get :class:`~kjournal.model.EventRecord`
        values in seq_nr order. Nothing is sent until the iteration starts; events are fetched as
        they are consumed; leaving the loop early cancels the read. After the loop,
        ``stream.highest_seq_nr`` is the journal's last seq_nr as of the read.
        """
        ms = self.client._ms(timeout)
        body, credits = _common.read_body(
            self.id, self.topic, from_seq_nr, to_seq_nr, max_count, ms, self.client._read_window
        )
        return ReadStream(self.client, body, credits, ms)

    def subscribe(self, from_seq_nr: int = 1, *, timeout: Timeout = None) -> Subscription[EventRecord]:
        """Follow the journal: its events from ``from_seq_nr`` on, then each new one as it is appended.

        Returns a :class:`~kjournal.subscription.Subscription`: iterate it (``for record in …``) to get
        every event once, in seq_nr order, with no gap between the events already written and the
        live ones. It never ends by itself: leave the loop to cancel. It fails with
        ``JournalPurgedError`` if the journal is purged meanwhile (a delete changes nothing: what it
        deletes was delivered already). To resume, e.g. after a sidecar restart
        (``ShuttingDownError``), subscribe again from the last seq_nr applied + 1. ``timeout``
        bounds the sidecar's own work (each catch-up read), not the wait for new events.
        """
        ms = self.client._ms(timeout)
        body = protocol.subscribe_request(
            0, self.id, credit=0, topic=self.topic, from_seq_nr=from_seq_nr, timeout_ms=ms
        )
        return Subscription(self.client, body, self.client._read_window, ms)

    def pointer(self, *, timeout: Timeout = None) -> int | None:
        """The journal's last seq_nr, or None when it has no events (never appended, purged)."""
        ms = self.client._ms(timeout)
        body = protocol.pointer_request(0, self.id, topic=self.topic, timeout_ms=ms)
        result: int | None = self.client._call(body, ms)
        return result

    def delete(self, to_seq_nr: int, *, timeout: Timeout = None) -> PartitionOffset | None:
        """Delete the events with seq_nr ≤ ``to_seq_nr`` (clamped to the last seq_nr).

        The journal keeps its highest seq_nr. Returns where Kafka stored the Delete, or None when
        the journal had no events (nothing was written).
        """
        ms = self.client._ms(timeout)
        body = protocol.delete_request(0, self.id, to_seq_nr, topic=self.topic, timeout_ms=ms)
        result: PartitionOffset | None = self.client._call(body, ms)
        return result

    def purge(self, *, timeout: Timeout = None) -> PartitionOffset:
        """Remove the journal completely; the next append starts it anew."""
        ms = self.client._ms(timeout)
        body = protocol.purge_request(0, self.id, topic=self.topic, timeout_ms=ms)
        result: PartitionOffset = self.client._call(body, ms)
        return result

    def save_snapshot(
        self,
        seq_nr: int,
        payload: Any = None,
        *,
        payload_type: PayloadType | None = None,
        metadata: Any = None,
        timestamp: datetime | int | None = None,
        timeout: Timeout = None,
    ) -> datetime:
        """Save a snapshot of the journal's state after the events up to ``seq_nr``.

        ``payload`` is typed as an event's (bytes, str, or a JSON value; or say ``payload_type``).
        A snapshot with the same seq_nr is replaced; the sidecar keeps the latest 10. Returns the
        stored timestamp (``timestamp``, an aware datetime or epoch ms, else the sidecar's clock).
        """
        ms = self.client._ms(timeout)
        body = protocol.save_snapshot_request(
            0, self.id, seq_nr, payload, payload_type, topic=self.topic, metadata=metadata,
            timestamp_ms=_common.epoch_ms(timestamp, "timestamp"), timeout_ms=ms,
        )
        result: datetime = self.client._call(body, ms)
        return result

    def load_snapshot(
        self,
        *,
        max_seq_nr: int | None = None,
        max_timestamp: datetime | int | None = None,
        min_seq_nr: int | None = None,
        min_timestamp: datetime | int | None = None,
        timeout: Timeout = None,
    ) -> Snapshot | None:
        """The snapshot with the highest seq_nr within the bounds (inclusive), or None."""
        ms = self.client._ms(timeout)
        body = protocol.load_snapshot_request(
            0, self.id, topic=self.topic, timeout_ms=ms,
            **_common.criteria(max_seq_nr, max_timestamp, min_seq_nr, min_timestamp),
        )
        result: Snapshot | None = self.client._call(body, ms)
        return result

    def delete_snapshots(
        self,
        *,
        seq_nr: int | None = None,
        max_seq_nr: int | None = None,
        max_timestamp: datetime | int | None = None,
        min_seq_nr: int | None = None,
        min_timestamp: datetime | int | None = None,
        timeout: Timeout = None,
    ) -> int:
        """Delete the snapshots within the bounds (only the one with ``seq_nr``, when given,
        whatever its timestamp); return how many were deleted."""
        ms = self.client._ms(timeout)
        body = protocol.delete_snapshots_request(
            0, self.id, topic=self.topic, seq_nr=seq_nr, timeout_ms=ms,
            **_common.criteria(max_seq_nr, max_timestamp, min_seq_nr, min_timestamp),
        )
        result: int = self.client._call(body, ms)
        return result

    def recover(
        self,
        to_seq_nr: int | None = None,
        *,
        max_timestamp: datetime | int | None = None,
        timeout: Timeout = None,
    ) -> Recovery:
        """Load the latest snapshot (at most ``to_seq_nr``, taken at most at ``max_timestamp``)
        and read the events after it, up to ``to_seq_nr``: all a recovering writer needs.

        Two requests (load_snapshot, read); the read's end tells the journal's highest seq_nr.
        """
        snap = self.load_snapshot(max_seq_nr=to_seq_nr, max_timestamp=max_timestamp, timeout=timeout)
        stream = self.read(**_common.recovery_read_args(snap, to_seq_nr), timeout=timeout)
        events = list(stream)
        return Recovery(snap, events, stream.highest_seq_nr)


class ReadStream:
    """The events of one :meth:`Journal.read`: iterate it once, in a ``for`` loop.

    * Lazy: the read request is sent when the iteration starts.
    * Flow-controlled: the sidecar sends at most ``read_window`` events ahead of the consumer.
    * Leaving the loop early (``break``, an exception) cancels the read on the sidecar, as does
      :meth:`close` or leaving a ``with`` block.
    * After the loop ends normally, :attr:`highest_seq_nr` holds the journal's highest seq_nr as
      of the read (``None`` for a journal without events), whatever the bounds were.

    Example::

        stream = journal.read(from_seq_nr=1)
        for record in stream:
            state = apply(state, record)
        next_seq_nr = (stream.highest_seq_nr or 0) + 1
    """

    def __init__(
        self,
        client: Client,
        body: dict[str, Any],
        credits: protocol.CreditWindow,
        request_ms: int | None,
    ) -> None:
        self._client = client
        self._body = body
        self._credits = credits
        self._request_ms = request_ms
        self._started = False
        self._finished = False
        self._highest: int | None = None
        self._gen: weakref.ref[Generator[EventRecord, None, None]] | None = None

    def __iter__(self) -> Iterator[EventRecord]:
        if self._started:
            raise RuntimeError("a ReadStream can be iterated only once; call read() again")
        self._started = True
        gen = self._run()
        self._gen = weakref.ref(gen)
        return gen

    def __enter__(self) -> ReadStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def finished(self) -> bool:
        """Whether the stream reached its end frame."""
        return self._finished

    @property
    def highest_seq_nr(self) -> int | None:
        """The journal's highest seq_nr as of the read; ``None`` when it has no events.

        Raises RuntimeError before the stream has been read to its end.
        """
        if not self._finished:
            raise RuntimeError("highest_seq_nr is known once the stream has been read to its end")
        return self._highest

    def close(self) -> None:
        """Stop the stream (cancelling the read if it is still open)."""
        gen = self._gen() if self._gen is not None else None
        if gen is not None:
            gen.close()
        self._started = True

    def _run(self) -> Generator[EventRecord, None, None]:
        client = self._client
        conn = client._connection()
        timeout = client._deadline(conn, self._request_ms)
        id, waiter = conn.start(self._body, timeout)
        try:
            while True:
                item = conn.wait(waiter, timeout)
                if isinstance(item, JournalError):
                    raise item
                if isinstance(item, ReadEnd):
                    self._highest = item.highest_seq_nr
                    self._finished = True
                    return
                assert isinstance(item, ReadEvents)
                for record in item.records:
                    yield record
                    n = self._credits.consumed()
                    if n:
                        conn.control(protocol.credit_request(id, n))
        finally:
            # A no-op when the stream already ended (end or error frame, lost connection).
            if not self._finished:
                conn.control(protocol.cancel_request(id))
