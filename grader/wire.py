"""Safe by-value encoding of plain data and tensors across the worker boundary (no pickle).

Shared by both sides (see grader/worker/__init__.py): the worker encodes, the grader decodes.
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass

import torch

from grader.limits import DEFAULTS, MAX_CONTAINERS, MAX_DEPTH, MAX_DIM, MAX_HEADER, MiB

MAGIC = b"GRW1"
_PREFIX = struct.Struct("<4sQQ")  # magic, header length, payload length
# What one frame may hold besides tensor bytes (grader.limits): the header is decoded into Python
# objects (about 50x its size at worst), so it is kept small; tensors' bytes are bounded by the frame size.

# The only dtypes that cross; anything else is refused rather than guessed.
DTYPES = {
    name: getattr(torch, name)
    for name in (
        "float64", "float32", "float16", "bfloat16", "complex64", "complex128",
        "int64", "int32", "int16", "int8", "uint8", "bool",
    )
}
_DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}


class WireError(ValueError):
    """Data that cannot be encoded, or bytes that are not a well-formed message."""


@dataclass(frozen=True)
class Ref:
    """A handle to an object that lives in the worker (only its id crosses)."""

    id: int


def encode(obj) -> bytes:
    """Encode `obj` (None, bool, int, float, str, list, tuple, dict, Tensor, dtype, Ref) as one frame."""
    buffers: list[bytes] = []
    header = json.dumps(_to_node(obj, buffers, 0), separators=(",", ":")).encode()
    if len(header) > MAX_HEADER:
        raise WireError(f"too much plain data in one message ({len(header)} bytes of JSON; return tensors instead)")
    payload = b"".join(buffers)
    return _PREFIX.pack(MAGIC, len(header), len(payload)) + header + payload


def frame_size(prefix: bytes, max_bytes: int) -> int:
    """Total frame length announced by the first `PREFIX_SIZE` bytes; refuses oversized frames."""
    magic, header_len, payload_len = _PREFIX.unpack(prefix)
    if magic != MAGIC:
        raise WireError("not a grader message (bad magic)")
    if header_len > MAX_HEADER:
        raise WireError(f"a message header of {header_len} bytes exceeds the {MAX_HEADER}-byte limit")
    total = _PREFIX.size + header_len + payload_len
    if total > max_bytes:
        raise WireError(f"message of {total} bytes exceeds the {max_bytes}-byte limit")
    return total


PREFIX_SIZE = _PREFIX.size


def decode(data: bytes | bytearray, max_bytes: int = DEFAULTS.message_mb * MiB):
    """Decode one frame made by `encode`. Only builds plain containers and fresh torch.Tensors."""
    if len(data) < PREFIX_SIZE:
        raise WireError("truncated message")
    total = frame_size(data[:PREFIX_SIZE], max_bytes)
    if total != len(data):
        raise WireError(f"message length {len(data)} does not match its header ({total})")
    _, header_len, _ = _PREFIX.unpack(data[:PREFIX_SIZE])
    header = data[PREFIX_SIZE:PREFIX_SIZE + header_len]
    if header.count(b"[") + header.count(b"{") > MAX_CONTAINERS:  # counted before anything is built
        raise WireError(f"more than {MAX_CONTAINERS} containers in one message")
    try:
        node = json.loads(header)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise WireError(f"unreadable message header: {e}") from None
    payload = _Payload(memoryview(data)[PREFIX_SIZE + header_len:])
    return _from_node(node, payload, 0)


class _Payload:
    """The frame's tensor bytes, and how many may still be copied out (each byte at most once)."""

    def __init__(self, view: memoryview):
        self.view, self.budget = view, len(view)

    def take(self, offset: int, nbytes: int) -> bytearray:
        if offset + nbytes > len(self.view) or nbytes > self.budget:
            raise WireError("tensor size does not match its data")
        self.budget -= nbytes
        return bytearray(self.view[offset:offset + nbytes])  # a private, writable copy


