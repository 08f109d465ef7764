"""A gunicorn worker in which no slow client holds a thread: each request is read whole first.

gunicorn's gthread worker hands a connection to a thread as soon as it is readable; the thread then
reads headers and body on a blocking socket, so a client sending a byte a second holds it (50 such
clients stopped every other caller). This worker's event loop reads each request without blocking
until it is complete (headers, then the body by ``Content-Length`` or chunked framing), and only then
gives it to the thread pool, which parses it from memory. A request not complete ``read_timeout_s``
after its connection was accepted (or, kept alive, became readable) is answered 408; a body over
``max_body_bytes`` is answered 413 as soon as that is known, without reading it. Both answers are
OperationOutcomes with ``Connection: close``; the rest of the upload is read and dropped for
LINGER_S so that the client sees the answer rather than a reset. A worker that stops writes its
queued audit rows first.
"""
from __future__ import annotations

import io
import json
import selectors
import socket
import time
from functools import partial

from gunicorn import http
from gunicorn.http.unreader import SocketUnreader
from gunicorn.workers.gthread import ThreadWorker

from cds_service import load_settings
from cds_service.auth.http_security import JSON_CSP, SECURITY_HEADERS
from cds_service.errors import operation_outcome
from cds_service.store.audit import close_all

MAX_HEADER_BYTES = 64 * 1024
LINGER_S = 2.0  # how long the rest of a refused upload is read and discarded
RECV_BYTES = 64 * 1024
_REFUSALS = {  # status → (reason phrase, diagnostics, the part of the request it names)
    408: ("Request Timeout", "The request was not received in time", "(request)"),
    413: ("Content Too Large", "Request body too large", "(body)"),
    431: ("Request Header Fields Too Large", "Request header fields too large or unreadable", "(headers)"),
}
# the app's own error answers carry the same headers (auth/http_security.py)
_HEADERS = "".join(f"{name}: {value}\r\n" for name, value in
                   {**SECURITY_HEADERS, "Content-Security-Policy": JSON_CSP}.items())


class HeldUnreader(SocketUnreader):
    """gunicorn's socket unreader, holding what it has read in one bytearray.

    gunicorn's own keeps it in a BytesIO and copies all of it on every read: a body read 64 KiB at a
    time, as Flask reads it, cost time and memory quadratic in its size (22.5 MB: 5.5 s). Here a read
    copies only what it returns, and a read of "the next piece" (the request line and headers) returns
    at most RECV_BYTES.
    """

    def __init__(self, sock, max_chunk=8192):
        super().__init__(sock, max_chunk)
        self.held = bytearray()

    @property
    def buf(self) -> io.BytesIO:
        """What is held, as gunicorn's unreader shows it: gthread looks at ``buf`` for a pipelined
        request after answering one."""
        return io.BytesIO(self.held)

    @buf.setter
    def buf(self, _value) -> None:
        """Unreader.__init__ sets an empty buffer; ``held`` is the buffer here."""

    def read(self, size=None, read_ahead=None):
        if size is not None and not isinstance(size, int):
            raise TypeError("size parameter must be an int or long.")
        if size == 0:
            return b""
        if size is None or size < 0:
            return self._take(min(len(self.held), RECV_BYTES)) if self.held else self.chunk(read_ahead)
        while len(self.held) < size:
            chunk = self.chunk(max(size, read_ahead or 0) - len(self.held))
            if not chunk:
                return self._take(len(self.held))
            self.held += chunk
        return self._take(size)

    def unread(self, data):
        if self.held or not isinstance(data, bytearray):
            self.held[:0] = data
        else:  # a whole request from RequestBuffer: taken over, not copied
            self.held = data

    def take_buffered(self):
        return self._take(len(self.held))

    def _take(self, size: int) -> bytes:
        with memoryview(self.held) as view:
            taken = bytes(view[:size])
        del self.held[:size]  # O(1): CPython moves the start of a bytearray
        return taken


