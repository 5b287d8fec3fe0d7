"""The asyncio client: :class:`AsyncClient`, :class:`AsyncJournal`, :class:`AsyncReadStream`.

The same API as :mod:`kjournal.client`, awaited. One :class:`AsyncClient` holds one connection on
which any number of coroutines may have requests in flight at once: replies are matched to their
requests by id as they arrive (an :class:`asyncio.Protocol` feeds the sans-IO
:class:`~kjournal.protocol.Session`). When the connection is lost, every request in flight fails
with :class:`~kjournal.errors.JournalConnectionError` and the next call reconnects.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import weakref
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping
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
from .subscription import AsyncSubscription

__all__ = ["AsyncClient", "AsyncJournal", "AsyncReadStream"]

log = logging.getLogger("kjournal")


def _copy(err: JournalError) -> JournalError:
    return type(err)(err.message, code=err.code, retryable=err.retryable)


_EXPIRED = object()  # what a waiter's future gets when its deadline passes


class _Waiter:
    """The values for one request, handed to its coroutine through a bare future (an
    asyncio.Queue and wait_for cost a task and several futures per reply)."""

    __slots__ = ("discard", "future", "items")

    def __init__(self) -> None:
        self.items: deque[Any] = deque()
        self.future: asyncio.Future[Any] | None = None  # set while the coroutine waits
        self.discard = False

    def put(self, value: Any) -> None:
        fut, self.future = self.future, None
        if fut is not None and not fut.done():
            fut.set_result(value)
        else:
            self.items.append(value)


def _expire(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_result(_EXPIRED)


class _AsyncConnection(asyncio.Protocol):
    """One socket (an asyncio transport), its protocol session and the requests in flight."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._session = Session()
        self._waiters: dict[int, _Waiter] = {}
        self._transport: asyncio.Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._outbox: list[bytes] = []  # frames to write at the next turn of the loop
        self._closed = False
        self._close_error: JournalError | None = None
        self._writable = asyncio.Event()
        self._writable.set()
        self._slot_freed = asyncio.Event()
        self.server_info: ServerInfo | None = None

    @classmethod
    async def open(cls, path: str, connect_timeout: float) -> _AsyncConnection:
        """Connect, say hello, then hand the socket to an asyncio transport."""
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        conn = cls(path)
        try:
            try:
                await asyncio.wait_for(loop.sock_connect(sock, path), connect_timeout)
            except (OSError, asyncio.TimeoutError) as e:
                raise JournalConnectionError(
                    f"cannot connect to the kjournal sidecar at {path}: {e or type(e).__name__}"
                ) from e
            try:
                info = await asyncio.wait_for(conn._hello(loop, sock), connect_timeout)
            except asyncio.TimeoutError:
                raise JournalTimeoutError(
                    f"no hello reply from the sidecar within {connect_timeout:.1f}s", retryable=True
                ) from None
            await loop.create_unix_connection(lambda: conn, sock=sock)
        except BaseException:
            conn._closed = True
            sock.close()
            raise
        conn.server_info = info
        return conn

    async def _hello(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> ServerInfo:
        # Done on the bare socket rather than through the transport: when the sidecar is full it
        # writes TOO_MANY_CONNECTIONS and closes, possibly before our hello is written, and a
        # transport that fails to write discards what it had not yet read — the reason.
        id, frame = self._session.register(protocol.hello_request(0))
        send_error: OSError | None = None
        try:
            await loop.sock_sendall(sock, frame)
        except OSError as e:
            send_error = e  # read what the sidecar said before it closed
        while True:
            try:
                data = await loop.sock_recv(sock, 65536)
            except OSError as e:
                raise JournalConnectionError(f"connection to the sidecar lost during hello: {e}") from e
            if not data:
                self._session.decoder.check_eof()
                why = f": {send_error}" if send_error else ""
                raise JournalConnectionError(f"the sidecar closed the connection during hello{why}")
            for item in self._session.receive(data):
                if isinstance(item, ConnectionNotice):
                    if item.fatal:
                        raise item.error
                    log.warning("kjournal sidecar reports a connection error: %s", item.error)
                elif item.id == id:
                    if isinstance(item.value, JournalError):
                        raise item.value
                    assert isinstance(item.value, ServerInfo)
                    return item.value

    @property
    def closed(self) -> bool:
        return self._closed

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._loop = asyncio.get_running_loop()

    def data_received(self, data: bytes) -> None:
        try:
            items = self._session.receive(data)
        except protocol.FrameError as e:
            self.close(e)
            return
        for item in items:
            if isinstance(item, ConnectionNotice):
                if item.fatal:
                    self.close(item.error)
                    return
                log.warning("kjournal sidecar reports a connection error: %s", item.error)
                continue
            waiter = self._waiters.get(item.id)
            if waiter is None:
                continue
            if item.final:
                del self._waiters[item.id]
                self._slot_freed.set()
            if not waiter.discard:
                waiter.put(item.value)

    def eof_received(self) -> bool | None:
        try:
            self._session.decoder.check_eof()
            self.close(JournalConnectionError("the sidecar closed the connection"))
        except protocol.FrameError as e:
            self.close(e)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        detail = f": {exc}" if exc else ""
        self.close(JournalConnectionError(f"connection to the sidecar lost{detail}"))

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # -- requests -----------------------------------------------------------------------------

    async def start(
        self, body: dict[str, Any], timeout: float, *, wait_for_slot: bool = True
    ) -> tuple[int, _Waiter]:
        """Register and send a request; wait up to ``timeout`` for a free in-flight slot."""
        if wait_for_slot and self.server_info is not None:
            limit = self.server_info.max_in_flight
            loop = asyncio.get_running_loop()
            end = loop.time() + timeout
            while not self._closed and self._session.in_flight >= limit:
                self._slot_freed.clear()
                remaining = end - loop.time()
                try:
                    if remaining <= 0:
                        raise asyncio.TimeoutError
                    await asyncio.wait_for(self._slot_freed.wait(), remaining)
                except asyncio.TimeoutError:
                    raise JournalTimeoutError(
                        f"no free request slot within {timeout:.1f}s ({limit} in flight)",
                        retryable=True,
                    ) from None
        if self._closed:
            raise self._closed_error()
        id, frame = self._session.register(body)
        waiter = _Waiter()
        self._waiters[id] = waiter
        self._write(frame)
        if not self._writable.is_set():
            await self._writable.wait()
        return id, waiter

    def _write(self, frame: bytes) -> None:
        """Queue a frame; the frames queued in one turn of the event loop (say, by the coroutines
        its replies resumed) go out in one write at the next turn, not one send() each."""
        if self._transport is None or self._transport.is_closing():
            self.close(JournalConnectionError("connection to the sidecar lost"))
            raise self._closed_error()
        self._outbox.append(frame)
        if len(self._outbox) == 1:
            assert self._loop is not None
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        frames, self._outbox = self._outbox, []
        if frames and self._transport is not None and not self._transport.is_closing():
            self._transport.write(frames[0] if len(frames) == 1 else b"".join(frames))

    def control(self, body: dict[str, Any], *, deferred: bool = False) -> None:
        """Send a credit or cancel if its stream is still open; never raises for a dead connection.

        ``deferred``: send from the event loop's next iteration rather than now — for calls from
        a finalizer, which may run in the middle of another write.
        """
        if deferred:
            if self._loop is not None and not self._closed:
                self._loop.call_soon_threadsafe(self.control, body)
            return
        if self._closed or not self._session.is_in_flight(body["id"]):
            return
        frame = self._session.control(body)
        if body["op"] == "cancel":
            waiter = self._waiters.get(body["id"])
            if waiter is not None:
                waiter.discard = True
        try:
            self._write(frame)
        except JournalError:
            pass

    async def wait(self, waiter: _Waiter, timeout: float) -> Any:
        """The next value for ``waiter``: a parsed reply, or a JournalError (returned, not raised)."""
        if waiter.items:
            return waiter.items.popleft()
        loop = asyncio.get_running_loop()
        fut = waiter.future = loop.create_future()
        timer = loop.call_later(timeout, _expire, fut)
        try:
            value = await fut
        except asyncio.CancelledError:
            waiter.discard = True
            raise
        finally:
            timer.cancel()
            waiter.future = None
        if value is _EXPIRED:
            waiter.discard = True
            return JournalTimeoutError(
                f"no reply from the sidecar within {timeout:.1f}s", retryable=True
            )
        return value

    async def call(self, body: dict[str, Any], timeout: float, *, wait_for_slot: bool = True) -> Any:
        """Send a request and wait for its single reply; raise its error."""
        _, waiter = await self.start(body, timeout, wait_for_slot=wait_for_slot)
        value = await self.wait(waiter, timeout)
        if isinstance(value, JournalError):
            raise value
        return value

    def _closed_error(self) -> JournalError:
        return _copy(self._close_error or JournalConnectionError("connection closed"))

    def close(self, err: JournalError | None = None) -> None:
        """Close the transport and fail every request in flight with ``err``."""
        if self._closed:
            return
        self._closed = True
        self._close_error = err or JournalConnectionError("client closed")
        waiters, self._waiters = self._waiters, {}
        for w in waiters.values():
            w.put(_copy(self._close_error))
        self._slot_freed.set()
        self._writable.set()
        if self._transport is not None:
            try:
                self._flush()  # cancels of streams left early go out before the end
                self._transport.close()
            except RuntimeError:  # its event loop is closed: end the stream by hand
                sock = self._transport.get_extra_info("socket")
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass


class AsyncClient:
    """An asyncio client of the kjournal sidecar; many coroutines may use it at once.

    Takes the same arguments as :class:`kjournal.Client`. Use ``async with AsyncClient() as c:``
    (which connects on entry) or ``await c.close()``. A client belongs to the event loop it first
    connects in (using it from another running loop raises RuntimeError; once that loop is closed,
    the client connects again from the new one).
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
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: _AsyncConnection | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"AsyncClient(path={self.path!r})"

    async def __aenter__(self) -> AsyncClient:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def connect(self) -> ServerInfo:
        """Connect now (if not connected) and return what the sidecar said in hello."""
        info = (await self._connection()).server_info
        assert info is not None
        return info

    @property
    def server_info(self) -> ServerInfo | None:
        """The hello reply of the current connection, None when not connected."""
        conn = self._conn
        return conn.server_info if conn is not None and not conn.closed else None

    async def close(self) -> None:
        """Close the connection; requests in flight fail with JournalConnectionError. Idempotent."""
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close(JournalConnectionError("client closed"))
            await asyncio.sleep(0)  # let the transport finish closing

    def journal(self, id: str, topic: str | None = None) -> AsyncJournal:
        """The journal ``id`` in ``topic`` (default: the sidecar's default topic)."""
        return AsyncJournal(self, id, topic)

    def subscribe_all(
        self,
        topic: str | None = None,
        *,
        start: str = "earliest",
        after: Iterable[Position] | None = None,
        timeout: Timeout = None,
    ) -> AsyncSubscription[TopicEventRecord]:
        """Follow every event of ``topic``, partition by partition in offset order, for projections.

        Returns a :class:`~kjournal.subscription.AsyncSubscription` of
        :class:`~kjournal.model.TopicEventRecord` values (the journal, the record, and the
        ``position`` to store). Partitions with a stored position in ``after`` resume right after
        it; the others start at ``start``: ``"earliest"`` (the oldest record Kafka still holds) or
        ``"latest"`` (only what is appended from now on). It never ends by itself; leave the loop
        to cancel.
        """
        ms = self._ms(timeout)
        body, applied = _subscription.subscribe_all_body(topic, start, after, ms)
        return AsyncSubscription(self, body, self._read_window, ms, applied)

    async def ping(self, *, timeout: Timeout = None) -> None:
        """Check that the connection and the sidecar are alive."""
        ms = self._ms(timeout)
        await self._call(protocol.ping_request(0, timeout_ms=ms), ms)

    # -- internals ----------------------------------------------------------------------------

    def _ms(self, timeout: Timeout) -> int | None:
        return self._timeout_ms if timeout is None else _common.timeout_ms(timeout)

    async def _connection(self) -> _AsyncConnection:
        if self._closed:
            raise JournalConnectionError("client is closed")
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None and not self._loop.is_closed():
                raise RuntimeError("an AsyncClient is bound to the event loop it first connected in")
            # First use, or the old loop is gone (its connection with it): start over here.
            if self._conn is not None:
                self._conn.close(JournalConnectionError("event loop closed"))
            self._loop, self._lock, self._conn = loop, None, None
        conn = self._conn
        if conn is not None and not conn.closed:
            return conn
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._closed:
                raise JournalConnectionError("client is closed")
            conn = self._conn
            if conn is None or conn.closed:
                conn = self._conn = await _AsyncConnection.open(self.path, self._connect_timeout)
            return conn

    def _deadline(self, conn: _AsyncConnection, request_ms: int | None) -> float:
        default = conn.server_info.default_timeout_ms if conn.server_info else None
        return _common.local_deadline(request_ms, default)

    async def _call(self, body: dict[str, Any], request_ms: int | None) -> Any:
        conn = await self._connection()
        return await conn.call(body, self._deadline(conn, request_ms))


class AsyncJournal:
    """One journal on an :class:`AsyncClient`; the methods of :class:`kjournal.Journal`, awaited."""

    def __init__(self, client: AsyncClient, id: str, topic: str | None = None) -> None:
        self.client = client
        self.id, self.topic = _common.journal_args(id, topic)

    def __repr__(self) -> str:
        return f"AsyncJournal(id={self.id!r}, topic={self.topic!r})"

    async def append(
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
        """Append ``events`` atomically; see :meth:`kjournal.Journal.append`."""
        ms = self.client._ms(timeout)
        body = _common.append_body(
            self.id, self.topic, events, expire_after, metadata, payload_metadata, headers, ms,
            expected_seq_nr,
        )
        result: PartitionOffset = await self.client._call(body, ms)
        return result

    def read(
        self,
        from_seq_nr: int = 1,
        to_seq_nr: int | None = None,
        max_count: int | None = None,
        *,
        timeout: Timeout = None,
    ) -> AsyncReadStream:
        """Read events; returns an :class:`AsyncReadStream` to use with ``async for``.

        Not a coroutine: ``async for r in journal.read(): ...``. See :meth:`kjournal.Journal.read`.
        """
        ms = self.client._ms(timeout)
        body, credits = _common.read_body(
            self.id, self.topic, from_seq_nr, to_seq_nr, max_count, ms, self.client._read_window
        )
        return AsyncReadStream(self.client, body, credits, ms)

    def subscribe(self, from_seq_nr: int = 1, *, timeout: Timeout = None) -> AsyncSubscription[EventRecord]:
        """Follow the journal: its events from ``from_seq_nr`` on, then each new one as it is appended.

        Returns a :class:`~kjournal.subscription.AsyncSubscription`: iterate it (``async for record in …``) to get
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
        return AsyncSubscription(self.client, body, self.client._read_window, ms)

    async def pointer(self, *, timeout: Timeout = None) -> int | None:
        """The journal's last seq_nr, or None when it has no events."""
        ms = self.client._ms(timeout)
        body = protocol.pointer_request(0, self.id, topic=self.topic, timeout_ms=ms)
        result: int | None = await self.client._call(body, ms)
        return result

    async def delete(self, to_seq_nr: int, *, timeout: Timeout = None) -> PartitionOffset | None:
        """Delete events with seq_nr ≤ ``to_seq_nr``; see :meth:`kjournal.Journal.delete`."""
        ms = self.client._ms(timeout)
        body = protocol.delete_request(0, self.id, to_seq_nr, topic=self.topic, timeout_ms=ms)
        result: PartitionOffset | None = await self.client._call(body, ms)
        return result

    async def purge(self, *, timeout: Timeout = None) -> PartitionOffset:
        """Remove the journal completely; the next append starts it anew."""
        ms = self.client._ms(timeout)
        body = protocol.purge_request(0, self.id, topic=self.topic, timeout_ms=ms)
        result: PartitionOffset = await self.client._call(body, ms)
        return result

    async def save_snapshot(
        self,
        seq_nr: int,
        payload: Any = None,
        *,
        payload_type: PayloadType | None = None,
        metadata: Any = None,
        timestamp: datetime | int | None = None,
        timeout: Timeout = None,
    ) -> datetime:
        """Save a snapshot; see :meth:`kjournal.Journal.save_snapshot`."""
        ms = self.client._ms(timeout)
        body = protocol.save_snapshot_request(
            0, self.id, seq_nr, payload, payload_type, topic=self.topic, metadata=metadata,
            timestamp_ms=_common.epoch_ms(timestamp, "timestamp"), timeout_ms=ms,
        )
        result: datetime = await self.client._call(body, ms)
        return result

    async def load_snapshot(
        self,
        *,
        max_seq_nr: int | None = None,
        max_timestamp: datetime | int | None = None,
        min_seq_nr: int | None = None,
        min_timestamp: datetime | int | None = None,
        timeout: Timeout = None,
    ) -> Snapshot | None:
        """The latest snapshot within the bounds; see :meth:`kjournal.Journal.load_snapshot`."""
        ms = self.client._ms(timeout)
        body = protocol.load_snapshot_request(
            0, self.id, topic=self.topic, timeout_ms=ms,
            **_common.criteria(max_seq_nr, max_timestamp, min_seq_nr, min_timestamp),
        )
        result: Snapshot | None = await self.client._call(body, ms)
        return result

    async def delete_snapshots(
        self,
        *,
        seq_nr: int | None = None,
        max_seq_nr: int | None = None,
        max_timestamp: datetime | int | None = None,
        min_seq_nr: int | None = None,
        min_timestamp: datetime | int | None = None,
        timeout: Timeout = None,
    ) -> int:
        """Delete snapshots; see :meth:`kjournal.Journal.delete_snapshots`."""
        ms = self.client._ms(timeout)
        body = protocol.delete_snapshots_request(
            0, self.id, topic=self.topic, seq_nr=seq_nr, timeout_ms=ms,
            **_common.criteria(max_seq_nr, max_timestamp, min_seq_nr, min_timestamp),
        )
        result: int = await self.client._call(body, ms)
        return result

    async def recover(
        self,
        to_seq_nr: int | None = None,
        *,
        max_timestamp: datetime | int | None = None,
        timeout: Timeout = None,
    ) -> Recovery:
        """The latest snapshot and the events after it; see :meth:`kjournal.Journal.recover`."""
        snap = await self.load_snapshot(max_seq_nr=to_seq_nr, max_timestamp=max_timestamp, timeout=timeout)
        stream = self.read(**_common.recovery_read_args(snap, to_seq_nr), timeout=timeout)
        events = [r async for r in stream]
        return Recovery(snap, events, stream.highest_seq_nr)


class AsyncReadStream:
    """The events of one :meth:`AsyncJournal.read`: iterate it once with ``async for``.

    Lazy, flow-controlled and cancelled on early exit like :class:`kjournal.ReadStream`: the read
    is sent when the iteration starts; leaving the loop early (``break``, an exception, the task
    being cancelled) sends ``cancel`` as soon as the iterator is dropped (from the event loop's
    next iteration), and :meth:`aclose` or leaving an ``async with`` block sends it at once. After the loop ends normally, :attr:`highest_seq_nr` holds the
    journal's highest seq_nr as of the read.
    """

    def __init__(
        self,
        client: AsyncClient,
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
        self._iter: weakref.ref[_AsyncStreamIterator] | None = None

    def __aiter__(self) -> AsyncIterator[EventRecord]:
        if self._started:
            raise RuntimeError("an AsyncReadStream can be iterated only once; call read() again")
        self._started = True
        it = _AsyncStreamIterator(self)
        self._iter = weakref.ref(it)
        return it

    async def __aenter__(self) -> AsyncReadStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

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

    async def aclose(self) -> None:
        """Stop the stream (cancelling the read if it is still open)."""
        it = self._iter() if self._iter is not None else None
        if it is not None:
            it.close()
        elif self._started and not self._finished:
            await asyncio.sleep(0)  # the dropped iterator's deferred cancel goes out now
        self._started = True


class _AsyncStreamIterator(_common.AsyncStreamIterator[EventRecord]):
    """The iterator of an AsyncReadStream."""

    def __init__(self, stream: AsyncReadStream) -> None:
        super().__init__()
        self._stream = stream
        self._timeout = 0.0

    def __aiter__(self) -> _AsyncStreamIterator:
        return self

    async def __anext__(self) -> EventRecord:
        if self._done:
            raise StopAsyncIteration
        stream = self._stream
        if self._waiter is None:
            client = stream._client
            conn = await client._connection()
            self._timeout = client._deadline(conn, stream._request_ms)
            self._id, self._waiter = await conn.start(stream._body, self._timeout)
            self._conn = conn
        assert self._conn is not None
        while not self._buffer:
            item = await self._conn.wait(self._waiter, self._timeout)
            if isinstance(item, JournalError):
                self.close()  # sends cancel only if the stream is still open (local deadline)
                raise item
            if isinstance(item, ReadEnd):
                self._done = True
                stream._highest = item.highest_seq_nr
                stream._finished = True
                raise StopAsyncIteration
            assert isinstance(item, ReadEvents)
            self._buffer.extend(item.records)
        record = self._buffer.popleft()
        n = stream._credits.consumed()
        if n:
            self._conn.control(protocol.credit_request(self._id, n))
        return record
