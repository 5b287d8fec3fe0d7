"""A scripted stand-in for the sidecar, for faults the real one cannot be made to show on demand
(a dropped connection, garbage, a stalled reply, a tiny max_in_flight) and for checking exactly
what the client puts on the wire. What the journal does is tested against the real sidecar only.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kjournal import protocol

HELLO_REPLY = {
    "version": 1,
    "server": "fake/0",
    "max_frame_bytes": 16 * 1024 * 1024,
    "max_in_flight": 256,
    "default_topic": "journal",
    "default_timeout_ms": 30000,
}


class FakeConn:
    """The server side of one connection, driven by a test's handler in its own thread."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.decoder = protocol.FrameDecoder()
        self.received: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def recv(self, timeout: float = 5.0) -> dict[str, Any] | None:
        """The next request from the client; None when it closed the connection."""
        self.sock.settimeout(timeout)
        while True:
            raw = self.decoder.next_raw()
            if raw is not None:
                body = protocol.unpack_body(raw)
                self.received.append(body)
                return body
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, socket.timeout, OSError):
                return None
            if not data:
                return None
            self.decoder.feed(data)

    def send(self, body: dict[str, Any]) -> None:
        with self._lock:
            self.sock.sendall(protocol.pack_frame(body))

    def send_raw(self, data: bytes) -> None:
        with self._lock:
            self.sock.sendall(data)

    def hello(self, **overrides: Any) -> dict[str, Any]:
        req = self.recv()
        assert req is not None and req["op"] == "hello", req
        self.send({"id": req["id"], **HELLO_REPLY, **overrides})
        return req

    def error(self, id: int, code: int, message: str = "fake", retryable: bool = False) -> None:
        self.send({"id": id, "error": {"code": code, "message": message, "retryable": retryable}})

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


Handler = Callable[[FakeConn], None]


class FakeSidecar:
    """Listens on a Unix socket; connection i is served by handlers[i] (the last one repeats)."""

    def __init__(self, path: Path, *handlers: Handler) -> None:
        self.path = str(path)
        self.handlers = list(handlers)
        self.conns: list[FakeConn] = []
        self.errors: list[BaseException] = []
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(16)
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._accept_loop, daemon=True)
        self._accept.start()

    def _accept_loop(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            conn = FakeConn(sock)
            handler = self.handlers[min(len(self.conns), len(self.handlers) - 1)]
            self.conns.append(conn)
            t = threading.Thread(target=self._serve, args=(handler, conn), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, handler: Handler, conn: FakeConn) -> None:
        try:
            handler(conn)
        except BaseException as e:  # reported by close()
            self.errors.append(e)
        finally:
            conn.close()

    def close(self) -> None:
        """Stop listening, wait for the handlers, and re-raise the first handler failure."""
        self._listener.close()
        for t in self._threads:
            t.join(timeout=10)
        if self.errors:
            raise self.errors[0]


def serve_pings(conn: FakeConn) -> None:
    """A handler: hello, then answer pings until the client leaves."""
    conn.hello()
    while (req := conn.recv()) is not None:
        if req["op"] == "ping":
            conn.send({"id": req["id"]})
