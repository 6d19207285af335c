"""grader.static_checks: forbidden APIs, refused means and missing names found in the source
(the policy's bypass table is in test_static_policy.py)."""
from grader.static_checks import scan

FORBIDDEN = ("torch.nn.MultiheadAttention", "torch.nn.functional.scaled_dot_product_attention")


def kinds(source, required=("SelfAttention",)):
    return [(f.kind, f.line) for f in scan(source, FORBIDDEN, required)]


def test_clean_source_has_no_findings():
    src = "import torch\nclass SelfAttention(torch.nn.Module):\n    '''Unlike nn.MultiheadAttention...'''\n"
    assert kinds(src) == []


def test_finds_forbidden_attribute_import_name_and_string():
    src = (
        "import torch\n"
        "import torch.nn as nn\n"
        "from torch.nn.functional import scaled_dot_product_attention as sdpa\n"
        "class SelfAttention(nn.Module):\n"
        "    def forward(self, x):\n"
        "        m = nn.MultiheadAttention(4, 2)\n"
        "        f = getattr(torch.nn.functional, 'scaled_dot_product_attention')\n"
    )
    found = kinds(src)
    assert ("forbidden", 3) in found and ("forbidden", 6) in found and ("forbidden", 7) in found


def test_finds_dynamic_code():
    src = "import importlib\nclass SelfAttention: pass\nexec('x=1')\nimportlib.import_module('os')\n__import__('os')\n"
    assert kinds(src) == [("policy", 1), ("policy", 3), ("policy", 5)]


def test_method_named_eval_is_not_dynamic_code():
    assert kinds("class SelfAttention: pass\nmodel.eval()\n") == []


def test_missing_names_and_syntax_errors():
    assert kinds("class Other: pass\n") == [("missing", 0)]
    assert kinds("def f(:\n") == [("syntax", 1)]


def test_assignments_and_imports_define_names():
    assert kinds("from collections import OrderedDict as SelfAttention\n") == []
    assert kinds("SelfAttention = None\n") == []


def test_the_files_own_functions_and_prose_may_share_a_forbidden_name():
    forbidden = ("torch.nn.functional.dropout", "torch.nn.functional.cross_entropy")
    own = (
        "import torch\n"
        "def dropout(x, p):\n"
        "    if not 0 <= p <= 1:\n"
        "        raise ValueError(f'dropout probability must be in [0, 1], got {p}')\n"
        "    return x\n"
        "def twice(x):\n"
        "    return dropout(dropout(x, 0.5), 0.5)\n"
    )
    assert scan(own, forbidden) == []
    assert scan("class M:\n    def forward(self, x):\n        return self.dropout(x)\n", forbidden) == []
    borrowed = (
        "import torch.nn.functional as F\n"
        "def cross_entropy(x, t):\n"
        "    return F.cross_entropy(x, t)\n"          # the library's, through an attribute
        "def other(x):\n"
        "    return getattr(F, 'dropout')(x)\n"        # by a literal name
        "from torch.nn.functional import dropout\n"    # by import
    )
    assert sorted(f.line for f in scan(borrowed, forbidden)) == [3, 5, 6]
