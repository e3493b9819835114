"""hcedu: a hands-on course in high-concurrency backend engineering (Go's model, Redis patterns).

Subpackages:
    hcedu.clock      RealClock / VirtualClock: every piece of code that reads time takes one.
    hcedu.backend    connect(): REDIS_URL -> real Redis, else an embedded fakeredis server.
    hcedu.go         Go's runtime and x/ packages, ported faithfully (chan, select, sync, context, ...).
    hcedu.patterns   Redis patterns (lock, rate limiting, caches, queues, ...).
    hcedu.lab        measuring and showing: load generators, percentiles, fault injection, charts.
    hcedu.course     exercises, checkers, the interview bank and its drill, the ``hcedu`` CLI.
"""

__version__ = "0.1.0"
