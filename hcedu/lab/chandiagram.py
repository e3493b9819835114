"""Pictures of ``runtime.hchan``: a ``Chan.snapshot()`` drawn as a ring buffer with ``sendx``
and ``recvx`` plus the two wait queues, and a stepper that applies one channel operation at a
time on real threads and redraws.

``chart_chan(state)`` -> matplotlib Figure; ``describe(state)`` -> the same as text (stable, for checked
notebook output); :class:`ChanStepper` runs a script such as::

    [("send", "G1", 1), ("send", "G1", 2), ("send", "G2", 3), ("recv", "G3"), ("close",)]

Each ``send``/``recv`` runs on a goroutine (:func:`hcedu.go.spawn`) named after its label, whose thread
is named ``hcedu-G2`` (the name a :class:`~hcedu.go.chan.Waiter` shows), so a
blocked one really parks on ``sendq``/``recvq``. After each step the stepper waits until every
goroutine it started has either finished or is parked, so the picture is never mid-transition.
Invariant: no goroutine a stepper starts outlives :meth:`ChanStepper.stop` (it closes the channel,
which wakes every parked goroutine: receivers get ``(None, False)``, senders panic and the panic
is recorded).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from .. import _validate
from ..clock import REAL, poll_until
from ..go.chan import Chan, ChanState, ChanTimeout
from ..go.goroutine import spawn
from ..go.panic import Panic

if TYPE_CHECKING:
    from ipywidgets import Widget
    from matplotlib.figure import Figure

__all__ = ["describe", "chart_chan", "ChanStepper", "dashboard"]


def _label(g: str) -> str:
    return g[len("hcedu-"):] if g.startswith("hcedu-") else g


def describe(state: ChanState) -> str:
    """The ``hchan`` fields as a few lines of text (thread names without the ``hcedu-`` prefix)."""
    slots = " ".join("[" + ("·" if v is None else repr(v)) + "]" for v in state.buf) or "(no buffer)"
    lines = [
        f"qcount={state.qcount} dataqsiz={state.dataqsiz} sendx={state.sendx} recvx={state.recvx} "
        f"closed={state.closed}",
        f"buf:   {slots}",
        "recvq: " + (" <- ".join(_label(w.g) for w in state.recvq) or "∅"),
        "sendq: " + (" <- ".join(f"{_label(w.g)}({w.elem!r})" for w in state.sendq) or "∅"),
    ]
    return "\n".join(lines)


def chart_chan(state: ChanState, title: str | None = None, ax: Any = None) -> "Figure":
    """Draw an ``hchan`` snapshot: the ring buffer's slots (filled ones shaded, ``sendx`` and
    ``recvx`` arrows), ``recvq`` and ``sendq`` as queues of parked goroutines (senders with the
    value they hold), head on the left. Returns the Figure (closed, so it shows once)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch, Rectangle

    if not isinstance(state, ChanState):
        raise TypeError(f"state must be a ChanState from Chan.snapshot() (got {type(state).__name__})")
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(7.5, 3.2))
    else:
        fig = ax.figure
    n = state.dataqsiz
    width = max(n, 4)
    ax.set_xlim(-2.2, width + 0.5)
    ax.set_ylim(-3.3, 2.0)
    ax.axis("off")
    ax.set_aspect("equal")
    live = {(state.recvx + i) % n for i in range(state.qcount)} if n else set()
    ax.text(-2.1, 0.5, "buf", va="center", fontsize=10, weight="bold")
    if n == 0:
        ax.text(0, 0.5, "no buffer (unbuffered: every send meets a receiver)", va="center", fontsize=9)
    for i in range(n):
        ax.add_patch(Rectangle((i, 0), 1, 1, facecolor="#9ecae1" if i in live else "white",
                               edgecolor="black"))
        v = state.buf[i]
        ax.text(i + 0.5, 0.5, "" if v is None else repr(v), ha="center", va="center", fontsize=9)
        ax.text(i + 0.5, -0.25, str(i), ha="center", va="center", fontsize=7, color="gray")
    if n:
        same = state.recvx == state.sendx
        ax.annotate("sendx", xy=(state.sendx + 0.5, 1.0), xytext=(state.sendx + (0.1 if same else 0.5), 1.7),
                    ha="center", fontsize=8, color="tab:red", arrowprops={"arrowstyle": "->", "color": "tab:red"})
        ax.annotate("recvx", xy=(state.recvx + 0.5, 1.0), xytext=(state.recvx + (0.9 if same else 0.5), 1.7),
                    ha="center", fontsize=8, color="tab:green",
                    arrowprops={"arrowstyle": "->", "color": "tab:green"})
    for row, (name, q, colour) in enumerate((("recvq", state.recvq, "#c7e9c0"),
                                              ("sendq", state.sendq, "#fdd0a2"))):
        y = -1.3 - row * 1.2
        ax.text(-2.1, y + 0.4, name, va="center", fontsize=10, weight="bold")
        if not q:
            ax.text(0, y + 0.4, "∅ (empty)", va="center", fontsize=9, color="gray")
        for i, w in enumerate(q):
            ax.add_patch(FancyBboxPatch((i * 1.6, y), 1.4, 0.8, boxstyle="round,pad=0.02",
                                        facecolor=colour, edgecolor="black"))
            text = _label(w.g) + (f"\n{w.elem!r}" if name == "sendq" else "")
            ax.text(i * 1.6 + 0.7, y + 0.4, text, ha="center", va="center", fontsize=8)
    head = (f"qcount={state.qcount}  dataqsiz={n}  sendx={state.sendx}  recvx={state.recvx}"
            f"  closed={state.closed}")
    ax.set_title(head if title is None else f"{title}\n{head}", fontsize=9)
    if own:
        fig.tight_layout()
        plt.close(fig)
    return fig


