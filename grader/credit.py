"""Which passing tests earn their points: no value, no points.

A constant, NaN or stub output has the right shape and many properties (it is causal, it is
permutation-equivariant, its gradients agree with finite differences of a constant). Only
equivalence and convergence tests show that a solution computes something: when none of them
passed, no other test is credited either.
"""
from __future__ import annotations

from grader.results import ExerciseResult

VALUE_CATEGORIES = ("equivalence", "convergence")
NOT_CREDITED = ("not credited: no equivalence or convergence test passed, so passing this test shows "
                "nothing about your solution (a constant or NaN output passes it too)")


def apply(result: ExerciseResult) -> None:
    """Turn passes into failures worth nothing when no value test of the run passed."""
    value_tests = [t for t in result.tests if t.category in VALUE_CATEGORIES and t.status != "skip"]
    if not value_tests or any(t.status == "pass" for t in value_tests):
        return
    for test in result.tests:
        if test.status == "pass":
            test.status, test.earned, test.message = "fail", 0.0, NOT_CREDITED
