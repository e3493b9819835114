"""Every lazily exported name of hcedu.go and hcedu.patterns resolves to what its module defines."""

import importlib

import pytest

import hcedu.go
import hcedu.patterns


@pytest.mark.parametrize("package", [hcedu.go, hcedu.patterns], ids=["go", "patterns"])
def test_every_export_resolves(package):
    for name, module in package._EXPORTS.items():
        mod = importlib.import_module(f"{package.__name__}.{module}")
        assert getattr(package, name) is getattr(mod, name), name
    with pytest.raises(AttributeError):
        package.no_such_name


def test_go_submodules_import():
    for name in hcedu.go._SUBMODULES:
        assert getattr(hcedu.go, name).__name__ == f"hcedu.go.{name}"