class _Send:
    """``("send", g, v)``: ``g`` sends ``v`` on its own goroutine (the stepper's strategy for one kind of step)."""

    def __init__(self, g: str, v: Any) -> None:
        self.g, self.v = g, v

    def text(self) -> str:
        return f"{self.g}: ch <- {self.v!r}"

    def call(self, ch: Chan, timeout: float) -> Any:
        return lambda: ch.send(self.v, timeout)

    def finished(self, val: Any) -> str:
        return f"{self.g}: send {self.v!r} done"

    def panicked(self, val: Any) -> str:
        return f"{self.g}: send {self.v!r} panicked: {val}"

    def parked(self) -> str:
        return f"{self.g}: send {self.v!r} parked on sendq"


class _Recv:
    """``("recv", g)``: ``g`` receives on its own goroutine."""

    def __init__(self, g: str) -> None:
        self.g = g

    def text(self) -> str:
        return f"{self.g}: <-ch"

    def call(self, ch: Chan, timeout: float) -> Any:
        return lambda: ch.recv_ok(timeout)

    def finished(self, val: Any) -> str:
        return f"{self.g}: recv -> {val[0]!r} (ok={val[1]})"

    def panicked(self, val: Any) -> str:
        return f"{self.g}: recv panicked: {val}"

    def parked(self) -> str:
        return f"{self.g}: recv parked on recvq"


class _Close:
    """``("close",)``: the stepper itself closes the channel (no goroutine: close never blocks)."""

    g = None

    def text(self) -> str:
        return "close(ch)"

    def apply(self, ch: Chan) -> str:
        try:
            ch.close()
            return "close(ch): closed"
        except Panic as e:
            return f"close(ch): panic: {e}"


_OPS = {"send": _Send, "recv": _Recv, "close": _Close}


