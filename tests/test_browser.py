"""The learner's screen in a real browser: JupyterLab started the way `make lab` starts it, driven by
Playwright in Debian's Chromium (launched with ``executable_path``; never ``playwright install``).

Per chapter (00, 02, 05, 08, 16): widgets render when the notebook opens, before anything runs (no raw
``VBox(children=...)`` repr, no "model not found"); Run All finishes with no error output and rendered
images; one slider moved redraws its chart; one drill card is revealed and graded. Then an exercise: its
stub says "not solved yet", the pasted solution flips the verdict to ✓.

Everything runs in temporary folders (workspace, Jupyter config, data and runtime dirs), JupyterLab is
stopped with its whole process group, and a screenshot of the page is saved under the test's temporary
folder on failure (its path is in the failure message).

One JupyterLab page serves every test, as one serves a learner: the first notebook loads the page (with a
reset workspace), each later one is opened from disk in it (File → Open from Path…) after the previous tab
was closed and its kernel shut down. Loading JupyterLab costs Chromium about 8 CPU-s a page; opening a
notebook in a loaded page about 3. A test that fails leaves its page behind it: the next test loads a new one.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from helpers import wait_for_url

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: pip install playwright")
if CHROMIUM is None:
    pytest.skip("no Chromium on PATH (Debian: apt-get install chromium)", allow_module_level=True)

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOKEN = "hcedu-browser-test"

PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
IDLE = f"{PANEL} .jp-Notebook-ExecutionIndicator[data-status='idle']"
KERNEL_DIALOG = ".jp-Dialog:has-text('Select Kernel')"
# Run All is watched by polling the prompts. As innerText at 100 ms, the polls made Chromium's renderer lay the
# notebook out again and again while outputs streamed in: 66 CPU-s for this file, 49 with textContent at 250 ms.
TEXTS = "els => els.map(e => e.textContent)"  # no layout forced (innerText would lay the page out first)
POLL_MS = 250  # polls of a Run All that takes 10-40 s; each one is a round trip into the renderer
RAW_REPRS = ("VBox(children", "HBox(children", "interactive(children", "Output(", "model not found",
             "Error displaying widget")


@functools.lru_cache(maxsize=None)
def shots_dir() -> Path:
    """Where failure screenshots go (kept: pytest rotates its tmp dirs); made at the first failure, so a green run
    (and every xdist worker that merely imports this file) leaves nothing behind in the temp dir."""
    return Path(tempfile.mkdtemp(prefix="hcedu-browser-"))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lab")
    env = dict(os.environ, HCEDU_WORKSPACE=str(tmp / "workspace"), JUPYTER_CONFIG_DIR=str(tmp / "config"),
               JUPYTER_DATA_DIR=str(tmp / "data"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), HCEDU_HOME=str(tmp / "home"))
    env.pop("REDIS_URL", None)
    log = (tmp / "lab.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "hcedu.course.cli", "lab", "--no-browser", "--port", "18900",
                             "--token", TOKEN], env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, cwd=ROOT)
    try:
        def status_url():
            m = re.search(r"http://127\.0\.0\.1:(\d+)/lab", (tmp / "lab.log").read_text())
            return m and f"http://127.0.0.1:{m.group(1)}/api/status?token={TOKEN}"
        base = wait_for_url(proc, status_url, timeout=180, step=0.5,
                            log=lambda: (tmp / "lab.log").read_text()[-2000:]).split("/api/")[0]
        with playwright.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                yield Lab(base, browser.new_context(viewport={"width": 1400, "height": 1000}))
            finally:
                browser.close()
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()


def shutdown_kernels(base: str) -> None:
    """Shut down every kernel the lab runs (a closed tab leaves its kernel running)."""
    with urllib.request.urlopen(f"{base}/api/kernels?token={TOKEN}", timeout=10) as reply:
        kernels = json.load(reply)
    for kernel in kernels:
        request = urllib.request.Request(f"{base}/api/kernels/{kernel['id']}?token={TOKEN}", method="DELETE")
        urllib.request.urlopen(request, timeout=30).close()


class Lab:
    """The running JupyterLab and the one page a learner keeps open in it (None until the first notebook, and
    again after a test left its page in an unknown state)."""

    def __init__(self, base: str, context) -> None:
        self.base = base
        self.context = context
        self.page = None


class Screen:
    """One notebook freshly opened from disk in JupyterLab (nothing else open, no other kernel running), with
    the helpers the checks need. ``close()`` hands the page on to the next Screen; a Screen never closed
    (its test failed) makes the next one load a new page."""

    def __init__(self, lab: Lab, path: str) -> None:
        self.lab = lab
        self.base = lab.base
        self.name = Path(path).stem
        self.page, lab.page = lab.page, None  # given back by close() only
        if self.page is None:
            self.page = lab.context.new_page()
            self.page.set_default_timeout(120_000)
            self.page.goto(f"{self.base}/lab/workspaces/hcedu-test/tree/{path}?reset&token={TOKEN}")
        else:
            self.menu("File", "Open from Path…")
            self.page.fill(".jp-Dialog input", path)
            self.page.keyboard.press("Enter")
        self.page.wait_for_selector(f"{PANEL} .jp-Notebook .jp-Cell")
        tabs = self.page.eval_on_selector_all(".jp-NotebookPanel", "els => els.length")
        title = self.page.inner_text(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel")
        if tabs != 1 or title != Path(path).name:
            self.fail("open", f"expected {Path(path).name} alone in the main area; found {tabs} notebooks, the "
                              f"current tab {title!r}")
        # the kernel goes idle, or JupyterLab asks for one first (then it is not idle until answered)
        self.page.wait_for_selector(f"{IDLE}, {KERNEL_DIALOG}")
        self.accept_kernel_dialog()
        self.wait_idle()

    def accept_kernel_dialog(self) -> bool:
        """On a slow start JupyterLab may ask which kernel to use before its kernel list has loaded; the
        preselected one is the notebook's own (hcedu), so accept it as a learner would. Looks, never waits:
        the callers poll (a fixed wait here cost 3 s per open and per Run All)."""
        if self.page.locator(KERNEL_DIALOG).count() == 0:
            return False
        self.page.click(".jp-Dialog .jp-mod-accept")
        return True

    def shot(self, what: str) -> str:
        path = shots_dir() / f"{self.name}-{what}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return str(path)

    def fail(self, what: str, message: str) -> None:
        pytest.fail(f"{message} (screenshot: {self.shot(what)})")

    def wait_idle(self) -> None:
        self.page.wait_for_selector(IDLE)

    def text(self) -> str:
        return self.page.inner_text(f"{PANEL} .jp-Notebook")

    def run_all(self, stall_s: float = 240) -> None:
        """Run All, then wait until every code cell shows its execution count.

        A hang guard, not a time limit (a busy machine just takes longer): it gives up only when no cell has
        finished for ``stall_s`` seconds, and then names the cell still running. If Run All stopped at an
        error (later cells are not run), it fails at once with the error instead of waiting.

        Twice in loaded full-suite runs (never alone, not even under 4 CPU hogs) JupyterLab's Run All stopped
        part-way with the kernel idle, no cell queued and no error anywhere. A learner would press Run again,
        and so does this test, once, from the first cell not run (printed, so the run's log shows it); a
        second silent stop fails, so a notebook that really stops the run cannot pass."""
        self.menu("Edit", "Clear Outputs of All Cells")   # so a number in a prompt means "ran in this Run All"
        deadline = time.monotonic() + 60
        while any(re.search(r"\d", t) for t in self.prompts()):
            if time.monotonic() > deadline:
                self.fail("clear", "Clear Outputs of All Cells left execution counts in the prompts")
            self.page.wait_for_timeout(100)
        self.menu("Run", "Run All Cells")
        last, since, resumed = -1, time.monotonic(), False
        while True:
            if self.accept_kernel_dialog():
                since = time.monotonic()
            texts = self.prompts()
            done = sum(bool(re.search(r"\[\d+\]", t)) for t in texts)
            if texts and done == len(texts):
                self.wait_idle()
                return
            busy = [i for i, t in enumerate(texts) if "*" in t]
            if not busy and self.errors():
                self.fail("run-all", f"Run All stopped at an error after {done} of {len(texts)} cells: "
                                     f"{self.errors()[0][:300]}")
            if done != last or busy:
                last, since = done, time.monotonic() if done != last else since
            quiet = time.monotonic() - since
            if not busy and quiet > 20 and self.idle():
                first = next(i for i, t in enumerate(texts) if not re.search(r"\[\d+\]", t))
                if resumed:
                    self.fail("run-all", f"Run All stopped twice with no error, the second time after {done} of "
                                         f"{len(texts)} cells, before: {self.cell_source(first)[:200]!r}")
                print(f"{self.name}: Run All stopped after {done} of {len(texts)} cells with the kernel idle and "
                      f"no error; running again from cell {first}")
                self.page.locator(f"{PANEL} .jp-CodeCell").nth(first).locator(".jp-InputPrompt").click()
                self.menu("Run", "Run Selected Cell and All Below")
                resumed, since = True, time.monotonic()
            elif quiet > stall_s:
                where = (f"cell {busy[0]} is still running: {self.cell_source(busy[0])[:200]!r}" if busy
                         else "no cell is running")
                self.fail("run-all", f"Run All: no cell finished for {stall_s:.0f} s after {done} of "
                                     f"{len(texts)} cells; {where}")
            self.page.wait_for_timeout(POLL_MS)

    def prompts(self) -> list[str]:
        """Every code cell's prompt ("[7]:", "[*]:", "[ ]:"), read as textContent: innerText would make the
        renderer lay out the whole notebook on every poll while outputs stream in."""
        return self.page.eval_on_selector_all(f"{PANEL} .jp-CodeCell .jp-InputPrompt", TEXTS)

    def menu(self, top: str, item: str) -> None:
        self.page.click(f".lm-MenuBar-itemLabel:text-is('{top}')")
        self.page.click(f".lm-Menu-itemLabel:text-is('{item}')")

    def idle(self) -> bool:
        return self.page.locator(IDLE).count() > 0

    def cell_source(self, index: int) -> str:
        return self.page.locator(f"{PANEL} .jp-CodeCell").nth(index).locator(".jp-InputArea-editor").inner_text()

    def errors(self) -> list[str]:
        return self.page.eval_on_selector_all(f"{PANEL} [data-mime-type='application/vnd.jupyter.error']", TEXTS)

    def images(self) -> int:
        return self.page.eval_on_selector_all(f"{PANEL} .jp-RenderedImage img",
                                              "imgs => imgs.filter(i => i.complete && i.naturalWidth > 0).length")

    def close(self, passed: bool) -> None:
        """Shut every kernel down, so the next notebook does not share the CPU with this one. After a passed
        test, close the tab (discarding its changes: the workspace is a throwaway copy) and hand the page to the
        next Screen; after a failure, close the page, so the next test starts from a new one."""
        shutdown_kernels(self.base)
        if not passed:
            self.page.close()
            return
        self.menu("File", "Close All Tabs")
        deadline = time.monotonic() + 60
        while self.page.locator(".jp-NotebookPanel").count():
            discard = self.page.locator(".jp-Dialog button:has-text('Discard')")
            if discard.count():
                discard.click()
            if time.monotonic() > deadline:
                self.page.close()  # the next test loads a new page
                return
            self.page.wait_for_timeout(100)
        self.lab.page = self.page


def assert_widgets_render_on_open(screen: Screen, settle_s: float = 90) -> None:
    """The stored widget views render when the notebook opens, before anything runs.

    Waits for the steady state (the kernel connected and idle, widgets drawn, no raw repr or "model not found"):
    while the kernel connects, the widget manager restores the saved state and a view can show "model not
    found" for a moment on a busy machine. Fails only if that is still so ``settle_s`` seconds after the kernel
    went idle (what a learner would be left looking at)."""
    screen.wait_idle()
    deadline = time.monotonic() + settle_s
    while True:
        text = screen.text()
        raw = [r for r in RAW_REPRS if r in text]
        drawn = screen.page.locator(f"{PANEL} .jupyter-widgets").count() > 0
        if drawn and not raw and "Loading widget" not in text:
            return
        if time.monotonic() > deadline:
            break
        screen.page.wait_for_timeout(100)
    if raw:
        screen.fail("open", f"{screen.name}: widget cells show {raw} instead of widgets when the notebook opens")
    screen.fail("open", f"{screen.name}: no widget rendered when the notebook opens")


def move_a_slider_and_see_the_chart_redraw(screen: Screen, moves: int = 3) -> list[float]:
    """Press → ``moves`` times on the first slider that shares an output with an image; return the seconds
    each move took to redraw the chart (each move waits for the previous redraw)."""
    areas = screen.page.locator(f"{PANEL} .jp-OutputArea-output:has(.widget-slider)")
    for i in range(areas.count()):
        cell = areas.nth(i).locator("xpath=ancestor::div[contains(@class,'jp-CodeCell')]")
        if cell.locator(".jp-RenderedImage img").count() == 0:
            continue
        handle = cell.locator(".widget-slider .noUi-handle, .widget-slider input").first
        handle.scroll_into_view_if_needed()
        took = []
        for _ in range(moves):
            before = cell.locator(".jp-RenderedImage img").first.get_attribute("src")
            handle.focus()
            t0 = time.monotonic()
            screen.page.keyboard.press("ArrowRight")
            while True:
                imgs = cell.locator(".jp-RenderedImage img")
                if imgs.count() and imgs.first.get_attribute("src") != before:
                    took.append(time.monotonic() - t0)
                    break
                if time.monotonic() - t0 > 30:
                    screen.fail("slider", f"{screen.name}: moving the slider did not redraw its chart")
                screen.page.wait_for_timeout(20)
        return took
    screen.fail("slider", f"{screen.name}: no slider next to a chart")
    return []


def reveal_and_grade_a_drill_card(screen: Screen) -> None:
    reveal = screen.page.locator(f"{PANEL} button:has-text('Reveal key points')").last
    reveal.scroll_into_view_if_needed()
    reveal.click()
    screen.page.wait_for_selector(f"{PANEL} .jupyter-widgets :text('A strong answer covers')")
    if screen.page.locator(f"{PANEL} a[href*='.ipynb#']").count() == 0:
        screen.fail("drill", f"{screen.name}: the revealed card does not link its demo cell")
    screen.page.locator(f"{PANEL} button:has-text('Got it')").last.click()
    screen.page.wait_for_selector(f"{PANEL} .jupyter-widgets :text('→ box')")


CHAPTERS = {  # notebook -> (has a slider next to a chart, has a drill)
    "00_start_here": (False, True),
    "02_channels": (False, True),
    "05_redis_connection_pool": (True, True),
    "08_distributed_lock": (True, True),
    "16_capstone": (False, True),
}


@pytest.mark.parametrize("name", list(CHAPTERS))
def test_a_chapter_renders_runs_and_responds(lab, name):
    slider, drill = CHAPTERS[name]
    screen = Screen(lab, f"notebooks/{name}.ipynb")
    passed = False
    try:
        assert_widgets_render_on_open(screen)
        screen.run_all()
        errors = screen.errors()
        if errors:
            screen.fail("errors", f"{name}: Run All left error output: {errors[0][:300]}")
        if screen.images() == 0:
            screen.fail("images", f"{name}: no chart rendered after Run All")
        if any(r in screen.text() for r in RAW_REPRS):
            screen.fail("live", f"{name}: a widget shows its raw repr after Run All")
        if slider:
            took = move_a_slider_and_see_the_chart_redraw(screen)
            print(f"{name}: chart redrawn " + ", ".join(f"{t:.2f}" for t in took) + " s after each slider move")
            # issue 19: a slider redraws its chart within 1 s; the best of three moves, so one hiccup of a
            # busy machine (a GC, another test's process) does not decide it
            if min(took) >= 1.0:
                screen.fail("slider", f"{name}: the chart took {min(took):.2f} s at best to redraw after a "
                                      f"slider move (3 moves: {took}); the course promises under 1 s")
        if drill:
            reveal_and_grade_a_drill_card(screen)
        passed = True
    finally:
        screen.close(passed)


def test_an_exercise_flips_from_not_solved_to_passed(lab):
    name = "08_safe_release"
    solution = nbformat.read(ROOT / "solutions" / f"{name}.ipynb", as_version=4)
    definition = next(c.source for c in solution.cells if c.cell_type == "code" and "### BEGIN SOLUTION" in c.source)
    screen = Screen(lab, f"exercises/{name}.ipynb")
    passed = False
    try:
        screen.run_all()
        if "not solved yet" not in screen.text():
            screen.fail("stub", "the stub's check cell does not say 'not solved yet'")
        editor = screen.page.locator(f"{PANEL} .jp-CodeCell:has-text('NotImplementedError') .cm-content").first
        editor.click()
        screen.page.keyboard.press("Control+A")
        screen.page.keyboard.insert_text(definition)
        screen.page.keyboard.press("Escape")
        screen.run_all()
        text = screen.text()
        if not re.search(r"✓ \d+/\d+ checks passed", text):
            screen.fail("solved", "the pasted solution did not turn the verdict into ✓")
        passed = True
    finally:
        screen.close(passed)
