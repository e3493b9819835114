"""The ``hcedu`` command: doctor, lab, build-exercises, execute, quiz."""

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


def cmd_lab(args: argparse.Namespace, extra: list[str]) -> int:
    """Start JupyterLab rooted at the checkout, opening chapter 00 (extra arguments go to jupyter lab)."""
    root = repo_root()
    exe = Path(sys.executable).with_name("jupyter")
    cmd = [str(exe) if exe.exists() else "jupyter", "lab", f"--ServerApp.root_dir={root}"]
    if not any(a.startswith(("--LabApp.default_url", "--ServerApp.default_url")) for a in extra):
        cmd.append("--LabApp.default_url=/lab/tree/notebooks/00_start_here.ipynb")
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in extra:
        cmd.append("--allow-root")
    return subprocess.call(cmd + extra, cwd=root)


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
        run(args.chapter, args.n)
    except (EOFError, KeyboardInterrupt):
        print("\nbye: progress so far is saved")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hcedu", description="The hcedu course: high-concurrency backend "
                                     "engineering with Go's model and Redis, in runnable Python.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="check Python, packages, the kernel and which Redis is live")
    sub.add_parser("lab", help="open the course in JupyterLab (extra arguments go to jupyter lab)")
    p = sub.add_parser("build-exercises", help="regenerate exercises/ from solutions/")
    p.add_argument("--check", action="store_true", help="only check; exit 1 and name stale files")
    p.add_argument("--root", default=str(repo_root()), help="the course checkout (default: %(default)s)")
    p = sub.add_parser("execute", help="execute notebooks in place (store the outputs nbval compares)")
    p.add_argument("notebooks", nargs="+")
    p.add_argument("--timeout", type=float, default=300, help="per-cell timeout in seconds")
    p = sub.add_parser("quiz", help="drill interview questions (Leitner boxes; progress in $HCEDU_HOME)")
    p.add_argument("--chapter", "-c", default=None, help="only this chapter, e.g. 08")
    p.add_argument("-n", type=int, default=5, help="questions per session (default 5)")
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "lab":
        return cmd_lab(args, extra)
    return {"doctor": cmd_doctor, "build-exercises": cmd_build_exercises, "execute": cmd_execute,
            "quiz": cmd_quiz}[args.command](args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
