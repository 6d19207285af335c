"""Framed messages over a stream socket, with an optional deadline for the reading side."""
from __future__ import annotations

import socket

from grader import clock, wire


class ChannelClosed(ConnectionError):
    """The other end closed the socket (for a worker: it exited or was killed)."""


def send(sock: socket.socket, obj) -> None:
    """Encode `obj` with `grader.wire` and send it as one frame."""
    sock.sendall(wire.encode(obj))


def receive(sock: socket.socket, max_bytes: int, deadline: float | None = None):
    """Read and decode one frame. Raises ChannelClosed on EOF, TimeoutError past `deadline`
    (a `clock.monotonic()` time), wire.WireError on malformed or oversized frames."""
    prefix = _read_exactly(sock, wire.PREFIX_SIZE, deadline)
    total = wire.frame_size(prefix, max_bytes)
    rest = _read_exactly(sock, total - wire.PREFIX_SIZE, deadline)
    return wire.decode(prefix + rest, max_bytes)


def _read_exactly(sock: socket.socket, n: int, deadline: float | None) -> bytes:
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            remaining = deadline - clock.monotonic()
            if remaining <= 0:
                raise TimeoutError
            sock.settimeout(remaining)
        try:
            chunk = sock.recv(min(n - got, 1 << 20))
        except socket.timeout:
            raise TimeoutError from None
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            raise ChannelClosed
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)
