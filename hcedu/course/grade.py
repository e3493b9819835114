"""``hcedu grade``: run the course's exercise checkers over a class's submitted notebooks.

    hcedu grade submissions/ --out gradebook.csv --jobs 2

For every submitted exercise notebook (``student/NN_*.ipynb`` or ``NN_*_student.ipynb``; the exercise is
read from the notebook's ``hcedu`` metadata, else from its file name), a fresh interpreter
(:mod:`hcedu.course._grade_worker`) runs the student's code cells and then the **grader's** check cell,
taken from the grader's own ``solutions/`` (a deleted or edited check cell changes nothing). Each run has
a time limit, a memory limit and an output limit; a submission that hangs, crashes, floods its output or
connects beyond loopback is recorded as such and the run goes on.

Writes, next to ``--out``: the gradebook CSV (one row per submission), ``summary.csv`` (per exercise),
``summary.png`` (pass rate per exercise, most common failing checks) and ``feedback/<student>.md``.

Invariants: no student code runs in the grading process; every worker process is killed (its whole
process group) on timeout or when its output passes the limit; rows come out sorted by student, then
chapter, whatever ``--jobs`` is.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable

import nbformat

__all__ = ["Exercise", "Submission", "GradeRow", "exercises", "discover", "grade_one", "grade", "write_reports",
           "chart_summary", "VERDICTS"]

CHECK_CALL = re.compile(r"\bcheck\.\w+\s*\(")
NAME = re.compile(r"^(\d\d)_")
#: Every verdict a row can carry.
VERDICTS = ("pass", "fail", "not solved", "error", "timed out", "crashed", "output limit", "network",
            "checker bug", "unknown exercise")


@dataclass(frozen=True)
class Exercise:
    """One exercise of the grader's course: its id (``08_safe_release``), chapter and check cell."""

    id: str
    chapter: str
    check_source: str


@dataclass(frozen=True)
class Submission:
    """One submitted notebook: who handed it in and which exercise it is (``None``: not recognised)."""

    path: Path
    student: str
    exercise: str | None
    chapter: str | None


