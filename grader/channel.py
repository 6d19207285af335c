"""Framed messages over a stream socket, with an optional deadline for the reading side.

Shared by both sides (see grader/worker/__init__.py): the grader and the worker talk through it.
"""
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
    prefix = bytearray(wire.PREFIX_SIZE)
    _read_into(sock, memoryview(prefix), deadline)
    frame = bytearray(wire.frame_size(bytes(prefix), max_bytes))  # oversized frames are refused unread
    frame[:wire.PREFIX_SIZE] = prefix  # one buffer for the whole frame: no copies while reading
    _read_into(sock, memoryview(frame)[wire.PREFIX_SIZE:], deadline)
    return wire.decode(frame, max_bytes)


def _read_into(sock: socket.socket, view: memoryview, deadline: float | None) -> None:
    got = 0
    while got < len(view):
        if deadline is not None:
            remaining = deadline - clock.monotonic()
            if remaining <= 0:
                raise TimeoutError
            sock.settimeout(remaining)
        try:
            count = sock.recv_into(view[got:], min(len(view) - got, 1 << 20))
        except socket.timeout:
            raise TimeoutError from None
        except (ConnectionResetError, BrokenPipeError):
            count = 0
        if not count:
            raise ChannelClosed
        got += count
