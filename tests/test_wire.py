"""grader.wire: plain data and tensors round-trip exactly; anything else is refused, never run."""
import json
import pickle
import struct

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from grader import wire


@given(dtype=st.sampled_from(sorted(wire.DTYPES)), shape=st.lists(st.integers(0, 4), max_size=4),
       seed=st.integers(0, 2**31))
def test_tensors_round_trip_bit_for_bit(dtype, shape, seed):
    g = torch.Generator().manual_seed(seed)
    t = (torch.randn(shape, generator=g, dtype=torch.float64) * 100).to(wire.DTYPES[dtype])
    back = wire.decode(wire.encode(t))
    assert type(back) is torch.Tensor and back.dtype == t.dtype and back.shape == t.shape
    assert torch.equal(back.view(-1).view(torch.uint8) if t.numel() else back, t.view(-1).view(torch.uint8) if t.numel() else t)


def test_nested_plain_data_round_trips():
    value = {"a": [1, 2.5, None, True, "s"], "b": (torch.zeros(2, 3), torch.float32), 3: {"n": float("inf")},
             "ref": wire.Ref(7), "size": torch.Size([2, 3])}
    back = wire.decode(wire.encode(value))
    assert back["a"] == [1, 2.5, None, True, "s"] and back[3]["n"] == float("inf")
    assert back["b"][1] is torch.float32 and back["ref"] == wire.Ref(7) and back["size"] == (2, 3)


def test_non_contiguous_and_conjugate_views_are_materialized():
    t = torch.arange(12.0).reshape(3, 4).t()
    assert torch.equal(wire.decode(wire.encode(t)), t)
    c = torch.randn(3, dtype=torch.complex64).conj()
    assert torch.equal(wire.decode(wire.encode(c)), c.resolve_conj())


class Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


class SubTensor(torch.Tensor):
    pass


@pytest.mark.parametrize("value", [Payload(), torch.zeros(2).as_subclass(SubTensor), {(1, 2): 3},
                                   torch.zeros(2).to_sparse(), object()])
def test_refuses_to_encode_anything_else(value):
    with pytest.raises(wire.WireError):
        wire.encode(value)


def _frame(header: object, payload: bytes = b"") -> bytes:
    h = json.dumps(header).encode()
    return struct.pack("<4sQQ", wire.MAGIC, len(h), len(payload)) + h + payload


@pytest.mark.parametrize("data", [
    pickle.dumps({"a": 1}),
    pickle.dumps(Payload()),
    b"GRW1" + b"\xff" * 16,
    _frame({"$tensor": [0, 8], "dtype": "float64", "shape": [2]}, b"\x00" * 8),  # size mismatch
    _frame({"$tensor": [4, 8], "dtype": "float64", "shape": [1]}, b"\x00" * 8),  # out of bounds
    _frame({"$tensor": [0, 8], "dtype": "object", "shape": [1]}, b"\x00" * 8),  # unknown dtype
    _frame({"$tensor": [0, 8], "dtype": "float64", "shape": [-1]}, b"\x00" * 8),
    _frame({"$dict": [[[1], 2]]}),  # unhashable key
    _frame({"$evil": "os.system"}),
    _frame({}),
    _frame({"$ref": "1"}),
    _frame(json.loads("[" * 70 + "1" + "]" * 70)),  # nested too deeply
    _frame(1)[:-1],
])
def test_refuses_malformed_frames(data):
    with pytest.raises(wire.WireError):
        wire.decode(data)


def test_refuses_frames_over_the_size_limit():
    with pytest.raises(wire.WireError, match="exceeds"):
        wire.decode(wire.encode(torch.zeros(1000)), max_bytes=1000)


def test_single_element_views_with_any_stride_round_trip():
    for dtype in (torch.int64, torch.float32, torch.bool):
        column = torch.arange(5).reshape(1, 5).to(dtype)[:, 0]  # shape (1,), stride (5,)
        assert column.stride() == (5,)
        back = wire.decode(wire.encode({"t": column}))["t"]
        assert torch.equal(back, column) and back.dtype == dtype


def test_a_header_that_would_build_too_many_objects_is_refused_before_decoding():
    header = b'{"ok":[' + b"[]," * (wire.MAX_CONTAINERS + 1) + b'[]]}'
    frame = struct.pack("<4sQQ", wire.MAGIC, len(header), 0) + header
    with pytest.raises(wire.WireError, match="containers"):
        wire.decode(frame)
    huge = struct.pack("<4sQQ", wire.MAGIC, wire.MAX_HEADER + 1, 0)
    with pytest.raises(wire.WireError, match="header"):
        wire.frame_size(huge, 1 << 30)


@pytest.mark.parametrize("shape", [[2 ** 64, 0], [-1], [1 << 60, 0], [0] * 65])
def test_impossible_tensor_shapes_are_malformed_not_a_crash(shape):
    header = json.dumps({"$tensor": [0, 0], "dtype": "float32", "shape": shape}).encode()
    with pytest.raises(wire.WireError):
        wire.decode(struct.pack("<4sQQ", wire.MAGIC, len(header), 0) + header)


def test_tensors_cannot_share_one_span_to_multiply_the_graders_memory():
    node = {"$tensor": [0, 1024], "dtype": "uint8", "shape": [1024]}
    header = json.dumps([node, node]).encode()
    with pytest.raises(wire.WireError, match="does not match"):
        wire.decode(struct.pack("<4sQQ", wire.MAGIC, len(header), 1024) + header + bytes(1024))
