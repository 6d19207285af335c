"""The test categories an exercise is graded in, and what each one means."""

CATEGORIES: dict[str, str] = {
    "shape": "output shapes, dtypes and the module's interface over many sizes",
    "equivalence": "values equal to the reference and to a library oracle",
    "gradient": "input and parameter gradients, and a finite-difference check",
    "convergence": "learns a small synthetic task within a step budget",
    "property": "invariances the topic implies (equivariance, causality, masking, stability)",
    "constraints": "forbidden APIs are not used",
}


def check_category(name: str) -> str:
    """Return `name` if it is a known category, else raise ValueError naming the known ones."""
    if name not in CATEGORIES:
        raise ValueError(f"unknown test category {name!r}; expected one of {', '.join(CATEGORIES)}")
    return name
