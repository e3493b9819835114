"""The ``hcedu`` command: doctor, lab, build, build-exercises, execute, quiz (drill, --mock, --stats), export-anki, grade."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

__all__ = ["main", "repo_root"]

PACKAGES = ("jupyterlab", "ipykernel", "ipywidgets", "matplotlib", "pandas", "numpy", "redis", "fakeredis",
            "lupa", "greenlet", "tqdm", "pyyaml", "nbformat", "pytest", "pytest-xdist", "nbval")


def repo_root() -> Path:
    """The course checkout (the folder holding ``notebooks/``), or the current folder."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / "notebooks").is_dir() else Path.cwd()


def cmd_doctor(args: argparse.Namespace) -> int:
    from .. import backend

    problems: list[str] = []
    print(f"Python      {sys.version.split()[0]} ({sys.executable})")
    if sys.version_info < (3, 10):
        problems.append("Python >= 3.10 is required")
    missing = []
    for name in PACKAGES:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
            version = "MISSING"
        print(f"  {name:<12} {version}")
    if missing:
        problems.append(f"missing packages: {', '.join(missing)} -> run `make test` or "
                        f"`.venv/bin/pip install -e '.[dev]'`")
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
        try:
            spec = KernelSpecManager().get_kernel_spec("hcedu")
            print(f"Kernel      hcedu -> {spec.argv[0]}")
        except NoSuchKernel:
            problems.append("the 'hcedu' Jupyter kernel is not registered -> run `make lab` (or `make kernel`)")
            print("Kernel      hcedu: not registered")
    except ImportError:
        problems.append("jupyter_client is missing")
    url = os.environ.get(backend.ENV_VAR)
    try:
        info = backend.describe(backend.connect())
        print(f"Redis       {info}")
    except backend.BackendUnavailable as exc:
        print(f"Redis       UNREACHABLE\n{exc}")
        problems.append(f"{backend.ENV_VAR}={backend.redact(url or '')} cannot be reached (see above)")
    if shutil.which("redis-server"):
        print(f"            redis-server found at {shutil.which('redis-server')}: the real-Redis tests will run")
        if shutil.which("redis-cli"):
            print("            redis-cli found too: the cluster rung runs (pytest -m cluster; "
                  "hcedu.lab.redis_cluster.local_cluster())")
    else:
        print("            no redis-server binary: the real-Redis half of the tests is skipped "
              "(apt-get install redis-server to run it)")
    if problems:
        print("\nProblems:")
        for p in problems:
            print(f"  ✗ {p}")
        return 1
    print("\n✓ everything the course needs is here")
    return 0


#: JupyterLab settings the course needs, written as overrides into the course's environment: widget state is
#: saved with the notebook (a reopened chapter shows its widgets, not "model not found"), and no
#: "fetch official Jupyter news?" prompt on first open; every cell rendered (windowing "none": a chapter is ~40
#: cells, and a widget or chart far down the page is then drawn when the notebook opens, not on scroll).
LAB_OVERRIDES = {
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
    "@jupyter-widgets/jupyterlab-manager:plugin": {"saveState": True},
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}


