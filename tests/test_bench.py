"""hcedu.lab.bench: the claim table `make bench` prints, and what makes it fail."""

import math

import pytest

from hcedu.lab import bench


def test_claims_print_check_and_record(tmp_path, monkeypatch):
    path = tmp_path / "claims.jsonl"
    monkeypatch.setenv(bench.ENV, str(path))
    lines = []
    c = bench.Claims("demo", out=lines.append)
    assert c.check("fast / slow", 3.0, at_least=2.0) is True
    assert c.check("ratio in a band", 1.3, at_least=0.85, at_most=1.15) is False
    assert c.exact("received / sent", 10, 10) is True
    assert lines[0] == bench.header() and len(lines) == 4
    assert lines[1].split("|")[1:] == ["     3.00x ", " >= 2x         ", " PASS"]
    assert lines[2].endswith("| 0.85x - 1.15x | FAIL") and "| == 1x" in lines[3]
    assert c.exit_code() == 1 and [f.claim for f in c.failed] == ["ratio in a band"]
    assert [(k.source, k.claim, k.passed) for k in bench.load(str(path))] == [
        ("demo", "fast / slow", True), ("demo", "ratio in a band", False), ("demo", "received / sent", True)]
    assert "3 checked, 1 failed" in repr(c)


def test_edge_cases():
    c = bench.Claims("edge", out=None)
    assert c.check("no measurement", math.nan, at_most=1.0) is False      # a NaN never passes
    assert c.exact("nothing expected, nothing got", 0, 0) is True
    assert c.exact("something where nothing was expected", 2, 0) is False
    assert bench.load("/nonexistent/claims.jsonl") == []
    with pytest.raises(ValueError, match="at_least, at_most"):
        c.check("unbounded", 1.0)
    with pytest.raises(ValueError, match="source"):
        bench.Claims("")