@dataclass
class GradeRow:
    """One gradebook row."""

    student: str
    chapter: str
    exercise: str
    verdict: str
    check: str = ""
    hint: str = ""
    detail: str = ""
    seconds: float = 0.0
    file: str = ""
    line: str = ""

    @classmethod
    def columns(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def exercises(solutions_dir: str | Path) -> dict[str, Exercise]:
    """``{exercise id: Exercise}`` from the grader's solution notebooks (the check cells are the code cells
    that call ``check.<name>(...)``; the worker runs each and the first verdict that is not a pass counts)."""
    out = {}
    for path in sorted(Path(solutions_dir).glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        checks = [c.source for c in nb.cells if c.cell_type == "code" and CHECK_CALL.search(c.source)]
        if not checks:
            continue
        # every check cell, in order (an exercise may have parts: 13 has tie_break and shared_rank)
        out[path.stem] = Exercise(path.stem, path.stem[:2], "\n\n".join(checks))
    return out


def _identify(path: Path, root: Path, known: dict[str, Exercise]) -> Submission:
    rel = path.relative_to(root)
    meta_ex = None
    try:
        meta = nbformat.read(path, as_version=4).metadata.get("hcedu", {})
        meta_ex = meta.get("exercise")
    except Exception:  # an unreadable notebook: recognised by name only, and graded as an error
        meta = {}
    stem = path.stem
    exercise = meta_ex if meta_ex in known else None
    if exercise is None:
        m = NAME.match(stem)
        if m:
            by_chapter = [e for e in known if e.startswith(m.group(1))]
            exercise = next((e for e in by_chapter if stem.startswith(e)), by_chapter[0] if len(by_chapter) == 1 else None)
    if len(rel.parts) > 1:
        student = rel.parts[0]
    elif exercise and stem.startswith(exercise + "_"):
        student = stem[len(exercise) + 1:]
    else:
        student = stem
    chapter = known[exercise].chapter if exercise else (NAME.match(stem).group(1) if NAME.match(stem) else None)
    return Submission(path, student, exercise, chapter)


def discover(submissions_dir: str | Path, known: dict[str, Exercise]) -> list[Submission]:
    """Every ``.ipynb`` under ``submissions_dir`` (checkpoints skipped), identified."""
    root = Path(submissions_dir)
    if not root.is_dir():
        raise ValueError(f"submissions_dir must be a folder, got {str(root)!r}")
    paths = [p for p in sorted(root.rglob("*.ipynb")) if ".ipynb_checkpoints" not in p.parts]
    return [_identify(p, root, known) for p in paths]


def _limits(megabytes: int, cpu_seconds: float):  # noqa: ANN202
    """Applied in the worker before it starts: an address-space limit, and a CPU-time limit that the kernel
    enforces (SIGXCPU, then SIGKILL a second later), so an endless loop is cut after the same amount of
    work on an idle or a busy machine."""
    def apply() -> None:
        import resource
        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        cpu = max(1, int(round(cpu_seconds)))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    return apply


def grade_one(sub: Submission, known: dict[str, Exercise], *, time_limit: float = 60.0, memory_mb: int = 2048,
              output_limit: int = 1 << 20, wall_limit: float | None = None) -> GradeRow:
    """Grade one submission in a subprocess; never raises for anything the submission does.

    ``time_limit`` is CPU seconds (the same work is cut at the same point however busy the machine is);
    ``wall_limit`` (default ten times that) catches a submission that sleeps or blocks forever.
    """
    wall_limit = wall_limit if wall_limit is not None else 10 * time_limit
    row = GradeRow(sub.student, sub.chapter or "", sub.exercise or "", "unknown exercise", file=str(sub.path))
    if sub.exercise is None:
        row.detail = "no hcedu metadata and no exercise number in the file name"
        return row
    with tempfile.TemporaryDirectory(prefix="hcedu-grade-") as tmp:
        job, result = Path(tmp) / "job.json", Path(tmp) / "result.json"
        job.write_text(json.dumps({"notebook": str(sub.path.resolve()), "result": str(result),
                                   "check_source": known[sub.exercise].check_source}))
        env = dict(os.environ, MPLBACKEND="Agg", PYTHONUNBUFFERED="1", HCEDU_HOME=tmp)
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "hcedu.course._grade_worker", str(job)], cwd=tmp, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=_limits(memory_mb, time_limit))
        flooded = threading.Event()

        def drain() -> None:
            total = 0
            for chunk in iter(lambda: proc.stdout.read(65536), b""):
                total += len(chunk)
                if total > output_limit and not flooded.is_set():
                    flooded.set()
                    _kill(proc)
        reader = threading.Thread(target=drain, daemon=True, name="hcedu-grade-output")
        reader.start()
        try:
            proc.wait(timeout=wall_limit)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill(proc)
            proc.wait()
        reader.join(5)
        proc.stdout.close()
        row.seconds = round(time.perf_counter() - t0, 2)
        data = json.loads(result.read_text()) if result.exists() else None
    cpu_out = proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL) and not flooded.is_set() and data is None
    if timed_out:
        row.verdict, row.detail = "timed out", f"still running after the {wall_limit:g} s wall-clock time limit"
    elif cpu_out:
        row.verdict, row.detail = "timed out", f"used up its {time_limit:g} s CPU time limit"
    elif flooded.is_set():
        row.verdict, row.detail = "output limit", f"printed more than {output_limit} bytes; stopped"
    elif data is None:
        sig = -proc.returncode if proc.returncode and proc.returncode < 0 else None
        row.verdict = "crashed"
        row.detail = (f"the interpreter died ({signal.Signals(sig).name})" if sig else
                      f"the interpreter exited with code {proc.returncode} (out of memory? limit {memory_mb} MB)")
    else:
        _apply(row, data)
    return row


def _apply(row: GradeRow, data: dict[str, Any]) -> None:
    kind = data.get("kind", "error")
    row.check, row.hint, row.line = data.get("check", ""), data.get("hint", ""), data.get("line", "")
    row.detail = data.get("detail", "")
    first = data.get("first_error")
    if data.get("blocked"):
        row.verdict = "network"
        row.detail = f"tried to connect beyond loopback: {', '.join(data['blocked'][:3])}"
        return
    if kind == "error" and first:  # e.g. the definition cell raised at import, so the checker found nothing
        row.detail = f"cell {first['cell']} raised {first['error']}"
    row.verdict = kind


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def grade(submissions_dir: str | Path, solutions_dir: str | Path, *, jobs: int = 1, time_limit: float = 60.0,
          memory_mb: int = 2048, output_limit: int = 1 << 20, wall_limit: float | None = None,
          progress: bool = True) -> list[GradeRow]:
    """Grade every submission under ``submissions_dir``; rows sorted by student, chapter, file."""
    if not isinstance(jobs, int) or isinstance(jobs, bool) or not 1 <= jobs <= 64:
        raise ValueError(f"jobs must be an integer in 1..64, got {jobs!r}")
    if not time_limit > 0:
        raise ValueError(f"time_limit must be > 0 seconds, got {time_limit!r}")
    known = exercises(solutions_dir)
    if not known:
        raise ValueError(f"no solution notebooks with a check cell in {str(solutions_dir)!r}")
    subs = discover(submissions_dir, known)
    from tqdm.auto import tqdm

    rows: list[GradeRow] = []
    with ThreadPoolExecutor(max_workers=jobs) as pool, tqdm(total=len(subs), desc="grading", unit="nb",
                                                            disable=not progress) as bar:
        futures = [pool.submit(grade_one, s, known, time_limit=time_limit, memory_mb=memory_mb,
                               output_limit=output_limit, wall_limit=wall_limit) for s in subs]
        for f in futures:
            rows.append(f.result())
            bar.update(1)
    return sorted(rows, key=lambda r: (r.student, r.chapter, r.file))


