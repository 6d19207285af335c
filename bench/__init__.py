"""`make bench`: the grader's costs measured side by side (see bench/bench.py)."""