class RequestBuffer:
    """The bytes of one HTTP/1.1 request as they arrive; ``feed`` says when no more are needed.

    ``refusal`` is then 413 for a body over ``limit`` (431 for a header block over 64 KiB), else
    None: the request is complete, or so malformed that gunicorn's parser refuses it from memory.
    """

    def __init__(self, limit: int, data: bytes = b""):
        self.limit = limit
        self.data = bytearray(data)
        self.refusal: int | None = None
        self.expects_continue = False  # and no "100 Continue" was sent yet
        self._body_start: int | None = None
        self._length: int | None = None  # Content-Length, or None for chunked
        self._chunk_at = 0  # chunked: where the next chunk-size line starts
        self._body_bytes = 0  # chunked: payload bytes scanned so far

    def feed(self, data: bytes) -> bool:
        self.data += data
        if self._body_start is None:
            end = self.data.find(b"\r\n\r\n")
            if end < 0:
                if len(self.data) > MAX_HEADER_BYTES:
                    self.refusal = 431
                return self.refusal is not None
            if not self._read_headers(end):
                return True
        if self._length is not None:
            return len(self.data) - self._body_start >= self._length
        return self._scan_chunks()

    def _read_headers(self, end: int) -> bool:
        """Framing from the header block ending at ``end``; False when nothing more is to be read."""
        lines = bytes(self.data[:end]).split(b"\r\n")
        fields: dict[bytes, list[bytes]] = {}
        kept = [lines[0]]
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip()
            fields.setdefault(name, []).append(value)
            if name == b"expect" and value.lower() == b"100-continue":
                self.expects_continue = True  # answered here, so the header is not passed on
            else:
                kept.append(line)
        self.data[:end] = b"\r\n".join(kept)
        self._body_start = self.data.find(b"\r\n\r\n") + 4
        self._chunk_at = self._body_start
        coding, length = fields.get(b"transfer-encoding"), fields.get(b"content-length")
        if coding:
            if length or coding[-1].lower().split(b",")[-1].strip() != b"chunked":
                return False  # ambiguous framing: gunicorn refuses it
            return True
        if length is None:
            self._length = 0
            return True
        if len(length) != 1 or not length[0].isdigit():
            return False
        self._length = int(length[0])
        if self._length > self.limit:
            self.refusal = 413
            return False
        return True

    def _scan_chunks(self) -> bool:
        """Walk the chunks received so far; True at the end of the trailer section or over the limit."""
        data, at = self.data, self._chunk_at
        while True:
            line_end = data.find(b"\r\n", at)
            if line_end < 0:
                self._chunk_at = at
                return len(data) - at > MAX_HEADER_BYTES
            size_text = bytes(data[at:line_end]).split(b";")[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                size = -1
            if size < 0:
                return True  # malformed: gunicorn answers 400
            if size == 0:
                trailers = line_end + 2
                self._chunk_at = at
                return data[trailers:trailers + 2] == b"\r\n" or data.find(b"\r\n\r\n", trailers - 2) >= 0
            if self._body_bytes + size > self.limit:
                self.refusal = 413
                return True
            if len(data) < line_end + 2 + size + 2:
                self._chunk_at = at
                return False
            self._body_bytes += size
            at = line_end + 2 + size + 2


class BufferingWorker(ThreadWorker):
    """gthread, except that connections are read in the event loop until their request is complete."""

    read_timeout_s = 15.0
    max_body_bytes = 5 * 1024 * 1024

    def init_process(self):
        settings = load_settings()
        self.read_timeout_s, self.max_body_bytes = settings.read_timeout_s, settings.max_body_bytes
        self._reading: dict[socket.socket, tuple] = {}  # socket → (connection, buffer, deadline)
        self._lingering: dict[socket.socket, tuple] = {}  # socket → (connection, when to close it)
        super().init_process()

    def run(self):
        """gthread's loop; when it ends (SIGTERM, ``--max-requests``), the worker's queued audit rows
        are written before it exits (atexit writes any that a request still finishing adds)."""
        try:
            super().run()
        finally:
            close_all()

    def enqueue_req(self, conn):
        """Every path to the thread pool (new, kept-alive, pipelined) passes here: read first."""
        if self.cfg.is_ssl:  # trd-cds serve terminates no TLS; keep gthread's behaviour there
            return super().enqueue_req(conn)
        leftover = conn.parser.unreader.take_buffered() if conn.parser else b""
        buffer = RequestBuffer(self.max_body_bytes, leftover)
        conn.sock.setblocking(False)
        self._reading[conn.sock] = (conn, buffer, time.monotonic() + self.read_timeout_s)
        if leftover and buffer.feed(b""):
            return self._dispatch(conn, buffer)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn, buffer))

    def _on_readable(self, conn, buffer, sock):
        try:
            data = sock.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.poller.unregister(sock)
            del self._reading[sock]
            self._close(conn)
            return
        try:
            complete = buffer.feed(data)
        except Exception:  # never let one client's bytes stop the worker's loop
            self.log.exception("trd-cds: unreadable request from %s", conn.client[0])
            complete, buffer.refusal = True, 431
        if complete:
            self.poller.unregister(sock)
            self._dispatch(conn, buffer)
        elif buffer.expects_continue and buffer.refusal is None:
            buffer.expects_continue = False
            self._send(sock, b"HTTP/1.1 100 Continue\r\n\r\n")

    def _dispatch(self, conn, buffer):
        del self._reading[conn.sock]
        if buffer.refusal:
            return self._refuse(conn, buffer.refusal)
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
        if not isinstance(conn.parser.unreader, HeldUnreader):
            conn.parser.unreader = HeldUnreader(conn.sock)
        conn.parser.unreader.unread(buffer.data)
        conn.data_ready = True
        super().enqueue_req(conn)

    @staticmethod
    def _send(sock, data: bytes) -> bool:
        """Best effort on a non-blocking socket (small answers fit its send buffer)."""
        try:
            return sock.send(data) == len(data)
        except OSError:
            return False

    def _refuse(self, conn, status: int):
        """Answer ``status`` and close; the rest of the upload is read and dropped for LINGER_S."""
        reason, text, field = _REFUSALS[status]
        body = json.dumps(operation_outcome(status, text, field)).encode()
        head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n{_HEADERS}"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        self.log.info("trd-cds: %s %s for a request from %s", status, reason, conn.client[0])
        if not self._send(conn.sock, head + body):
            return self._close(conn)
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            return self._close(conn)
        self._lingering[conn.sock] = (conn, time.monotonic() + LINGER_S)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._discard, conn))

    def _discard(self, conn, sock):
        try:
            if sock.recv(RECV_BYTES):
                return
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            pass
        self.poller.unregister(sock)
        del self._lingering[sock]
        self._close(conn)

    def _close(self, conn):
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self):
        """gthread's pending expiry, plus: 408 for requests not complete in time, end of lingering."""
        super().murder_pending()
        now = time.monotonic()
        for sock, (conn, _buffer, deadline) in list(self._reading.items()):
            if deadline <= now:
                self.poller.unregister(sock)
                del self._reading[sock]
                self._refuse(conn, 408)
        for sock, (conn, until) in list(self._lingering.items()):
            if until <= now:
                self.poller.unregister(sock)
                del self._lingering[sock]
                self._close(conn)
