"""Live subscriptions: :class:`Subscription` (one journal) and :class:`TopicSubscription` (every
event of a topic, for projections), blocking and asyncio.

Both are never-ending streams paced by credit like reads: iterate them in a ``for`` (or
``async for``) loop and leave the loop to cancel. They end only with an exception — the
sidecar's error (``JournalPurgedError`` when the subscribed journal is purged,
``ShuttingDownError`` when the sidecar stops, …) or a lost connection. To survive a sidecar
restart, remember what was applied (the last seq_nr, or the :class:`~kjournal.model.Position`
of each partition) and subscribe again from there.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from . import _common, protocol
from .errors import JournalError
from .model import EventRecord, Position, TopicEventRecord

if TYPE_CHECKING:
    from .aio import AsyncClient
    from .client import Client

__all__ = ["AsyncSubscription", "Subscription", "resume_offsets"]

R = TypeVar("R", EventRecord, TopicEventRecord)

# How long a subscription waits for the sidecar's next frame: new events may take any time to come,
# so the local deadline only guards against a connection that is silently gone for days.
_IDLE_WAIT = 1e6


def resume_offsets(after: Iterable[Position] | None) -> tuple[dict[int, int], Callable[[Any], bool]]:
    """The ``offsets`` of a subscribe_all resuming after ``after``, and the filter dropping the
    events of a stored position's record that were already applied."""
    last: dict[int, Position] = {}
    for p in after or ():
        if not isinstance(p, Position):
            p = Position(*p)
        last[p.partition] = p
    offsets = {p.partition: p.offset for p in last.values()}

    def applied(r: Any) -> bool:
        p = last.get(r.partition)
        return p is not None and r.offset == p.offset and r.seq_nr <= p.seq_nr

    return offsets, applied


def subscribe_all_body(
    topic: str | None, start: str, after: Iterable[Position] | None, request_ms: int | None
) -> tuple[dict[str, Any], Callable[[Any], bool]]:
    """The subscribe_all request (id 0, credit set by the subscription) and the filter of the events
    already applied, for ``Client.subscribe_all`` and ``AsyncClient.subscribe_all``."""
    offsets, applied = resume_offsets(after)
    body = protocol.subscribe_all_request(
        0, credit=0, topic=topic, start=start, offsets=offsets, timeout_ms=request_ms
    )
    return body, applied


def _init(
    sub: Subscription[Any] | AsyncSubscription[Any],
    body: dict[str, Any],
    window: int,
    request_ms: int | None,
    skip: Callable[[Any], bool] | None,
) -> None:
    """The state both kinds of subscription start with; the initial credit goes into ``body``."""
    sub._body = body
    sub._credits = protocol.CreditWindow(window)
    body["credit"] = sub._credits.initial
    sub._request_ms = request_ms
    sub._skip = skip
    sub._started = False


class Subscription(Generic[R]):
    """A live subscription (blocking): iterate it once; it never ends by itself.

    Returned by :meth:`kjournal.Journal.subscribe` (``EventRecord`` values) and
    :meth:`kjournal.Client.subscribe_all` (:class:`~kjournal.model.TopicEventRecord` values).
    Nothing is sent until the iteration starts. Leaving the loop, :meth:`close` or leaving a
    ``with`` block cancels it on the sidecar.
    """

    _body: dict[str, Any]
    _credits: protocol.CreditWindow
    _request_ms: int | None
    _skip: Callable[[Any], bool] | None
    _started: bool

    def __init__(
        self,
        client: Client,
        body: dict[str, Any],
        window: int,
        request_ms: int | None,
        skip: Callable[[Any], bool] | None = None,
    ) -> None:
        _init(self, body, window, request_ms, skip)
        self._client = client
        self._gen: weakref.ref[Generator[R, None, None]] | None = None

    def __iter__(self) -> Iterator[R]:
        if self._started:
            raise RuntimeError("a Subscription can be iterated only once; subscribe again")
        self._started = True
        gen = self._run()
        self._gen = weakref.ref(gen)
        return gen

    def __enter__(self) -> Subscription[R]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Cancel the subscription (a no-op once it ended)."""
        gen = self._gen() if self._gen is not None else None
        if gen is not None:
            gen.close()
        self._started = True

    def _run(self) -> Generator[R, None, None]:
        client = self._client
        conn = client._connection()
        id, waiter = conn.start(self._body, client._deadline(conn, self._request_ms))
        try:
            while True:
                item = conn.wait(waiter, _IDLE_WAIT)
                if isinstance(item, JournalError):
                    raise item
                for record in item.records:
                    if self._skip is None or not self._skip(record):
                        yield record
                    n = self._credits.consumed()
                    if n:
                        conn.control(protocol.credit_request(id, n))
        finally:
            conn.control(protocol.cancel_request(id))  # a no-op once the stream ended


class AsyncSubscription(Generic[R]):
    """A live subscription (asyncio): iterate it once with ``async for``; it never ends by itself.

    Returned by :meth:`kjournal.AsyncJournal.subscribe` and
    :meth:`kjournal.AsyncClient.subscribe_all`. Leaving the loop (``break``, an exception, the task
    being cancelled) cancels it as soon as the iterator is dropped; :meth:`aclose` or leaving an
    ``async with`` block cancels it at once.
    """

    _body: dict[str, Any]
    _credits: protocol.CreditWindow
    _request_ms: int | None
    _skip: Callable[[Any], bool] | None
    _started: bool

    def __init__(
        self,
        client: AsyncClient,
        body: dict[str, Any],
        window: int,
        request_ms: int | None,
        skip: Callable[[Any], bool] | None = None,
    ) -> None:
        _init(self, body, window, request_ms, skip)
        self._client = client
        self._iter: weakref.ref[_AsyncSubscriptionIterator[R]] | None = None

    def __aiter__(self) -> AsyncIterator[R]:
        if self._started:
            raise RuntimeError("an AsyncSubscription can be iterated only once; subscribe again")
        self._started = True
        it: _AsyncSubscriptionIterator[R] = _AsyncSubscriptionIterator(self)
        self._iter = weakref.ref(it)
        return it

    async def __aenter__(self) -> AsyncSubscription[R]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Cancel the subscription (a no-op once it ended)."""
        it = self._iter() if self._iter is not None else None
        if it is not None:
            it.close()
        elif self._started:
            await asyncio.sleep(0)  # the dropped iterator's deferred cancel goes out now
        self._started = True


class _AsyncSubscriptionIterator(_common.AsyncStreamIterator[R]):
    """The iterator of an AsyncSubscription."""

    def __init__(self, sub: AsyncSubscription[R]) -> None:
        super().__init__()
        self._sub: AsyncSubscription[R] = sub

    def __aiter__(self) -> _AsyncSubscriptionIterator[R]:
        return self

    async def __anext__(self) -> R:
        if self._done:
            raise StopAsyncIteration
        sub = self._sub
        if self._waiter is None:
            client = sub._client
            conn = await client._connection()
            self._id, self._waiter = await conn.start(sub._body, client._deadline(conn, sub._request_ms))
            self._conn = conn
        assert self._conn is not None
        while True:
            while not self._buffer:
                item = await self._conn.wait(self._waiter, _IDLE_WAIT)
                if isinstance(item, JournalError):
                    self.close()  # sends cancel only if the stream is still open
                    raise item
                self._buffer.extend(item.records)
            record = self._buffer.popleft()
            n = sub._credits.consumed()
            if n:
                self._conn.control(protocol.credit_request(self._id, n))
            if sub._skip is None or not sub._skip(record):
                return record
