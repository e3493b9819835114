"""Execute a notebook in place so its stored outputs are what nbval will compare (``hcedu execute``)."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from nbclient import NotebookClient

from .nbbuild import write

__all__ = ["execute", "kernel_name"]


def kernel_name() -> str:
    """``hcedu`` if that kernel is registered, else ``python3``."""
    try:
        KernelSpecManager().get_kernel_spec("hcedu")
        return "hcedu"
    except NoSuchKernel:
        return "python3"


def execute(path: str | Path, timeout: float = 300) -> float:
    """Run every cell of the notebook at ``path`` (cwd = its folder) and save it; return seconds taken.

    Raises ``nbclient.exceptions.CellExecutionError`` if a cell fails (the file is then left untouched).
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    NotebookClient(nb, timeout=int(timeout), kernel_name=kernel_name(),
                   resources={"metadata": {"path": str(path.parent.resolve())}}).execute()
    for cell in nb.cells:
        cell.get("metadata", {}).pop("execution", None)
    nb.metadata["kernelspec"] = {"name": "hcedu", "display_name": "hcedu (Python 3)", "language": "python"}
    write(nb, path)
    return time.perf_counter() - started