def _to_node(obj, buffers: list[bytes], depth: int):
    if depth > MAX_DEPTH:
        raise WireError("data nested too deeply")
    kind = type(obj)
    if obj is None or kind in (bool, int, float, str):
        return obj
    if kind is list:
        return [_to_node(x, buffers, depth + 1) for x in obj]
    if kind is tuple or kind is torch.Size:
        return {"$tuple": [_to_node(x, buffers, depth + 1) for x in obj]}
    if kind is dict:
        return {"$dict": [[_key(k), _to_node(v, buffers, depth + 1)] for k, v in obj.items()]}
    if kind is torch.Tensor:
        return _tensor_node(obj, buffers)
    if kind is torch.dtype:
        return {"$dtype": _dtype_name(obj)}
    if kind is Ref:
        return {"$ref": obj.id}
    raise WireError(f"cannot send an object of type {kind.__module__}.{kind.__qualname__} by value")


def _key(k):
    if k is None or type(k) in (bool, int, float, str):
        return k
    raise WireError(f"dict keys must be plain scalars, not {type(k).__qualname__}")


def _dtype_name(dtype: torch.dtype) -> str:
    if dtype not in _DTYPE_NAMES:
        raise WireError(f"dtype {dtype} does not cross the worker boundary")
    return _DTYPE_NAMES[dtype]


def _tensor_node(t: torch.Tensor, buffers: list[bytes]) -> dict:
    if t.layout != torch.strided or t.is_quantized or t.device.type == "meta":
        raise WireError(f"only dense tensors cross the worker boundary (got {t.layout} on {t.device})")
    name = _dtype_name(t.dtype)
    flat = t.detach().resolve_conj().resolve_neg().to("cpu").contiguous().reshape(-1)
    if flat.numel() and flat.stride(0) != 1:  # one element keeps any stride (e.g. x[:, 0] for B=1)
        flat = flat.as_strided((flat.numel(),), (1,))
    raw = flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""
    offset = sum(len(b) for b in buffers)
    buffers.append(raw)
    return {"$tensor": [offset, len(raw)], "dtype": name, "shape": list(t.shape)}


def _from_node(node, payload: _Payload, depth: int):
    if depth > MAX_DEPTH:
        raise WireError("data nested too deeply")
    if node is None or type(node) in (bool, int, float, str):
        return node
    if type(node) is list:
        return [_from_node(x, payload, depth + 1) for x in node]
    if type(node) is not dict or len(node) == 0:
        raise WireError("malformed node")
    if "$tuple" in node:
        return tuple(_from_node(x, payload, depth + 1) for x in _list(node["$tuple"]))
    if "$dict" in node:
        return {_plain_key(k): _from_node(v, payload, depth + 1) for k, v in _pairs(node["$dict"])}
    if "$tensor" in node:
        return _tensor_from_node(node, payload)
    if "$dtype" in node:
        return DTYPES[_dtype_key(node["$dtype"])]
    if "$ref" in node and type(node["$ref"]) is int:
        return Ref(node["$ref"])
    raise WireError("malformed node")


def _list(x) -> list:
    if type(x) is not list:
        raise WireError("malformed container")
    return x


def _pairs(x) -> list:
    pairs = _list(x)
    if not all(type(p) is list and len(p) == 2 for p in pairs):
        raise WireError("malformed dict")
    return pairs


def _plain_key(k):
    if k is None or type(k) in (bool, int, float, str):
        return k
    raise WireError("malformed dict key")


def _dtype_key(name) -> str:
    if type(name) is not str or name not in DTYPES:
        raise WireError(f"unknown dtype {name!r}")
    return name


def _tensor_from_node(node: dict, payload: _Payload) -> torch.Tensor:
    dtype = DTYPES[_dtype_key(node.get("dtype"))]
    span, shape = node.get("$tensor"), node.get("shape")
    if not (type(span) is list and len(span) == 2 and all(type(v) is int and v >= 0 for v in span)):
        raise WireError("malformed tensor span")
    if not (type(shape) is list and len(shape) <= MAX_DEPTH and all(type(s) is int and 0 <= s < MAX_DIM for s in shape)):
        raise WireError("malformed tensor shape")
    offset, nbytes = span
    numel = 1
    for s in shape:
        numel *= s
    itemsize = torch.empty((), dtype=dtype).element_size()
    if numel * itemsize != nbytes:
        raise WireError("tensor size does not match its data")
    try:
        if numel == 0:
            return torch.empty(shape, dtype=dtype)
        return torch.frombuffer(payload.take(offset, nbytes), dtype=dtype).reshape(shape)
    except (RuntimeError, TypeError, ValueError, OverflowError) as e:
        raise WireError(f"malformed tensor: {e}") from None
