"""Connection-pool defaults side by side: go-redis v8/v9, redis-py 8.x, and the source's claims.

:data:`REDIS_PY_8_DEFAULTS` is written down (the same for every redis-py the course allows);
:func:`installed_redis_py_defaults` reads the same fields from the installed library, so a release that
moves one is caught; :func:`defaults_table` is the chapter's comparison table.
"""

from __future__ import annotations

import pandas as pd


__all__ = ["defaults_table", "installed_redis_py_defaults", "REDIS_PY_8_DEFAULTS"]

#: them (``ConnectionPool`` ``max_connections or 100``, was ``2**31``; ``_defaults.py``:
#: ``DEFAULT_SOCKET_TIMEOUT = 5``, ``DEFAULT_RETRY_COUNT = 10``, backoff 10 ms–1 s);
#: ``BlockingConnectionPool(max_connections=50, timeout=20)`` is older. :func:`installed_redis_py_defaults`
#: reads the same fields from the installed library, so a release that moves one is caught.
REDIS_PY_8_DEFAULTS: dict[str, str] = {
    "pool size": "100 (Blocking: 50)",
    "min idle": "0 (lazy)",
    "idle timeout": "none",
    "max retries": "10",
    "read timeout": "5 s",
    "pool wait": "fail fast (Blocking: 20 s)",
}


def installed_redis_py_defaults() -> dict[str, str]:
    """The installed redis-py's pool defaults, read from the library (no connection is made), in the
    format of :data:`REDIS_PY_8_DEFAULTS`; compare the two to see whether a release moved one."""
    import redis as _r
    probe = _r.Redis()
    kw = probe.connection_pool.connection_kwargs
    retry = kw.get("retry")
    blocking = _r.BlockingConnectionPool()
    try:
        return {
            "pool size": f"{probe.connection_pool.max_connections} (Blocking: {blocking.max_connections})",
            "min idle": "0 (lazy)",
            "idle timeout": "none",
            "max retries": str(retry.get_retries() if retry is not None else 0),
            "read timeout": f"{kw.get('socket_timeout')} s",
            "pool wait": f"fail fast (Blocking: {blocking.timeout} s)",
        }
    finally:
        probe.close()
        blocking.disconnect()


def defaults_table() -> pd.DataFrame:
    """Pool defaults side by side: go-redis v8 / v9.0–9.21 / v9.22+ (from their ``options.go``), redis-py 8.x
    (:data:`REDIS_PY_8_DEFAULTS`, the same for every allowed version) and the source's claims.

    The table holds no installed version, so it reads the same on every correct install; to check the
    installed library against it, compare :func:`installed_redis_py_defaults` with ``REDIS_PY_8_DEFAULTS``."""
    py = REDIS_PY_8_DEFAULTS
    rows = {
        "go-redis v8": ["10 × GOMAXPROCS", "0", "IdleTimeout 5 min", "3", "3 s", "ReadTimeout + 1 s"],
        "go-redis v9.0–9.21": ["10 × GOMAXPROCS", "0", "ConnMaxIdleTime 30 min", "3", "3 s", "ReadTimeout + 1 s"],
        "go-redis v9.22+": ["10 × GOMAXPROCS", "0", "ConnMaxIdleTime 30 min", "3", "5 s", "ReadTimeout + 1 s"],
        "redis-py 8.x": list(py.values()),
        "the source claims": ["cores × 10", "10 (example)", "5 min", "3", "2 s (example)", "—"],
    }
    return pd.DataFrame(rows, index=list(py.keys())).T