def write_lab_overrides(prefix: str | Path = sys.prefix) -> Path:
    """Merge :data:`LAB_OVERRIDES` into ``PREFIX/share/jupyter/lab/settings/overrides.json``."""
    import json
    path = Path(prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    current = {}
    if path.exists():
        try:
            current = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            current = {}
    merged = {**current, **{k: {**current.get(k, {}), **v} for k, v in LAB_OVERRIDES.items()}}
    if merged != current:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(merged, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def lab_root_and_start() -> tuple[Path, str]:
    """JupyterLab's root folder and the path it opens: chapter 00 in the learner's workspace (a git-ignored
    copy, see workspace.py), served from the checkout when the workspace is inside it."""
    from .workspace import workspace_dir
    root, ws = repo_root().resolve(), workspace_dir(repo_root())
    if ws.is_relative_to(root):
        return root, f"{ws.relative_to(root).as_posix()}/notebooks/00_start_here.ipynb"
    return ws, "notebooks/00_start_here.ipynb"


def free_port(ip: str, wanted: int, tries: int = 50) -> int:
    """``wanted`` if nothing listens there, else the next free port (so the printed link is the real one)."""
    import socket
    for port in range(wanted, wanted + tries):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((ip if ip not in ("", "localhost") else "127.0.0.1", port))
                return port
            except OSError:
                continue
    raise SystemExit(f"error: no free port in {wanted}..{wanted + tries - 1}; pass --port")


def lab_command(args: argparse.Namespace, extra: list[str], token: str) -> list[str]:
    """The ``jupyter lab`` command line for ``hcedu lab`` (separate so it can be tested without starting it)."""
    root, start = lab_root_and_start()
    exe = Path(sys.executable).with_name("jupyter")
    cmd = [str(exe) if exe.exists() else "jupyter", "lab", f"--ServerApp.root_dir={root}",
           f"--ServerApp.ip={args.ip}", f"--ServerApp.port={args.port}", "--ServerApp.port_retries=0"]
    if not any(a.startswith(("--IdentityProvider.token", "--ServerApp.token")) for a in extra):
        cmd.append(f"--IdentityProvider.token={token}")
    if args.no_browser:
        cmd.append("--no-browser")
    if not any(a.startswith(("--LabApp.default_url", "--ServerApp.default_url")) for a in extra):
        cmd.append(f"--LabApp.default_url=/lab/tree/{start}")
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in extra:
        cmd.append("--allow-root")
    return cmd + extra


def cmd_lab(args: argparse.Namespace, extra: list[str]) -> int:
    """Start JupyterLab rooted at the checkout, opening chapter 00 (extra arguments go to jupyter lab)."""
    import secrets

    from .. import backend

    if os.environ.get(backend.ENV_VAR):  # a dead REDIS_URL would fail the first cell of every chapter
        try:
            print(f"Redis: {backend.describe(backend.connect())}")
        except backend.BackendUnavailable as exc:
            print(exc, file=sys.stderr)
            print("\nJupyterLab was not started: fix the above first (a kernel keeps the environment it was "
                  "started with, so changing REDIS_URL later needs a JupyterLab restart).", file=sys.stderr)
            return 1
    from .workspace import sync

    print(sync(repo_root(), refresh=args.refresh))
    write_lab_overrides()
    args.port = free_port(args.ip, args.port)
    given = [a.split("=", 1)[1] for a in extra if a.startswith(("--IdentityProvider.token=", "--ServerApp.token="))]
    token = args.token or (given[-1] if given else secrets.token_hex(16))
    host = "127.0.0.1" if args.ip in ("127.0.0.1", "localhost", "0.0.0.0", "") else args.ip
    url = f"http://{host}:{args.port}/lab/tree/{lab_root_and_start()[1]}?token={token}"
    print("=" * 78 + f"\n  hcedu: open the course at\n  {url}\n"
          + ("  (over SSH: ssh -L {0}:127.0.0.1:{0} <host>, then open the link above)\n".format(args.port)
             if args.no_browser else "") + "=" * 78, flush=True)
    return subprocess.call(lab_command(args, extra, token), cwd=repo_root())


def cmd_build(args: argparse.Namespace) -> int:
    from .execute import execute
    from .nbbuild import build_sources

    try:
        results = build_sources(args.sources, root=args.root, check=args.check)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    root = Path(args.root).resolve()
    for notebook, how in results:
        print(f"{notebook.resolve().relative_to(root) if notebook.resolve().is_relative_to(root) else notebook}: {how}")
        if how == "execute it" and args.execute:
            print(f"executed {notebook} in {execute(notebook, timeout=args.timeout):.1f} s")
    if args.check and any(how == "stale" for _, how in results):
        print("stale notebooks: run `hcedu build` (then `hcedu execute` the ones it says)")
        return 1
    if any(nb.parent.name == "solutions" and how != "up to date" for nb, how in results):
        print("a solution changed: once it is executed, `hcedu build-exercises` regenerates exercises/")
    return 0


def cmd_build_exercises(args: argparse.Namespace) -> int:
    from .exercises import ExerciseError, build_all

    try:
        stale = build_all(args.root, check=args.check)
    except ExerciseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if stale:
            print("exercises/ is stale; run `hcedu build-exercises` to regenerate:")
            for p in stale:
                print(f"  {p}")
            return 1
        print("✓ exercises/ is up to date with solutions/")
        return 0
    print(f"regenerated {len(stale)} exercise notebook(s)" if stale else "exercises/ already up to date")
    return 0


def cmd_execute(args: argparse.Namespace) -> int:
    from .execute import execute

    for nb in args.notebooks:
        seconds = execute(nb, timeout=args.timeout)
        print(f"executed {nb} in {seconds:.1f} s")
    return 0


def cmd_quiz(args: argparse.Namespace) -> int:
    from .quiz import run

    try:
        if args.stats:
            from .quiz import stats_table
            print(stats_table(chapter=args.chapter))
        elif args.mock:
            from .mock import run_mock
            run_mock(args.n, args.seed, args.minutes, lang=args.lang,
                     questions=None if args.chapter is None else _chapter_questions(args.chapter))
        else:
            run(args.chapter, args.n, lang=args.lang)
    except (EOFError, KeyboardInterrupt):
        print("\nbye: progress so far is saved")
    except (TypeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _chapter_questions(chapter: str) -> list:
    from .bank import load
    return load(chapter)


def cmd_export_anki(args: argparse.Namespace) -> int:
    try:
        from .anki import export
    except ImportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        path, notes = export(args.path, lang=args.lang)
    except (TypeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {notes} notes to {path} (import it in Anki; importing again updates the cards)")
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    from .grade import grade, print_summary, write_reports

    try:
        rows = grade(args.submissions, args.solutions, jobs=args.jobs, time_limit=args.time_limit,
                     memory_mb=args.memory_mb, wall_limit=args.wall_limit)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    paths = write_reports(rows, args.out)
    print_summary(rows)
    print(f"\n{len(rows)} submission(s) graded: gradebook {paths['gradebook']}, summary {paths['summary']}, "
          f"feedback in {paths['feedback']}/" + (f", chart {paths['chart']}" if "chart" in paths else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hcedu", description="The hcedu course: high-concurrency backend "
                                     "engineering with Go's model and Redis, in runnable Python.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="check Python, packages, the kernel and which Redis is live")
    p = sub.add_parser("lab", help="open the course in JupyterLab (unknown arguments go to jupyter lab)")
    p.add_argument("--port", type=int, default=8888, help="port to serve on (default %(default)s)")
    p.add_argument("--ip", default="127.0.0.1", help="address to listen on (default %(default)s: this machine only)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser (remote or headless use)")
    p.add_argument("--token", default=None, help="the access token (default: a fresh random one, printed)")
    p.add_argument("--refresh", action="store_true",
                   help="replace workspace notebooks you changed with the course's newer ones (yours kept beside)")
    p = sub.add_parser("build", help="rebuild notebooks from their sources (notebooks/src/*.py, solutions/src/*.py)")
    p.add_argument("sources", nargs="*", metavar="SOURCE",
                   help="a source or notebook path, or a chapter number such as 02 (default: all)")
    p.add_argument("--check", action="store_true", help="only check; exit 1 and name stale notebooks")
    p.add_argument("--execute", action="store_true", help="execute the notebooks whose code changed")
    p.add_argument("--timeout", type=float, default=300, help="with --execute: per-cell timeout in seconds")
    p.add_argument("--root", default=str(repo_root()), help="the course checkout (default: %(default)s)")
    p = sub.add_parser("build-exercises", help="regenerate exercises/ from solutions/")
    p.add_argument("--check", action="store_true", help="only check; exit 1 and name stale files")
    p.add_argument("--root", default=str(repo_root()), help="the course checkout (default: %(default)s)")
    p = sub.add_parser("execute", help="execute notebooks in place (store the outputs nbval compares)")
    p.add_argument("notebooks", nargs="+")
    p.add_argument("--timeout", type=float, default=300, help="per-cell timeout in seconds")
    p = sub.add_parser("quiz", help="drill interview questions (Leitner boxes; progress in $HCEDU_HOME)")
    p.add_argument("--chapter", "-c", default=None, help="only this chapter, e.g. 08")
    p.add_argument("-n", type=int, default=5, help="questions per session (default 5)")
    p.add_argument("--lang", choices=("zh", "en", "both"), default=None,
                   help="language of questions and answers (remembered in the progress file; default: the "
                        "remembered one, else both)")
    p.add_argument("--mock", action="store_true",
                   help="mock interview: -n questions across chapters, junior to senior, each with a follow-up, "
                        "a key-point hint after each typed answer and a weak-topic summary")
    p.add_argument("--seed", type=int, default=None, help="with --mock: the same seed draws the same questions")
    p.add_argument("--minutes", type=float, default=20, help="with --mock: the session's time limit (default 20)")
    p.add_argument("--stats", action="store_true", help="print cards per Leitner box per chapter and what is due")
    p = sub.add_parser("export-anki", help="write the interview bank as an Anki deck (.apkg; needs genanki)")
    p.add_argument("path", help="the .apkg file to write, e.g. hcedu.apkg")
    p.add_argument("--lang", choices=("zh", "en", "both"), default="both",
                   help="language(s) of the model answers on the card backs (default both)")
    p = sub.add_parser("grade", help="run the exercise checkers over a class's submitted notebooks into a gradebook")
    p.add_argument("submissions", help="folder of submitted notebooks (student/NN_*.ipynb or NN_*_student.ipynb)")
    p.add_argument("--out", default="gradebook.csv", help="gradebook CSV; summary and feedback go beside it")
    p.add_argument("--solutions", default=str(repo_root() / "solutions"),
                   help="the grader's solution notebooks, whose check cells are used (default: %(default)s)")
    p.add_argument("--jobs", "-j", type=int, default=1, help="submissions graded in parallel (default 1)")
    p.add_argument("--time-limit", type=float, default=60.0, help="CPU seconds per submission (default 60)")
    p.add_argument("--wall-limit", type=float, default=None,
                   help="wall-clock seconds per submission, for one that blocks (default 10 x --time-limit)")
    p.add_argument("--memory-mb", type=int, default=2048, help="address-space limit per submission (default 2048)")
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "lab":
        return cmd_lab(args, extra)
    return {"doctor": cmd_doctor, "build": cmd_build, "build-exercises": cmd_build_exercises, "execute": cmd_execute,
            "quiz": cmd_quiz, "grade": cmd_grade, "export-anki": cmd_export_anki}[args.command](args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
