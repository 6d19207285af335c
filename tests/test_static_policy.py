"""The static policy: every indirect route to a forbidden operation that examiners found is refused,
and correct code that merely shares a word with a forbidden API is not."""
import textwrap

import pytest

from grader.static_checks import scan

ATTENTION = ("torch.nn.MultiheadAttention", "torch.nn.functional.scaled_dot_product_attention",
             "torch.nn.functional.multi_head_attention_forward")
LINEAR = ("torch.nn.Linear", "torch.nn.functional.linear")
CROSS_ENTROPY = ("torch.nn.functional.cross_entropy", "torch.nn.functional.log_softmax", "torch.log_softmax",
                 "torch.logsumexp", "torch.distributions")

# (what it tries, forbidden APIs, source): each must produce a forbidden or policy finding.
REFUSED = [
    ("aten op through torch.ops", ATTENTION,
     "import torch\ny = torch.ops.aten._scaled_dot_product_attention_math(q, k, v)[0]"),
    ("aten linear through torch.ops", LINEAR, "import torch\ny = torch.ops.aten.linear(x, w)"),
    ("torch._C._nn spelled literally", CROSS_ENTROPY, "import torch\nl = torch._C._nn.cross_entropy_loss(x, t)"),
    ("torch._C._VariableFunctions", LINEAR, "import torch\nf = torch._C._VariableFunctions"),
    ("from torch._C import", CROSS_ENTROPY, "from torch._C import _nn\nl = _nn.cross_entropy_loss(x, t)"),
    ("distributions for log-softmax", CROSS_ENTROPY,
     "import torch\nl = torch.distributions.Categorical(logits=x).logits"),
    ("gc.get_objects", LINEAR, "import gc\nfs = [o for o in gc.get_objects()]"),
    ("computed getattr on a module", LINEAR, "import torch.nn.functional as F\nf = getattr(F, 'lin' + 'ear')"),
    ("literal getattr on a module", LINEAR, "import torch.nn.functional as F\nf = getattr(F, 'linear')"),
    ("rot13 + attrgetter", LINEAR,
     "import codecs, operator\nf = operator.attrgetter(codecs.decode('yvarne', 'rot13'))"),
    ("attrgetter from operator", LINEAR, "from operator import attrgetter\nf = attrgetter('nn.functional.linear')"),
    ("builtins.exec of base64", LINEAR, "import builtins, base64\nbuiltins.exec(base64.b64decode(b'eA=='))"),
    ("exec", LINEAR, "exec('y = 1')"),
    ("eval", LINEAR, "y = eval('1')"),
    ("__import__", LINEAR, "F = __import__('torch').nn.functional"),
    ("importlib", LINEAR, "import importlib\nF = importlib.import_module('torch.nn.functional')"),
    ("__dict__ of a module", LINEAR, "import torch.nn.functional as F\nf = F.__dict__['linear']"),
    ("vars of a module", LINEAR, "import torch.nn.functional as F\nf = vars(F)['linear']"),
    ("globals", LINEAR, "f = globals()['x']"),
    ("sys.modules", LINEAR, "import sys\nF = sys.modules['torch.nn.functional']"),
    ("sys._getframe", LINEAR, "import sys\nf = sys._getframe(1)"),
    ("frame through a traceback", LINEAR,
     "try:\n    1 / 0\nexcept Exception as e:\n    g = e.__traceback__.tb_frame.f_back.f_globals"),
    ("__subclasses__", ATTENTION, "import torch\ncs = torch.nn.Module.__subclasses__()"),
    ("dispatch stack length", ATTENTION, "import torch\nn = torch._C._len_torch_dispatch_stack()"),
    ("disable torch dispatch", ATTENTION, "from torch._C import _DisableTorchDispatch"),
    ("a thread", ATTENTION, "import threading\nthreading.Thread(target=print).start()"),
    ("a process", ATTENTION, "import multiprocessing"),
    ("torch.multiprocessing", ATTENTION, "import torch.multiprocessing as mp"),
    ("ctypes", ATTENTION, "import ctypes"),
    ("os", ATTENTION, "import os"),
    ("torch.jit compiles text", LINEAR, "import torch\ncu = torch.jit.CompilationUnit('def f(x): return x')"),
    ("torch.library", LINEAR, "import torch.library"),
    ("profiler off", LINEAR, "import torch\ntorch.autograd.profiler.profile"),
    ("star import", LINEAR, "from torch.nn.functional import *"),
    ("forbidden module re-export", ATTENTION, "import torch\nm = torch.nn.modules.activation.MultiheadAttention(4, 2)"),
    ("forbidden class via from-import alias", ATTENTION, "from torch.nn import MultiheadAttention as M\nm = M(4, 2)"),
    ("forbidden function alias", LINEAR, "import torch.nn.functional as F\nlin = F.linear\ny = lin(x, w)"),
    ("tensor method twin", CROSS_ENTROPY, "def f(x):\n    return x.log_softmax(-1)"),
    ("logsumexp method twin", CROSS_ENTROPY, "def f(x):\n    return x - x.logsumexp(-1, keepdim=True)"),
    ("private helper of functional", ATTENTION, "import torch.nn.functional as F\nq = F._in_projection_packed(q, k, v, w)"),
    ("computed getattr on a class", ATTENTION, "import torch\nf = getattr(torch.Tensor, 'log_' + 'softmax')"),
    ("computed getattr on an expression", ATTENTION, "def f(x, n):\n    return getattr(type(x), n)(x)"),
    ("getattr as a value", LINEAR, "import functools, torch\nf = functools.reduce(getattr, ['nn', 'functional'], torch)"),
    ("object.__getattribute__", LINEAR, "import torch.nn.functional as F\nf = object.__getattribute__(F, 'linear')"),
]

