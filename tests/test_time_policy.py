"""Issue 16's time and thread policy, checked on the source (AST, so prose and comments do not count).

* Time: no ``time.sleep``, ``time.monotonic``, ``time.time``, ``time.perf_counter`` (nor their ``_ns`` forms,
  nor ``from time import ...`` of them) in ``hcedu/patterns`` or ``hcedu/lab``: code that reads time or sleeps
  takes ``clock=`` and calls ``clock.monotonic()`` / ``clock.sleep()`` / ``poll_until``; time that must be real
  (socket deadlines, process start-up waits) goes through ``hcedu.clock.REAL``. Only ``hcedu/clock.py`` calls
  the ``time`` module. ``time.process_time`` (CPU time, no clock has it) is allowed.
* Threads: no ``threading.Thread(`` in ``hcedu/lab`` (``hcedu.lab.runner.run_workers`` or ``hcedu.go``'s
  primitives), except where a comment on the line, or in the comment block right above it, says
  "raw thread is the lesson".
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIME_DIRS = ("hcedu/patterns", "hcedu/lab")
THREAD_DIRS = ("hcedu/lab",)
BANNED_TIME = frozenset({"sleep", "monotonic", "time", "perf_counter",
                         "monotonic_ns", "time_ns", "perf_counter_ns"})
LESSON = "raw thread is the lesson"
TIME_RULE = ("read time and sleep through an injected clock (clock.monotonic/clock.sleep/poll_until) "
             "or hcedu.clock.REAL")
THREAD_RULE = f"start workers with hcedu.lab.runner.run_workers or hcedu.go (or say '{LESSON}' in a comment)"

#: Files allowed to break the policy, with the reason. Empty since issue 16 landed (every hcedu/lab and
#: hcedu/patterns module converted); a new entry needs a reason a reviewer accepts.
ALLOWLIST: dict[str, str] = {}

#: Single calls that stay, each with why it is not time logic: (path, enclosing function) -> reason.
EXEMPT: dict[tuple[str, str], str] = {}


def _aliases(tree: ast.AST) -> tuple[set[str], dict[str, str], set[str], set[str]]:
    """Names bound by imports: the ``time`` module, banned ``time`` functions (local name -> function),
    the ``threading`` module, and ``Thread`` imported from it."""
    time_mods, time_funcs, threading_mods, thread_names = set(), {}, set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "time":
                    time_mods.add(a.asname or "time")
                elif a.name == "threading":
                    threading_mods.add(a.asname or "threading")
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            for a in node.names:
                if node.module == "time" and a.name in BANNED_TIME:
                    time_funcs[a.asname or a.name] = a.name
                elif node.module == "threading" and a.name == "Thread":
                    thread_names.add(a.asname or a.name)
    return time_mods, time_funcs, threading_mods, thread_names


def _enclosing(tree: ast.AST) -> dict[int, str]:
    """id(node) -> the name of the innermost function around it ("" at module level)."""
    owner: dict[int, str] = {}

    def visit(node: ast.AST, name: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else name
            owner[id(child)] = inner
            visit(child, inner)

    visit(tree, "")
    return owner


def _says_lesson(lines: list[str], node: ast.AST) -> bool:
    """A comment on the node's lines, or in the comment block right above it, says LESSON."""
    first, last = node.lineno, getattr(node, "end_lineno", node.lineno) or node.lineno
    if any(LESSON in lines[n - 1] for n in range(first, last + 1)):
        return True
    n = first - 1
    while n >= 1 and lines[n - 1].strip().startswith("#"):
        if LESSON in lines[n - 1]:
            return True
        n -= 1
    return False


