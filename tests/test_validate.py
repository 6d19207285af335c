"""grader.validate: an exercise proves itself, and a hole in its suite is found."""
import shutil

from grader import diagnosis
from grader.discovery import load_exercise
from grader.validate import validate_exercise
from tests.conftest import run_grade


def checks(v):
    return {c.subject: c for c in v.checks}


def test_tiny_exercise_validates(context, tiny_project):
    v = validate_exercise(load_exercise(tiny_project / "exercises" / "90_scale"), context, seeds=(0, 1))
    assert v.ok, [(c.subject, c.detail) for c in v.checks if not c.ok]
    c = checks(v)
    assert "reference (seed 1)" in c and "caught by" in c["mutant times_three"].detail


def _add_mistakes(project, text: str) -> None:
    path = project / "tests" / "mutants" / "90_scale.toml"
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def test_uncaught_mutant_fails_validation(context, tiny_project):
    _add_mistakes(tiny_project, '[sneaky]\nen = "Correct after all."\nzh = "其实是对的。"\nedits = [["2 * x", "x * 2"]]\n')
    c = checks(validate_exercise(load_exercise(tiny_project / "exercises" / "90_scale"), context))
    assert not c["mutant sneaky"].ok and "NOT caught" in c["mutant sneaky"].detail


def test_a_mistake_that_no_longer_applies_or_lacks_chinese_fails_validation(context, tiny_project):
    _add_mistakes(tiny_project, '[stale]\nen = "Halves."\nzh = "除以二。"\nedits = [["x / 2", "x / 4"]]\n'
                                '[english_only]\nen = "Cubes."\nzh = "cubes"\nedits = [["2 * x", "x ** 3"]]\n')
    c = checks(validate_exercise(load_exercise(tiny_project / "exercises" / "90_scale"), context))
    assert not c["mutant stale"].ok and "no longer applies" in c["mutant stale"].detail
    assert not c["mutants"].ok and "english_only: no Chinese sentence" in c["mutants"].detail


def test_missing_category_and_passing_stub_fail_validation(context, tiny_project):
    ex_dir = tiny_project / "exercises" / "90_scale"
    toml = ex_dir / "exercise.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('convergence = "nothing to learn"\n', ""), encoding="utf-8")
    (ex_dir / "solution.py").write_text("def scale(x):\n    return 2 * x\n")
    c = checks(validate_exercise(load_exercise(ex_dir), context))
    assert not c["categories"].ok and "convergence" in c["categories"].detail
    assert not c["stub"].ok


def test_validate_jobs_run_in_parallel_processes_and_report_in_order(tiny_project):
    """`grade validate -j 2 --diagnoses`: each exercise in its own process; results print in catalog order."""
    exercises = tiny_project / "exercises"
    for new_id in ("91_scale", "92_scale"):
        shutil.copytree(exercises / "90_scale", exercises / new_id)
        toml = exercises / new_id / "exercise.toml"
        toml.write_text(toml.read_text(encoding="utf-8").replace("90_scale", new_id), encoding="utf-8")
        shutil.copy(tiny_project / "solutions" / "90_scale.py", tiny_project / "solutions" / f"{new_id}.py")
        shutil.copy(tiny_project / "tests" / "mutants" / "90_scale.toml", tiny_project / "tests" / "mutants" / f"{new_id}.toml")
        shutil.copytree(tiny_project / "tests" / "alternatives" / "90_scale", tiny_project / "tests" / "alternatives" / new_id)
    (tiny_project / "solutions" / "91_scale.py").write_text("def scale(x):\n    return x + x + 0.5\n")
    done = run_grade("validate", exercises, "-j", "2", "--diagnoses", cwd=tiny_project)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.count("diagnoses: 1/1 named by their first failure") == 2, done.stdout  # 91's no longer applies
    headers = [line.split()[:2] for line in done.stdout.splitlines() if line.startswith("9")]
    assert headers == [["90_scale", "ok"], ["91_scale", "FAILED"], ["92_scale", "ok"]], done.stdout
    assert "2/3 exercises validated" in done.stdout


def test_variants_wrap_public_functions_and_entry_methods_but_not_helpers_or_properties():
    from grader import variants

    source = '''
import torch
def helper(x): return x
def _private(x): return x
class CRF(torch.nn.Module):
    def forward(self, x): return self.step(x)
    def step(self, x): return x  # called by forward: a loop over it must not agree with forward on a constant
    def score(self, x): return x
    @torch.no_grad()
    def viterbi_decode(self, x): return x
    @staticmethod
    def full_mask(x): return x
    @property
    def size(self): return 3
    @classmethod
    def build(cls): return cls()
    def _inner(self, x): return x
    def backward(self, x): return x
class _Hidden:
    def forward(self, x): return x
'''
    assert variants.targets(source) == [("helper", False), ("CRF.forward", False), ("CRF.score", False),
                                        ("CRF.viterbi_decode", False), ("CRF.full_mask", True)]


def test_diagnoses_cache_each_mistakes_first_failure_and_verdicts_alone_cache_none(context, tiny_project, tmp_path,
                                                                                     monkeypatch):
    monkeypatch.setenv(diagnosis.CACHE_ENV, str(tmp_path / "cache"))
    exercise = load_exercise(tiny_project / "exercises" / "90_scale")
    quick = checks(validate_exercise(exercise, context))
    assert quick["mutant times_three"].ok and "diagnoses" not in quick
    assert not list((tmp_path / "cache").rglob("*.json"))
    full = checks(validate_exercise(exercise, context, diagnoses=True))
    assert full["mutant times_three"].ok and full["diagnoses"].ok, full["diagnoses"].detail
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 1