# (why it is fine, forbidden APIs, source): no finding at all.
ALLOWED = [
    ("a local variable named linear", LINEAR, "def f(x, w):\n    linear = x @ w.t()\n    return linear"),
    ("calculate_gain('linear')", LINEAR,
     "import torch\nfrom torch import nn\ng = nn.init.calculate_gain('linear')\n"
     "w = torch.empty(3, 3)\nnn.init.xavier_uniform_(w, gain=nn.init.calculate_gain('linear'))"),
    ("its own attribute self.linear", LINEAR, "class M:\n    def forward(self, x):\n        return self.linear(x)"),
    ("its own def named like the API", CROSS_ENTROPY,
     "def log_softmax(x):\n    m = x.amax(-1, keepdim=True)\n    return x - m - (x - m).exp().sum(-1, keepdim=True).log()"),
    ("nn.Linear where not forbidden", ATTENTION, "from torch import nn\nq = nn.Linear(4, 4)"),
    ("super().__init__ and private self attributes", ATTENTION,
     "from torch import nn\nclass A(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
     "        self._cache = None\n        self.register_buffer('_mask', None)"),
    ("computed getattr on self", ATTENTION,
     "class A:\n    def f(self, i):\n        return getattr(self, f'layer{i}')"),
    ("typing, math, dataclasses, collections", ATTENTION,
     "from __future__ import annotations\nimport math\nfrom dataclasses import dataclass\n"
     "from collections import OrderedDict\nfrom typing import Optional\nx = math.sqrt(2)"),
    ("docstrings and comments naming the API", LINEAR,
     '"""Like torch.nn.functional.linear, by hand."""\n# F.linear would do this\ny = 1'),
    ("sys facts", ATTENTION, "import sys\nbig = sys.maxsize"),
    ("type(self).__name__", ATTENTION, "class A:\n    def __repr__(self):\n        return type(self).__name__"),
    ("a parameter named input", ATTENTION, "def forward(input):\n    return input * 2"),
    ("computed getattr on a variable of its own", ATTENTION,
     "def walk(model, path):\n    for part in path.split('.'):\n        model = getattr(model, part)\n    return model"),
    ("Tensor.unfold where F.unfold is forbidden", ("torch.nn.functional.unfold",),
     "def patches(x, p):\n    return x.unfold(2, p, p).unfold(3, p, p)"),
    ("model.eval()", ATTENTION, "def f(model):\n    model.eval()\n    return model"),
    ("torch's own init helpers, as Linear.reset_parameters writes them", LINEAR,
     "import math\nfrom torch.nn import init\nfrom torch.nn.modules.utils import _pair\n"
     "def reset(w, b):\n    init.kaiming_uniform_(w, a=math.sqrt(5))\n"
     "    fan_in, _ = init._calculate_fan_in_and_fan_out(w)\n    init.uniform_(b, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))\n"
     "k = _pair(3)"),
    ("__slots__, object.__setattr__ and a __main__ block with argparse", ATTENTION,
     "import argparse\nclass P:\n    __slots__ = ('a',)\n    def __init__(self):\n        object.__setattr__(self, 'a', 1)\n"
     "if __name__ == '__main__':\n    argparse.ArgumentParser().parse_args()"),
    ("torch.jit.is_scripting guards copied from torch", ATTENTION,
     "import torch\ndef f(x):\n    if not torch.jit.is_scripting():\n        x = x + 0\n    return x"),
]


@pytest.mark.parametrize("about, forbidden, source", REFUSED, ids=[r[0] for r in REFUSED])
def test_indirect_route_is_refused(about, forbidden, source):
    findings = [f for f in scan(textwrap.dedent(source), forbidden) if f.kind in ("forbidden", "policy")]
    assert findings, f"{about}: nothing was found in\n{source}"


@pytest.mark.parametrize("about, forbidden, source", ALLOWED, ids=[a[0] for a in ALLOWED])
def test_correct_code_is_not_refused(about, forbidden, source):
    findings = scan(textwrap.dedent(source), forbidden)
    assert not findings, f"{about}: {[f.message for f in findings]}"


def test_an_exercise_can_extend_the_import_allowlist():
    assert scan("import os\n", ())
    assert not scan("import os\n", (), allow_imports=("os",))
    assert scan("import torch.distributed as dist\n", ())  # denied for all ...
    assert not scan("import torch.distributed as dist\n", (), allow_imports=("torch.distributed",))  # ... but 08


def test_findings_name_the_line():
    (finding,) = scan("import torch\n\n\ny = torch.ops.aten.linear(x, w)\n", LINEAR)
    assert finding.line == 4 and "torch.ops" in finding.message
