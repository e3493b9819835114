"""The grammar of ``hcedu.lab`` (CONTRIBUTING.md, "The lab's grammar"), checked on every module.

experiment -> result -> chart -> dashboard: an experiment returns a DataFrame or a frozen dataclass holding
one (no ``DataFrame.attrs`` side channel); ``chart_*`` returns a Figure; ``dashboard``/``dashboard_*``
returns a widget; nothing else returns either. Names are read from each module's ``__all__``, annotations
from the source, so a chart added under another name, or a widget returned from an experiment, fails here.
(Time and threads: tests/test_time_policy.py; module size: tests/test_layout.py.)
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import hcedu.lab

LAB = Path(hcedu.lab.__file__).parent
MODULES = sorted(m.name for m in pkgutil.iter_modules([str(LAB)]) if not m.name.startswith("_"))


def _public_functions(module):
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name)
        if inspect.isfunction(obj) and obj.__module__ == module.__name__:
            yield name, obj


def _returns(fn) -> str:
    """The return annotation as written (``from __future__ import annotations`` keeps it a string)."""
    ann = inspect.signature(fn).return_annotation
    if ann is inspect.Signature.empty:
        return ""
    return ann if isinstance(ann, str) else getattr(ann, "__name__", str(ann))


def _kind(annotation: str) -> str:
    last = annotation.strip("'\"").split(".")[-1]
    return {"Figure": "figure", "Widget": "widget"}.get(last, "")


def naming_errors(module) -> list[str]:
    wrong = []
    for name, fn in _public_functions(module):
        kind = _kind(_returns(fn))
        if name.startswith("chart_") and kind != "figure":
            wrong.append(f"{name} is a chart: annotate it -> \"Figure\"")
        elif name.startswith("dashboard") and kind != "widget":
            wrong.append(f"{name} is a dashboard: annotate it -> \"Widget\"")
        elif kind == "figure" and not name.startswith("chart_"):
            wrong.append(f"{name} returns a Figure: call it chart_<what>")
        elif kind == "widget" and not name.startswith("dashboard"):
            wrong.append(f"{name} returns a widget: call it dashboard or dashboard_<what>")
    return wrong


def attrs_lines(source: str) -> list[int]:
    return [n.lineno for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Attribute) and n.attr == "attrs"]


@pytest.mark.parametrize("module_name", MODULES)
def test_charts_are_chart_star_and_dashboards_are_dashboard_star(module_name):
    wrong = naming_errors(importlib.import_module(f"hcedu.lab.{module_name}"))
    assert not wrong, f"hcedu/lab/{module_name}.py: " + "; ".join(wrong)


@pytest.mark.parametrize("module_name", MODULES)
def test_results_carry_named_fields_not_dataframe_attrs(module_name):
    path = LAB / f"{module_name}.py"
    if not path.exists():
        pytest.skip("a package, not a module")
    hits = attrs_lines(path.read_text(encoding="utf-8"))
    assert not hits, (f"hcedu/lab/{module_name}.py uses DataFrame.attrs on lines {hits}: return a frozen dataclass "
                      f"with the frame and named fields instead")
    module = importlib.import_module(f"hcedu.lab.{module_name}")
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name)
        if inspect.isclass(obj) and dataclasses.is_dataclass(obj) and obj.__module__ == module.__name__:
            fields = {f.name for f in dataclasses.fields(obj)}
            if "frame" in fields:
                assert obj.__dataclass_params__.frozen, f"{module_name}.{name} is a result: make it frozen"


def test_the_grammar_check_catches_a_chart_under_another_name(tmp_path, monkeypatch):
    """The check above can fail: a module with a badly named chart and an .attrs side channel."""
    pkg = tmp_path / "fakelab"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "bad.py").write_text(
        "from __future__ import annotations\n__all__ = ['plot_x', 'chart_y', 'run']\n"
        "def plot_x(frame) -> 'Figure': ...\n"
        "def chart_y(frame): ...\n"
        "def run():\n    import pandas as pd\n    f = pd.DataFrame()\n    f.attrs['n'] = 1\n    return f\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert naming_errors(importlib.import_module("fakelab.bad")) == [
        "plot_x returns a Figure: call it chart_<what>", 'chart_y is a chart: annotate it -> "Figure"']
    assert attrs_lines((pkg / "bad.py").read_text()) == [8]
