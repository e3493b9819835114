"""One graded submission, in its own interpreter: ``python -m hcedu.course._grade_worker JOB.json``.

Run by :mod:`hcedu.course.grade` as a subprocess with a time limit, a memory limit and a bounded output
pipe; never imported by the grading process. The job names the submitted notebook and the grader's own
check cell (taken from the grader's ``solutions/``, never from the submission). Steps:

1. refuse every socket connection to a non-loopback address (recorded, then raised as PermissionError
   in the student's code) — a classroom guard, not a security sandbox;
2. run the submission's code cells in order in a fresh IPython shell, skipping its own check cells (a
   deleted or edited check cell changes nothing), and remember the first cell that raised;
3. run the grader's check cell in the same namespace and write the verdict as JSON to the result path.
"""

from __future__ import annotations

import ast
import ipaddress
import json
import os
import re
import socket
import sys
import time

CHECK_CALL = re.compile(r"\bcheck\.\w+\s*\(")
blocked: list[str] = []


def _loopback(host: object) -> bool:
    if isinstance(host, str) and host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False  # a host name other than localhost: it would need DNS, which is not loopback either


def _guard_sockets() -> None:
    original_connect, original_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def check(sock: socket.socket, address: object) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
            if not _loopback(address[0]):
                blocked.append(f"{address[0]}:{address[1]}")
                raise PermissionError(f"grading: connections to {address[0]} are not allowed (loopback only)")

    def connect(self: socket.socket, address: object) -> None:
        check(self, address)
        return original_connect(self, address)

    def connect_ex(self: socket.socket, address: object) -> int:
        check(self, address)
        return original_connect_ex(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]


def _run_check(shell, source: str):  # noqa: ANN001
    """Execute the grader's check cells; every top-level ``check.<name>(...)`` expression is a verdict.
    Return the first verdict that is not a pass, else the last one."""
    tree = ast.parse(source)
    ns = shell.user_ns
    verdicts = []
    for node in tree.body:
        if isinstance(node, ast.Expr) and CHECK_CALL.search(ast.unparse(node)):
            verdicts.append(eval(compile(ast.Expression(node.value), "<grader's check cell>", "eval"), ns))
        else:
            exec(compile(ast.Module([node], type_ignores=[]), "<grader's check cell>", "exec"), ns)
    if not verdicts:
        raise ValueError("the grader's check cells hold no check.<name>(...) expression")
    return next((v for v in verdicts if not v.ok), verdicts[-1])


def _cells(path: str) -> list[tuple[str, str]]:
    """``(cell_type, source)`` of every cell. A notebook is JSON: a v4 notebook is read as such, without
    nbformat, whose import costs about 2 s of CPU in this environment (jsonschema's format checkers compile
    their grammars at import) — once per graded submission. Older formats go through nbformat's converter."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if data.get("nbformat") != 4:
        import nbformat
        return [(c.cell_type, c.source) for c in nbformat.reads(json.dumps(data), as_version=4).cells]
    cells = []
    for c in data.get("cells", []):
        source = c.get("source", "")
        cells.append((c.get("cell_type", ""), "".join(source) if isinstance(source, list) else source))
    return cells


def main(job_path: str) -> int:
    job = json.loads(open(job_path, encoding="utf-8").read())
    os.environ.setdefault("MPLBACKEND", "Agg")
    _guard_sockets()
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance(colors="NoColor")
    cells = _cells(job["notebook"])
    first_error = None
    t0 = time.perf_counter()
    for i, (cell_type, source) in enumerate(cells):
        if cell_type != "code" or CHECK_CALL.search(source):
            continue
        result = shell.run_cell(source, store_history=False, silent=True)
        err = result.error_before_exec or result.error_in_exec
        if err is not None and first_error is None:
            first_error = {"cell": i, "error": f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"}
    out = {"first_error": first_error, "blocked": blocked}
    try:
        verdict = _run_check(shell, job["check_source"])
    except NameError as exc:
        out.update(kind="error", detail=f"the graded definition is missing ({exc})")
    except Exception as exc:  # the grader's check cell itself raised: report it, it is not the student's
        out.update(kind="error", detail=f"checker raised {type(exc).__name__}: {exc}")
    else:
        out.update(kind=("pass" if verdict.ok else "not solved" if verdict.unsolved
                         else "checker bug" if getattr(verdict, "internal", False) else "fail"),
                   line=str(verdict), check=verdict.failed or "", detail=verdict.detail or "",
                   hint=verdict.hint or "", passed=verdict.passed, total=verdict.total)
    out["seconds"] = round(time.perf_counter() - t0, 3)
    out["blocked"] = blocked
    with open(job["result"], "w", encoding="utf-8") as f:
        json.dump(out, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