def violations(source: str, path: str, *, threads: bool = True) -> list[str]:
    """``path:line: what -- rule`` for every use of a banned time function (and, with ``threads``, every
    ``threading.Thread`` started or subclassed without the lesson comment) in Python ``source``."""
    tree = ast.parse(source)
    lines = source.splitlines()
    time_mods, time_funcs, threading_mods, thread_names = _aliases(tree)
    owner = _enclosing(tree)
    found = []

    def is_thread(f: ast.AST) -> bool:
        return ((isinstance(f, ast.Attribute) and f.attr == "Thread" and isinstance(f.value, ast.Name)
                 and f.value.id in threading_mods) or (isinstance(f, ast.Name) and f.id in thread_names))

    for node in ast.walk(tree):
        used = None
        if (isinstance(node, ast.Attribute) and node.attr in BANNED_TIME and isinstance(node.value, ast.Name)
                and node.value.id in time_mods):
            used = f"time.{node.attr}"
        elif isinstance(node, ast.Name) and node.id in time_funcs:
            used = f"time.{time_funcs[node.id]} (imported as {node.id})"
        elif isinstance(node, ast.ImportFrom) and node.module == "time" and node.level == 0:
            names = [a.name for a in node.names if a.name in BANNED_TIME]
            used = f"from time import {', '.join(names)}" if names else None
        if used and (path, owner.get(id(node), "")) not in EXEMPT:
            found.append(f"{path}:{node.lineno}: {used} -- {TIME_RULE}")
        if not threads:
            continue
        if isinstance(node, ast.Call) and is_thread(node.func) and not _says_lesson(lines, node):
            found.append(f"{path}:{node.lineno}: threading.Thread(...) -- {THREAD_RULE}")
        if isinstance(node, ast.ClassDef) and any(is_thread(b) for b in node.bases) and not _says_lesson(lines, node):
            found.append(f"{path}:{node.lineno}: class {node.name}(threading.Thread) -- {THREAD_RULE}")
    return sorted(set(found), key=lambda s: int(s.split(":")[1]))


def _files() -> dict[str, Path]:
    out = {}
    for d in TIME_DIRS:
        for p in sorted((ROOT / d).rglob("*.py")):
            out[p.relative_to(ROOT).as_posix()] = p
    return out


def _scan() -> dict[str, list[str]]:
    found = {}
    for rel, p in _files().items():
        v = violations(p.read_text(), rel, threads=rel.startswith(THREAD_DIRS))
        if v:
            found[rel] = v
    return found


def test_time_and_threads_go_through_the_course_primitives():
    found = _scan()
    new = [line for rel, v in found.items() if rel not in ALLOWLIST for line in v]
    assert not new, "issue 16's time/thread policy is broken here:\n" + "\n".join(new)


def test_allowlist_names_only_files_that_still_break_the_policy():
    found = _scan()
    stale = sorted(set(ALLOWLIST) - set(found))
    assert not stale, f"these files follow the policy now: delete their ALLOWLIST entries: {stale}"
    assert all(not rel.startswith("hcedu/patterns/") for rel in ALLOWLIST), "hcedu/patterns is converted"


def test_exemptions_name_functions_that_still_exist():
    for (rel, func), reason in EXEMPT.items():
        tree = ast.parse((ROOT / rel).read_text())
        assert any(isinstance(n, ast.FunctionDef) and n.name == func for n in ast.walk(tree)), (rel, func)
        assert reason


def test_the_checker_reports_each_kind_of_violation():
    src = '''"""time.sleep(1) in a docstring"""
import time
import threading as th
from time import perf_counter as pc, process_time
from threading import Thread

def work(clock):
    t0 = time.monotonic()          # line 8
    time.sleep(0.1)                # line 9
    x = pc()                       # line 10
    cpu = process_time()           # allowed: CPU time
    clock.sleep(1); clock.monotonic()
    stamp = time.time_ns()         # line 13
    th.Thread(target=work).start()  # line 14
    # spawning 10k of these costs memory: the raw thread is the lesson
    Thread(target=work).start()
    Thread(target=work)  # raw thread is the lesson

class Worker(th.Thread):           # line 19
    pass
'''
    got = violations(src, "x.py")
    assert [line.split(" -- ")[0] for line in got] == [
        "x.py:4: from time import perf_counter",
        "x.py:8: time.monotonic",
        "x.py:9: time.sleep",
        "x.py:10: time.perf_counter (imported as pc)",
        "x.py:13: time.time_ns",
        "x.py:14: threading.Thread(...)",
        "x.py:19: class Worker(threading.Thread)",
    ]
    assert all(" -- " in line for line in got)
    assert violations(src, "x.py", threads=False) == [line for line in got if "Thread" not in line]


def test_the_exemption_covers_one_function_only(monkeypatch):
    monkeypatch.setitem(EXEMPT, ("hcedu/patterns/counter.py", "yield_gil"), "an example exemption")
    src = "import time\n\ndef yield_gil():\n    time.sleep(0)\n\ndef other():\n    time.sleep(0)\n"
    assert [v.split(" -- ")[0] for v in violations(src, "hcedu/patterns/counter.py")] == [
        "hcedu/patterns/counter.py:7: time.sleep"]