class ChanStepper:
    """Apply a script of channel operations to a real ``Chan(cap)`` one step at a time.

    Operations: ``("send", g, v)``, ``("recv", g)``, ``("close",)``; ``g`` is a goroutine label
    such as ``"G1"``. Each send/recv runs on its own goroutine (thread ``hcedu-<g>``) with a
    ``timeout`` (seconds) so nothing can hang a notebook. ``step()`` returns the lines of what
    happened in that step (sorted, deterministic), e.g. ``"G3: send 3 parked on sendq"`` or
    ``"G1: recv -> 1 (ok=True)"``. Bad operations raise ``ValueError``.
    """

    def __init__(self, cap: int, ops: Iterable[Sequence[Any]], timeout: float = 30.0) -> None:
        self.ch = Chan(cap)
        self.ops = [self._check(op) for op in ops]
        self._steps = [_OPS[op[0]](*op[1:]) for op in self.ops]
        self.timeout = _validate.number("timeout", timeout, minimum=0, strict=True)
        self.pos = 0
        self._gs: dict = {}   # step key -> (thread name, Goroutine)
        self._results: dict = {}
        self._reported: set = set()
        self._lock = threading.Lock()
        self.history: list = []  # (op text, lines, ChanState) per step

    @staticmethod
    def _check(op: Sequence[Any]) -> tuple:
        if not isinstance(op, (tuple, list)) or not op:
            raise ValueError(f"an operation must be a tuple like ('send', 'G1', 1) (got {op!r})")
        kind = _validate.choice("operation", op[0], tuple(_OPS))
        want = {"send": 3, "recv": 2, "close": 1}[kind]
        if len(op) != want:
            raise ValueError(f"{kind} takes {want - 1} argument(s) after its name (got {op!r})")
        if kind != "close":
            _validate.text("goroutine label", op[1])
        return tuple(op)

    @property
    def done(self) -> bool:
        """True when every operation has been applied."""
        return self.pos >= len(self.ops)

    def _run(self, key: str, name: str, fn: Any) -> None:
        threading.current_thread().name = name   # the label a Waiter shows in recvq/sendq
        try:
            res: Any = ("ok", fn())
        except Panic as e:
            res = ("panic", str(e))
        except ChanTimeout:
            res = ("timeout", None)
        with self._lock:
            self._results[key] = res

    def _parked(self) -> set:
        s = self.ch.snapshot()
        return {w.g for w in s.recvq} | {w.g for w in s.sendq}

    def _busy(self) -> list:
        """Keys of goroutines neither finished nor parked on the channel."""
        parked = self._parked()
        return [k for k, (name, g) in self._gs.items()
                if g.alive and name not in parked and k not in self._results]

    def _settle(self) -> None:
        if not poll_until(lambda: not self._busy(), self.timeout, interval=0.001, clock=REAL):
            raise RuntimeError(f"goroutines neither finished nor parked: {self._busy()}")

    def step(self) -> list:
        """Apply the next operation, wait until things settle, return what happened."""
        if self.done:
            raise IndexError("no operations left")
        op = self._steps[self.pos]
        key = f"{self.pos}"
        lines = []
        if isinstance(op, _Close):
            lines.append(op.apply(self.ch))
        else:
            name = f"hcedu-{op.g}"
            if any(g.alive and n == name for n, g in self._gs.values()):
                raise ValueError(f"goroutine {op.g} is still blocked; use another label")
            fn = op.call(self.ch, self.timeout)
            self._gs[key] = (name, spawn(self._run, key, name, fn, name=op.g, report=False))
        self.pos += 1
        self._settle()
        parked = self._parked()
        for k, (name, g_handle) in sorted(self._gs.items(), key=lambda kv: int(kv[0])):
            o = self._steps[int(k)]
            if k in self._reported:
                continue
            if k in self._results:
                self._reported.add(k)
                g_handle.join(self.timeout)
                status, val = self._results[k]
                lines.append(o.panicked(val) if status == "panic" else o.finished(val))
            elif name in parked and k == key:
                lines.append(o.parked())
        self.history.append((op.text(), lines, self.ch.snapshot()))
        return lines

    def run(self) -> list:
        """Apply every remaining operation; return ``history`` entries of this call."""
        start = len(self.history)
        while not self.done:
            self.step()
        return self.history[start:]

    def stop(self) -> None:
        """Close the channel if still open (waking every parked goroutine) and join the goroutines."""
        if not self.ch.closed:
            self.ch.close()
        for _, g in self._gs.values():
            g.join(self.timeout)


def dashboard(cap: int, ops: Iterable[Sequence[Any]]) -> "Widget":
    """An ipywidgets box: a "step" button applies the next operation and redraws the diagram
    with what happened; "reset" starts over (stopping the old stepper's goroutines)."""
    import ipywidgets as W
    from IPython.display import display

    ops = list(ops)
    out = W.Output()
    box: dict = {"s": ChanStepper(cap, ops)}
    step_b = W.Button(description="step", icon="step-forward")
    reset_b = W.Button(description="reset", icon="refresh")

    def show(title: str, lines: list) -> None:
        with out:
            out.clear_output(wait=True)
            s = box["s"]
            display(chart_chan(s.ch.snapshot(), title=title))
            print("\n".join(lines) if lines else "")
            if s.done:
                print("(script finished)")

    def on_step(_: Any) -> None:
        s = box["s"]
        if s.done:
            return
        lines = s.step()
        show(s.history[-1][0], lines)

    def on_reset(_: Any) -> None:
        box["s"].stop()
        box["s"] = ChanStepper(cap, ops)
        show(f"make(chan T, {cap})", [])

    step_b.on_click(on_step)
    reset_b.on_click(on_reset)
    show(f"make(chan T, {cap})", [])
    return W.VBox([W.HBox([step_b, reset_b]), out])
