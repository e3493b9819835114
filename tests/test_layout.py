"""Module size (issue 16): no module in hcedu/lab or hcedu/patterns over 600 lines, so each holds one job.

hcedu/go is exempt: it follows Go's own file boundaries (runtime/chan.go, sync/...).
"""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "hcedu"
LIMIT = 600


@pytest.mark.parametrize("package", ["lab", "patterns"])
def test_no_module_over_600_lines(package):
    modules = sorted((ROOT / package).glob("*.py"))
    assert len(modules) > 5, f"found only {len(modules)} modules under hcedu/{package}: wrong path?"
    too_long = {p.name: n for p in modules if (n := len(p.read_text(encoding="utf-8").splitlines())) > LIMIT}
    assert not too_long, f"split these hcedu/{package} modules into one job each (lines > {LIMIT}): {too_long}"
