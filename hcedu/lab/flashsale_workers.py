"""The flash sale's vocabulary and its order workers: stages, outcomes, and a crashable worker.

:data:`STAGES` and :data:`OUTCOMES` name what :func:`hcedu.lab.flashsale_system.run` records (the faults
are strategy classes in :mod:`hcedu.lab.flashsale_faults`);
:data:`DIAGRAM` draws the request path. An order worker is an :class:`OrderWorker` (``work_one`` handles one
order, ``recover`` runs at each (re)start); :data:`BLPOP_WORKER` is the default, which loses the order it
held when it dies. :class:`WorkerLife` simulates ``kill -9`` after a seeded number of Redis commands,
raising :class:`WorkerCrash`.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import redis

from .. import _validate

__all__ = ["STAGES", "OUTCOMES", "DIAGRAM", "OrderWorker", "BLPOP_WORKER", "WorkerCrash", "WorkerLife",
           "BLOCKING", "ITEM"]

STAGES = ("gateway", "user_limit", "product", "stock", "queue")
OUTCOMES = ("gateway_429", "user_429", "limiter_down", "error", "sold_out", "duplicate", "shed", "ordered")
BLOCKING = frozenset({"BLPOP", "BRPOP", "BLMOVE", "BRPOPLPUSH", "BLMPOP", "XREADGROUP", "XREAD", "BZPOPMIN"})
ITEM = "sku-1"

DIAGRAM = """\
 request ─▶ gateway ─▶ user_limit ─▶ product ─▶ stock ─────▶ queue ─────▶ order workers ─▶ DelayQueue ─▶ closer
            rate.Limiter  Redis token  hot key via  Lua: check+   Bridge: bounded  BLPOP, create   ZSET by       close unpaid,
            (in process)  bucket/user  singleflight DECRBY+buyer  chan → Redis     order, pay?     pay deadline  return stock
               │             │            │            │             │
             429           429/503      error     sold_out /     shed (stock
                                                  duplicate      returned)"""


class WorkerCrash(BaseException):
    """A worker process died (a simulated ``kill -9``). A BaseException, so ``except Exception`` in the worker
    cannot swallow it; once raised, the dead worker's client refuses every further command."""


class WorkerLife:
    """One life of a worker process: ``client`` shares ``base``'s connections but counts every Redis command
    (and every :meth:`event` the system adds, e.g. an order-creation step) and dies after ``crash_after`` of
    them: the command runs on the server, its reply is lost, :class:`WorkerCrash` is raised, and every later
    command of this life raises it too. ``crash_after=None`` never crashes. ``log`` names the events so far.
    ``on_block(True/False)`` is called around each blocking command (BLPOP, BLMOVE, ...)."""

    def __init__(self, base: redis.Redis, crash_after: int | None = None,
                 on_block: Callable[[bool], None] | None = None) -> None:
        self.crash_after = None if crash_after is None else _validate.integer("crash_after", crash_after, minimum=1)
        self.client = redis.Redis(connection_pool=base.connection_pool)
        self.dead = False
        self.log: list[str] = []
        command = self.client.execute_command
        make_pipeline = self.client.pipeline

        def execute_command(*args: Any, **options: Any) -> Any:
            self._alive()
            name = str(args[0]).upper()
            blocking = on_block is not None and name in BLOCKING
            if blocking:
                on_block(True)
            try:
                result = command(*args, **options)
            finally:
                if blocking:
                    on_block(False)
            self.event(name)
            return result

        def pipeline(*args: Any, **kwargs: Any) -> Any:
            pipe = make_pipeline(*args, **kwargs)
            run = pipe.execute

            def execute(*eargs: Any, **ekw: Any) -> Any:
                self._alive()
                result = run(*eargs, **ekw)
                self.event("MULTI/EXEC" if pipe.transaction else "pipeline")
                return result
            pipe.execute = execute
            return pipe

        self.client.execute_command = execute_command  # type: ignore[method-assign]
        self.client.pipeline = pipeline  # type: ignore[method-assign]

    def _alive(self) -> None:
        if self.dead:
            raise WorkerCrash("the worker is dead: its connections are gone")

    def event(self, name: str) -> None:
        """Count one step of this worker; the ``crash_after``-th kills it (after the step took effect)."""
        self._alive()
        self.log.append(name)
        if self.crash_after is not None and len(self.log) >= self.crash_after:
            self.dead = True
            raise WorkerCrash(f"killed after step {len(self.log)} ({name})")

    def __repr__(self) -> str:
        return f"<WorkerLife steps={len(self.log)} crash_after={self.crash_after} dead={self.dead}>"


class OrderWorker(NamedTuple):
    """An order worker's two entry points (see the module docstring) and a name for tables."""

    work_one: Callable[..., Any]
    recover: Callable[..., Any]
    name: str = "worker"


def _blpop_work_one(r: redis.Redis, queue: str, processing: str, create_order: Callable[[str], Any],
                    timeout: float) -> bool:
    got = r.blpop([queue], timeout=timeout)      # the order now lives only in this process's memory
    if got is None:
        return False
    create_order(got[1])
    return True


BLPOP_WORKER = OrderWorker(_blpop_work_one, lambda r, queue, processing: 0, "BLPOP")
