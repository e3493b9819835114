"""Chapter 05's pool lab under one name: the notebook calls it as ``from hcedu.lab import pool as P``.

Each job lives in its own module and is re-exported here:

* :mod:`hcedu.lab.instrpool`: instrumented redis-py pools (:class:`InstrumentedPool`,
  :class:`InstrumentedBlockingPool`, :func:`make_pool`, :func:`make_client`), go-redis's ``PoolStats``;
* :mod:`hcedu.lab.poolmodel`: the model (:func:`roofline` on Little's law, :func:`size_pool`,
  :func:`simulate_pool` in virtual time);
* :mod:`hcedu.lab.poolrig`: :class:`PoolLab`, a Redis with injected round-trip time on any rung;
* :mod:`hcedu.lab.poolexp`: the experiments (:func:`measure_ceilings`, :func:`sweep`,
  :func:`interleaved_sweep`, :func:`with_model`, :func:`exhaustion`, :func:`stall_experiment`,
  :func:`one_core`), each returning a tidy frame or a frozen result (:class:`Ceilings`,
  :class:`InterleavedSweep`, :class:`PoolRun`) for the ``chart_*`` functions of :mod:`hcedu.lab.poolviz`;
* :mod:`hcedu.lab.pooldefaults`: go-redis and redis-py pool defaults side by side (:func:`defaults_table`).
"""

from __future__ import annotations

from .instrpool import (KINDS, InstrumentedBlockingPool, InstrumentedPool, PoolStatsRecorder, _Instrumentation,
                        make_client, make_pool)
from .pooldefaults import REDIS_PY_8_DEFAULTS, defaults_table, installed_redis_py_defaults
from .poolexp import (Ceilings, InterleavedSweep, PoolRun, exhaustion, interleaved_sweep, measure_ceilings, one_core,
                      stall_experiment, sweep, with_model)
from .poolmodel import roofline, simulate_pool, size_pool
from .poolrig import PoolLab

__all__ = ["PoolStatsRecorder", "InstrumentedPool", "InstrumentedBlockingPool", "make_pool", "make_client",
           "measure_ceilings", "sweep", "interleaved_sweep", "with_model", "one_core", "exhaustion", "stall_experiment",
           "Ceilings", "InterleavedSweep", "PoolRun", "defaults_table", "installed_redis_py_defaults", "REDIS_PY_8_DEFAULTS",
           "roofline", "size_pool", "simulate_pool", "PoolLab", "KINDS"]
