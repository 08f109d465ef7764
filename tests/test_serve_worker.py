"""RequestBuffer: when the serving worker has read a whole request, and what it refuses unread."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.cli.worker import MAX_HEADER_BYTES, RequestBuffer

HEAD = b"POST /cds-services/x HTTP/1.1\r\nHost: a\r\n"


def fed(*pieces: bytes, limit: int = 100) -> tuple[bool, RequestBuffer]:
    buffer = RequestBuffer(limit)
    done = False
    for piece in pieces:
        done = buffer.feed(piece)
    return done, buffer


@pytest.mark.parametrize("pieces, complete", [
    ((HEAD, b"Content-Length: 5\r\n\r\n", b"abc"), False),
    ((HEAD, b"Content-Length: 5\r\n\r\n", b"abc", b"de"), True),
    ((HEAD + b"\r\n",), True),  # no body
    ((HEAD, b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"), False),
    ((HEAD, b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n"), False),
    ((HEAD, b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), True),
    ((HEAD, b"Transfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-Trailer: 1\r\n", b"\r\n"), True),
    ((HEAD, b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"), True),  # malformed: gunicorn answers it
    ((HEAD, b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"), True),  # ambiguous: likewise
])
def test_complete_when_the_framing_says_so(pieces, complete):
    done, buffer = fed(*pieces)
    assert done is complete and buffer.refusal is None


@pytest.mark.parametrize("pieces, status", [
    ((HEAD, b"Content-Length: 101\r\n\r\n"), 413),
    ((HEAD, b"Transfer-Encoding: chunked\r\n\r\n40\r\n" + b"x" * 64 + b"\r\n40\r\n"), 413),
    ((HEAD, b"X-Pad: " + b"x" * MAX_HEADER_BYTES), 431),
])
def test_over_the_limits_is_refused_before_the_rest_arrives(pieces, status):
    done, buffer = fed(*pieces)
    assert done and buffer.refusal == status


def test_expect_100_continue_is_taken_out_of_the_request():
    done, buffer = fed(HEAD + b"Expect: 100-continue\r\nContent-Length: 2\r\n\r\n")
    assert not done and buffer.expects_continue
    assert buffer.feed(b"{}") and bytes(buffer.data) == HEAD + b"Content-Length: 2\r\n\r\n{}"


@settings(derandomize=True, database=None, max_examples=300)
@given(st.lists(st.binary(max_size=40), max_size=8), st.sampled_from([
    HEAD + b"Content-Length: 4\r\n\r\n", HEAD + b"Transfer-Encoding: chunked\r\n\r\n", HEAD, b""]))
def test_any_bytes_in_any_pieces_never_raise(pieces, start):
    buffer = RequestBuffer(64, start)
    for piece in pieces:
        if buffer.feed(piece):
            break
    assert buffer.refusal in (None, 413, 431)


class _Source:
    """A socket whose bytes arrive in fixed pieces (what recv returns), then nothing."""

    def __init__(self, data: bytes, piece: int):
        self.pieces = [data[i:i + piece] for i in range(0, len(data), piece)]

    def recv(self, _size: int) -> bytes:
        return self.pieces.pop(0) if self.pieces else b""


@settings(max_examples=200, deadline=None)
@given(held=st.binary(max_size=300), arriving=st.binary(max_size=300), piece=st.integers(1, 50),
       steps=st.lists(st.one_of(st.none(), st.integers(-1, 120), st.binary(max_size=20)), max_size=20))
def test_held_unreader_reads_what_gunicorns_reads(held, arriving, piece, steps):
    """Reads (a size, or None for "the next piece") and unreads (bytes) give HeldUnreader's answers
    those of gunicorn's SocketUnreader (below RECV_BYTES held, where "the next piece" is all of it)."""
    from gunicorn.http.unreader import SocketUnreader

    from cds_service.cli.worker import HeldUnreader

    def answers(unreader) -> list:
        unreader.unread(bytearray(held))
        out = [unreader.unread(step) if isinstance(step, bytes) else unreader.read(step) for step in steps]
        return out + [unreader.take_buffered(), unreader.read()]

    assert answers(HeldUnreader(_Source(arriving, piece))) == answers(SocketUnreader(_Source(arriving, piece)))


def test_a_held_body_is_read_without_copying_all_of_it_on_every_read():
    """Flask reads a body in 64 KiB steps through gunicorn's Body; with gunicorn's own unreader each step
    copied everything held (quadratic; 22.5 MB took 5.5 s). Counted in bytes allocated, not time."""
    import tracemalloc

    from gunicorn.http.body import Body, LengthReader
    from gunicorn.http.unreader import SocketUnreader
    from werkzeug.wsgi import LimitedStream

    from cds_service.cli.worker import HeldUnreader

    size = 2_000_000

    def peak(unreader_class) -> float:
        unreader = unreader_class(_Source(b"", 1))
        unreader.unread(bytearray(size))
        tracemalloc.start()
        try:
            assert LimitedStream(Body(LengthReader(unreader, size)), size).read() == bytes(size)
            return tracemalloc.get_traced_memory()[1] / size
        finally:
            tracemalloc.stop()

    assert peak(HeldUnreader) < 2.5 < peak(SocketUnreader)
