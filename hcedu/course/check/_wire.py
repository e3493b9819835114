"""Protocol-level spies for the Redis checkers: see every command a learner's client sends, and run other
clients' commands between any two of them, deterministically (no sleeps, no scheduling luck).

:func:`spy_client` returns a new client on the *same store* as a given one (an embedded fakeredis server or
a real redis-server) whose connections record each command's name (``calls``) and call ``after_reply(name)``
after each reply is read. Pipelines and ``MULTI``/``EXEC`` batches are recorded as ``"PIPELINE"``; connection
hand-shake commands are neither recorded nor hooked. Because the hook sits in the connection, it sees
commands sent by ``execute_command``, by pipelines, by ``WATCH`` transactions and by ``register_script``
alike: a learner cannot route around it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable

import fakeredis
from ...backend import new_fake_server  # db 0 made up front: fakeredis 2.41's first-use race
import redis

__all__ = ["fresh_client", "spy_client"]


def fresh_client() -> redis.Redis:
    """A client of a new, private embedded store (the checkers' default)."""
    return fakeredis.FakeRedis(server=new_fake_server(), decode_responses=True)


class _SpyConnection:
    """Mixin over a redis-py connection class; the owning client's state lives in ``spy_state``."""

    def __init__(self, *args: Any, spy_state: dict | None = None, **kwargs: Any) -> None:
        self._spy = spy_state if spy_state is not None else {}
        self._spy_handshake = False
        self._spy_pending: str | None = None
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]

    def on_connect_check_health(self, *args: Any, **kwargs: Any) -> None:
        self._spy_handshake = True
        try:
            super().on_connect_check_health(*args, **kwargs)  # type: ignore[misc]
        finally:
            self._spy_handshake = False

    def send_command(self, *args: Any, **kwargs: Any) -> None:
        self._spy_single = True
        try:
            super().send_command(*args, **kwargs)  # type: ignore[misc]
        finally:
            self._spy_single = False
        if not self._spy_handshake and args:
            self._spy_count(str(args[0]).upper())

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        super().send_packed_command(command, check_health=check_health)  # type: ignore[misc]
        if not self._spy_handshake and not getattr(self, "_spy_single", False):
            self._spy_count("PIPELINE")  # a pipeline or MULTI/EXEC batch: one request, several replies

    def _spy_count(self, name: str) -> None:
        self._spy["calls"][name] += 1
        self._spy_pending = name

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        reply = super().read_response(*args, **kwargs)  # type: ignore[misc]
        name = self._spy_pending
        if name is not None and not self._spy_handshake:
            if isinstance(reply, (list, tuple)):
                self._spy["longest_reply"] = max(self._spy.get("longest_reply", 0), len(reply))
            if name != "PIPELINE":
                self._spy_pending = None
            hook = self._spy.get("after_reply")
            if hook is not None:
                hook(name)
        return reply

    def disconnect(self, *args: Any, **kwargs: Any) -> None:
        self._spy_pending = None
        super().disconnect(*args, **kwargs)  # type: ignore[misc]


class SpyRedis(redis.Redis):
    """A redis-py client whose every command is counted in ``calls`` and may be followed by ``after_reply``."""

    @property
    def calls(self) -> Counter:
        """Commands sent so far, by name (``PIPELINE`` for a pipelined or transactional batch)."""
        return self._spy_state["calls"]  # type: ignore[attr-defined]

    @property
    def longest_reply(self) -> int:
        """The most elements any single reply (an array) carried so far: how much data a command pulled."""
        return self._spy_state.get("longest_reply", 0)  # type: ignore[attr-defined]

    @property
    def after_reply(self) -> Callable[[str], Any] | None:
        """Called with the command's name after each reply is read (None: no hook)."""
        return self._spy_state["after_reply"]  # type: ignore[attr-defined]

    @after_reply.setter
    def after_reply(self, hook: Callable[[str], Any] | None) -> None:
        self._spy_state["after_reply"] = hook  # type: ignore[attr-defined]


def spy_client(client: redis.Redis, after_reply: Callable[[str], Any] | None = None) -> SpyRedis:
    """A new client on ``client``'s store (``decode_responses=True``) whose connections report every command.

    ``spy.calls`` counts the commands by name, ``spy.longest_reply`` is the longest array reply; ``after_reply(name)`` (settable later as ``spy.after_reply``)
    runs after each reply is read, in the calling thread, before the learner's code sees the reply.
    """
    if not isinstance(client, redis.Redis):
        raise TypeError(f"client must be a redis.Redis client (got {type(client).__name__})")
    pool = client.connection_pool
    base = pool.connection_class
    kwargs = {k: v for k, v in pool.connection_kwargs.items() if not k.startswith("maint_notifications")}
    kwargs["decode_responses"] = True
    state: dict = {"calls": Counter(), "after_reply": after_reply}
    cls = type(f"Spy{base.__name__}", (_SpyConnection, base), {})
    spy = SpyRedis(connection_pool=redis.ConnectionPool(connection_class=cls, spy_state=state, **kwargs))
    spy._spy_state = state  # type: ignore[attr-defined]
    return spy
