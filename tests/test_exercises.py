"""The exercise pipeline: solutions/ -> exercises/ and the checker framework."""

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from hcedu.course import check
from hcedu.course.exercises import ExerciseError, build_all, build_exercise, strip_solutions
from hcedu.course.nbbuild import build, code, md

ROOT = Path(__file__).resolve().parents[1]


def test_exercises_are_up_to_date_with_solutions():
    out = subprocess.run([sys.executable, "-m", "hcedu.course.cli", "build-exercises", "--check", "--root", str(ROOT)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "up to date" in out.stdout


def test_every_solution_has_an_exercise_and_a_region():
    sols = sorted(p.name for p in (ROOT / "solutions").glob("*.ipynb"))
    exs = sorted(p.name for p in (ROOT / "exercises").glob("*.ipynb"))
    assert sols and sols == exs


def test_strip_solutions_keeps_indentation_and_everything_else():
    src = "def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n    ### END SOLUTION\n\nprint('kept')"
    out, n = strip_solutions(src)
    assert n == 1
    assert out == ("def f(x):\n    y = 1\n    # YOUR CODE HERE\n"
                   "    raise NotImplementedError(\"exercise: write your solution here\")\n\nprint('kept')")


@pytest.mark.parametrize("src, msg", [
    ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", "inside a function body"),
    ("def f():\n    ### BEGIN SOLUTION\n    pass", "without an END"),
    ("def f():\n    ### END SOLUTION", "without a BEGIN"),
    ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    ### END SOLUTION", "nested"),
])
def test_malformed_regions_are_clear_errors(src, msg):
    with pytest.raises(ExerciseError, match=msg):
        strip_solutions(src, "x.ipynb, cell 1")


def test_build_exercise_clears_outputs_and_needs_a_region(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION",
                                          execution_count=3,
                                          outputs=[nbformat.v4.new_output("stream", text="hi")])]
    ex = build_exercise(nb)
    assert ex.cells[0].outputs == [] and ex.cells[0].execution_count is None
    assert "return 1" not in ex.cells[0].source and "return 1" in nb.cells[0].source  # solution untouched
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    with pytest.raises(ExerciseError, match="no '### BEGIN SOLUTION'"):
        build_exercise(nb, "s.ipynb")


def test_build_all_writes_checks_and_removes_orphans(tmp_path):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "exercises").mkdir()
    build(tmp_path / "solutions" / "01_x.ipynb", [md("# x"), code("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION")])
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "exercises" / "99_orphan.ipynb")
    stale = build_all(tmp_path, check=True)
    assert {p.name for p in stale} == {"01_x.ipynb", "99_orphan.ipynb"}
    assert not (tmp_path / "exercises" / "01_x.ipynb").exists()  # check writes nothing
    build_all(tmp_path)
    assert build_all(tmp_path, check=True) == []
    assert not (tmp_path / "exercises" / "99_orphan.ipynb").exists()
    first = (tmp_path / "exercises" / "01_x.ipynb").read_bytes()
    build_all(tmp_path)
    assert (tmp_path / "exercises" / "01_x.ipynb").read_bytes() == first  # deterministic
    # a changed solution makes the exercise stale, and the CLI says which file
    build(tmp_path / "solutions" / "01_x.ipynb", [code("def f():\n    ### BEGIN SOLUTION\n    return 2\n    ### END SOLUTION"), md("new")])
    out = subprocess.run([sys.executable, "-m", "hcedu.course.cli", "build-exercises", "--check", "--root", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "01_x.ipynb" in out.stdout


def test_run_checks_verdicts():
    def fail():
        assert 1 == 2, "one is not two"

    def boom():
        raise KeyError("k")

    def todo():
        raise NotImplementedError

    ok = check.run_checks("t", [("a", lambda: None, "h")])
    assert ok and str(ok) == "✓ 1/1 checks passed: t"
    v = check.run_checks("t", [("a", lambda: None, ""), ("b", fail, "try harder"), ("c", lambda: None, "")])
    assert not v and str(v) == "✗ 1/3 checks passed, then failed: b: one is not two. Hint: try harder"
    assert "cf222e" in v._repr_html_() and "1/3 checks passed" in v._repr_html_()
    v = check.run_checks("t", [("a", boom, "h")])
    assert "raised KeyError" in str(v) and not v
    v = check.run_checks("t", [("a", todo, "h")])
    assert v.unsolved and not v and str(v).startswith("… not solved yet: t")
    assert repr(v) == str(v)


def test_checkers_are_discovered_and_the_chapter_00_checker_can_fail():
    from hcedu.lab import littles
    assert str(check.littles_law(littles.predict, measure=False)).startswith("✓ 4/4")
    wrong = check.littles_law(lambda c, p, w: c / w, measure=False)  # forgets the pool bound
    assert not wrong and "more workers than slots" in str(wrong)

    def stub(c, p, w):
        raise NotImplementedError
    assert check.littles_law(stub, measure=False).unsolved
    with pytest.raises(AttributeError, match="no checker named"):
        check.no_such_checker


def test_the_checker_index_names_what_each_module_exports():
    import importlib
    index = check._index()
    for mod in check._modules():
        module = importlib.import_module(f"hcedu.course.check.{mod}")
        assert module.__all__, f"{mod} exports nothing"
        for name in module.__all__:
            assert hasattr(module, name), f"{mod}.__all__ names {name!r}, which it does not define"
            assert index[name] == mod, f"{name!r} is exported by {mod} and by {index[name]}"
    assert set(index) == {n for mod in check._modules()
                          for n in importlib.import_module(f"hcedu.course.check.{mod}").__all__}


def test_looking_up_a_checker_imports_its_module_alone():
    # an exercise kernel pays for what its checker needs: before, check.tie_break imported ch00..ch13 in turn,
    # and with them pandas (ch03's buffer type) and fakeredis, about 0.7 CPU-s per kernel
    code = ("import sys\nfrom hcedu.course import check\ncheck.tie_break\n"
            "print(sorted(m for m in sys.modules if m.startswith('hcedu.course.check.ch')), 'pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["['hcedu.course.check.ch13']", "False"]


def test_an_error_in_the_checkers_own_code_is_reported_as_a_checker_bug():
    from hcedu.course.check import raised_in_learner_code, run_checks

    def learners_code():
        raise KeyError("learner")

    def machinery_only():
        import json
        json.loads("{")  # raised inside the standard library, called from hcedu-looking code below

    ok = run_checks("t", [("a", learners_code, "hint")])
    assert not ok and not ok.internal and "raised KeyError" in str(ok) and "Hint: hint" in str(ok)
    # an exception whose traceback holds no learner frame is the checker's own bug
    try:
        machinery_only()
    except ValueError as exc:
        assert raised_in_learner_code(exc)  # this test file is "learner" code for the rule
    from hcedu.course import check as check_pkg
    import types
    fake = types.FunctionType(compile("def f():\n    raise ValueError('schedule names actor w1 after it finished')",
                                      check_pkg.__file__, "exec").co_consts[0], {})
    v = run_checks("t", [("b", fake, "hint")])
    assert not v and v.internal
    assert "bug in hcedu, not in your code" in str(v) and "Hint" not in str(v)
