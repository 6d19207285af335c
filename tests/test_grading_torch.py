"""grader.grading_torch: torch's passing plain-bool checks load no sympy; every other check is torch's own."""
import subprocess
import sys
from pathlib import Path

PROGRAM = """
import sys, torch
from torch import nn
from grader import grading_torch
grading_torch.configure(); grading_torch.configure()  # idempotent: wrapped once
assert torch.get_num_threads() == 1
mha = nn.MultiheadAttention(4, 2, batch_first=True)
x, padded = torch.randn(2, 3, 4), torch.tensor([[False, False, True], [False, True, True]])
y, _ = mha(x, x, x, key_padding_mask=padded)  # torch checks the mask's shape with torch._check_with
assert torch._check(True) is None and torch._check_with(ValueError, 2 > 1, "unused") is None
print("sympy" in sys.modules)
for args in [(RuntimeError, False, lambda: "boom"), (ValueError, 1 == 2, "plain"), (RuntimeError, torch.tensor(True), "t"),
             (RuntimeError, 1, "int")]:
    try:
        torch._check_with(*args)
    except Exception as e:
        print(type(e).__name__, str(e)[:30])
try:
    mha(x, x, x, key_padding_mask=padded[:1])
except AssertionError as e:
    print("AssertionError", e)
"""


def test_passing_checks_load_no_sympy_and_failing_ones_are_torchs_own():
    done = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.stdout.splitlines() == [
        "False",
        "RuntimeError boom",
        "ValueError plain",
        "TypeError cond must be a bool, but got a",
        "TypeError cond must be a bool, but got <",
        "AssertionError Expected key_padded_mask.shape[0] to be 2, but got 1",
    ]
