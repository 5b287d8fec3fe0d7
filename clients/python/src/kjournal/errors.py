"""Exceptions raised by the kjournal clients.

Every error the clients raise for a failed operation derives from :class:`JournalError`:

* :class:`JournalConnectionError` — the sidecar could not be reached, the connection was lost
  (requests in flight then have an unknown outcome: an append may have been written), the
  sidecar sent something unreadable, or the client was closed. It carries no ``code``. The next
  call on the client opens a new connection.
* One base class per error family of the protocol, each carrying ``code``, ``code_name``,
  ``message`` and ``retryable``:

  ========================  ==========  =====================================================
  class                     codes       what went wrong
  ========================  ==========  =====================================================
  :class:`ProtocolError`    100–199     framing, handshake and message-level violations
  :class:`RequestError`     200–299     the request is well formed but invalid or not allowed
  :class:`FlowError`        300–399     limits, cancellation, deadlines and shutdown
  :class:`BackendError`     400–499     Kafka or Cassandra could not serve the request
  :class:`InternalError`    500–599     stored data that cannot be served, or a sidecar bug
  ========================  ==========  =====================================================

* One subclass per code (``kjournal.InvalidSeqNrError``, ``kjournal.JournalTimeoutError``, …),
  generated from ``protocol/codes.json`` into :mod:`kjournal._codes`. A code this version does
  not know raises its family's base class (or :class:`JournalError` outside every family) with
  the code set.

``retryable`` is the sidecar's own verdict for this error (it may differ from the code's
default): whether the same request may succeed if sent again later.

Bad arguments are not sent at all: the clients raise :class:`ValueError` or :class:`TypeError`
before anything reaches the socket.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "BackendError",
    "FlowError",
    "InternalError",
    "JournalConnectionError",
    "JournalError",
    "ProtocolError",
    "RequestError",
]


class JournalError(Exception):
    """Root of every kjournal error.

    Attributes:
        message: what happened, for humans and logs (do not parse it).
        code: the protocol's numeric error code, or ``None`` for errors that did not come from
            the sidecar (:class:`JournalConnectionError`).
        code_name: the code's name in ``codes.json`` (``"TIMEOUT"``), ``None`` when unknown.
        retryable: whether the same request may succeed if sent again later.
    """

    #: Only on :class:`~kjournal.WrongExpectedSeqNrError`: the journal's actual highest seq_nr
    #: (0: it has no events). ``None`` on every other error.
    highest_seq_nr: int | None = None

    family: ClassVar[str | None] = None
    default_code: ClassVar[int | None] = None
    code_name: ClassVar[str | None] = None
    default_retryable: ClassVar[bool] = False

    def __init__(
        self, message: str = "", *, code: int | None = None, retryable: bool | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code: int | None = self.default_code if code is None else code
        self.retryable: bool = self.default_retryable if retryable is None else retryable

    def __str__(self) -> str:
        if self.code is None:
            return self.message
        name = self.code_name or "code"
        return f"{name} ({self.code}): {self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, code={self.code!r}, "
            f"retryable={self.retryable!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.code, self.retryable))


def _rebuild(
    cls: type[JournalError], message: str, code: int | None, retryable: bool
) -> JournalError:
    return cls(message, code=code, retryable=retryable)


class JournalConnectionError(JournalError):
    """The connection to the sidecar could not be opened, was lost, or cannot be trusted.

    Raised for a missing socket, a refused or dropped connection, an unreadable frame from the
    sidecar, and calls on a closed client. Requests that were in flight when a connection was
    lost have an unknown outcome. The client opens a new connection on the next call.
    """

    default_retryable = True


class ProtocolError(JournalError):
    """Framing, handshake and message-level violations (codes 100–199)."""

    family = "protocol"


class RequestError(JournalError):
    """The request is well formed but its content is invalid or not allowed (codes 200–299)."""

    family = "request"


class FlowError(JournalError):
    """Limits, flow control, cancellation, deadlines and shutdown (codes 300–399)."""

    family = "flow"


class BackendError(JournalError):
    """Kafka or Cassandra could not serve the request (codes 400–499)."""

    family = "backend"
    default_retryable = True


class InternalError(JournalError):
    """Stored data that cannot be served, or a bug in the sidecar (codes 500–599)."""

    family = "internal"