def summarize(rows: Iterable[GradeRow]) -> list[dict[str, Any]]:
    """Per exercise: submissions, passes, pass rate, and the most common failing check."""
    by: dict[str, list[GradeRow]] = {}
    for r in rows:
        by.setdefault(r.exercise or "(unknown)", []).append(r)
    out = []
    for ex, rs in sorted(by.items()):
        fails = Counter(r.check for r in rs if r.verdict == "fail" and r.check)
        top = fails.most_common(1)
        out.append({"exercise": ex, "submissions": len(rs), "passed": sum(r.verdict == "pass" for r in rs),
                    "pass_rate": round(sum(r.verdict == "pass" for r in rs) / len(rs), 3),
                    "most_common_failing_check": top[0][0] if top else "",
                    "verdicts": "; ".join(f"{k} {v}" for k, v in sorted(Counter(r.verdict for r in rs).items()))})
    return out


def chart_summary(rows: list[GradeRow]):  # noqa: ANN201
    """Two panels: pass rate per exercise, and the failing checks learners hit most."""
    import matplotlib.pyplot as plt

    from ..lab.plot import color, finish

    summary = summarize(rows)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    names = [s["exercise"] for s in summary]
    ax1.barh(names, [s["pass_rate"] * 100 for s in summary], color=color("ok"))
    for y, s in enumerate(summary):
        ax1.text(1, y, f"{s['passed']}/{s['submissions']}", va="center", fontsize=8)
    ax1.set_xlim(0, 100)
    finish(ax1, title="pass rate per exercise", xlabel="% of submissions passing", legend=None, tight=False)
    fails = Counter(f"{r.exercise}: {r.check}"[:60] for r in rows if r.verdict == "fail" and r.check).most_common(8)
    if fails:
        ax2.barh([k for k, _ in fails][::-1], [v for _, v in fails][::-1], color=color("error"))
    else:
        ax2.text(0.5, 0.5, "no failing checks", ha="center", va="center", transform=ax2.transAxes)
    return finish(ax2, title="most common failing checks", xlabel="submissions", integer_x=True, legend=None)


def write_reports(rows: list[GradeRow], out: str | Path, chart: bool = True) -> dict[str, Path]:
    """Write the gradebook CSV at ``out`` and, beside it, summary.csv, summary.png and feedback/."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=GradeRow.columns())
        w.writeheader()
        for r in rows:
            w.writerow(asdict(r))
    summary = summarize(rows)
    summary_path = out.with_name("summary.csv")
    with summary_path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(summary[0]) if summary else ["exercise"])
        w.writeheader()
        w.writerows(summary)
    fb = out.parent / "feedback"
    fb.mkdir(exist_ok=True)
    for student in sorted({r.student for r in rows}):
        mine = [r for r in rows if r.student == student]
        lines = [f"# Feedback for {student}", ""]
        for r in mine:
            lines.append(f"- **{r.exercise or Path(r.file).name}**: {r.verdict}"
                         + (f" — {r.line}" if r.line else f" — {r.detail}" if r.detail else ""))
        (fb / f"{_safe(student)}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    paths = {"gradebook": out, "summary": summary_path, "feedback": fb}
    if chart and rows:
        import matplotlib
        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
        fig = chart_summary(rows)
        paths["chart"] = out.with_name("summary.png")
        fig.savefig(paths["chart"], dpi=100, bbox_inches="tight")
        plt.close(fig)
    return paths


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name) or "student"


def print_summary(rows: list[GradeRow]) -> None:
    """The per-exercise table, for the terminal."""
    summary = summarize(rows)
    print(f"{'exercise':<26} {'passed':>8}  most common failing check")
    for s in summary:
        print(f"{s['exercise']:<26} {s['passed']:>3}/{s['submissions']:<4}  {s['most_common_failing_check'][:60]}")
