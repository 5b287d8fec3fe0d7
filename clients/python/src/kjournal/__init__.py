"""kjournal: the Python client of the kjournal sidecar (an event-sourcing journal on Kafka and
Cassandra), blocking and asyncio.

Blocking::

    from kjournal import Client, Event

    with Client() as c:                      # $KJOURNAL_SOCKET or /var/run/kjournal/kjournal.sock
        j = c.journal("order-42")
        j.append([Event(1, {"placed": True}), Event(2, b"\\x00", tags={"t"})])
        stream = j.read()
        for record in stream:
            print(record.seq_nr, record.payload, record.timestamp)
        print(stream.highest_seq_nr, j.pointer())

asyncio::

    from kjournal import AsyncClient

    async with AsyncClient() as c:
        j = c.journal("order-42")
        async for record in j.read(from_seq_nr=2):
            ...

Modules: :mod:`kjournal.client` (blocking), :mod:`kjournal.aio` (asyncio), :mod:`kjournal.model`
(values), :mod:`kjournal.errors` (exceptions), :mod:`kjournal.protocol` (the wire protocol,
sans-IO).
"""

from ._codes import (
    BadFrameError,
    CassandraUnavailableError,
    DataIntegrityError,
    DuplicateHelloError,
    DuplicateIdError,
    EmptyEventsError,
    ErrorCode,
    FollowerUnavailableError,
    FrameTooLargeError,
    HelloRequiredError,
    InvalidArgumentError,
    InvalidIdError,
    InvalidSeqNrError,
    JournalPurgedError,
    JournalTimeoutError,
    KafkaUnavailableError,
    MarkerTimeoutError,
    PermissionDeniedError,
    ReadCancelledError,
    RecordTooLargeError,
    ShuttingDownError,
    SidecarInternalError,
    SnapshotsUnavailableError,
    TooManyConnectionsError,
    TooManyRequestsError,
    TopicNotAllowedError,
    UnknownOpError,
    UnsupportedVersionError,
    WrongExpectedSeqNrError,
)
from ._common import DEFAULT_SOCKET_PATH, SOCKET_ENV
from ._version import __version__
from .aio import AsyncClient, AsyncJournal, AsyncReadStream
from .client import Client, Journal, ReadStream
from .errors import (
    BackendError,
    FlowError,
    InternalError,
    JournalConnectionError,
    JournalError,
    ProtocolError,
    RequestError,
)
from .model import (
    MAX_SEQ_NR,
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
from .subscription import AsyncSubscription, Subscription

__all__ = [
    "DEFAULT_SOCKET_PATH",
    "MAX_SEQ_NR",
    "SOCKET_ENV",
    "AsyncClient",
    "AsyncJournal",
    "AsyncReadStream",
    "AsyncSubscription",
    "BackendError",
    "BadFrameError",
    "CassandraUnavailableError",
    "Client",
    "DataIntegrityError",
    "DuplicateHelloError",
    "DuplicateIdError",
    "EmptyEventsError",
    "ErrorCode",
    "Event",
    "EventRecord",
    "FlowError",
    "FollowerUnavailableError",
    "FrameTooLargeError",
    "HelloRequiredError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidIdError",
    "InvalidSeqNrError",
    "Journal",
    "JournalConnectionError",
    "JournalError",
    "JournalPurgedError",
    "JournalTimeoutError",
    "KafkaUnavailableError",
    "MarkerTimeoutError",
    "PartitionOffset",
    "PayloadType",
    "PermissionDeniedError",
    "Position",
    "ProtocolError",
    "ReadCancelledError",
    "ReadStream",
    "Recovery",
    "RecordTooLargeError",
    "RequestError",
    "ServerInfo",
    "ShuttingDownError",
    "SidecarInternalError",
    "Snapshot",
    "SnapshotsUnavailableError",
    "Subscription",
    "TooManyConnectionsError",
    "TooManyRequestsError",
    "TopicEventRecord",
    "TopicNotAllowedError",
    "UnknownOpError",
    "UnsupportedVersionError",
    "WrongExpectedSeqNrError",
    "__version__",
]
