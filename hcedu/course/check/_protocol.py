"""A protocol-level spy for exercise checkers: every round trip a learner's redis-py client makes, hooked.

:func:`spy` instruments one redis-py client (embedded fakeredis or a real server's) in place, so that
**every** round trip it makes to Redis, whatever the command, passes through the checker:

* each ``client.execute_command`` call (every command method, ``EVAL``/``EVALSHA`` of a registered
  script, a ``NOSCRIPT`` retry's ``SCRIPT LOAD``);
* each immediate command of a pipeline in watch mode (``WATCH``, the reads between ``WATCH`` and ``MULTI``);
* each ``pipeline.execute()`` (a ``MULTI``/``EXEC`` transaction or a plain pipeline: one round trip).

Before and after each round trip the checker's hooks run (``before(i, commands)``, ``after(i, commands)``
with ``i`` the round trip's index), so a checker can make the world move on between any two round trips
of the learner's code: a lease runs out, another client acquires, a logout lands. Hooks run on the
learner's thread, on a *different* client (never the spied one), so their own commands are not counted.
This replaces hooks on one method (``.get``): ``MGET``, ``GETDEL``, a pipeline, a script, all are seen.

Invariant: the spied client behaves exactly as before apart from the hooks; :attr:`Spy.log` lists every
round trip's commands (tuples of the arguments sent, command name first) in order.
"""

from __future__ import annotations

from ...backend import new_fake_server  # db 0 made up front: fakeredis 2.41's first-use race

from typing import Any, Callable, Sequence

Commands = Sequence[tuple]
Hook = Callable[[int, Commands], Any]

__all__ = ["Spy", "spy", "names_key", "command_names", "embedded"]


def embedded() -> Callable[[], Any]:
    """A factory of clients (``decode_responses=True``) on one fresh embedded fakeredis store: a checker's
    default ``connect``."""
    import fakeredis

    server = new_fake_server()
    return lambda: fakeredis.FakeRedis(server=server, decode_responses=True)


class Spy:
    """The round trips of one spied client (see :func:`spy`); ``log[i]`` is round trip ``i``'s commands."""

    def __init__(self, before: Hook | None, after: Hook | None) -> None:
        self.before = before
        self.after = after
        self.log: list[Commands] = []

    def round_trip(self, commands: Commands, send: Callable[[], Any]) -> Any:
        i = len(self.log)
        if self.before is not None:
            self.before(i, commands)
        try:
            result = send()
        finally:
            self.log.append(commands)
        if self.after is not None:
            self.after(i, commands)
        return result

    def summary(self, start: int = 0) -> str:
        """The round trips from ``start`` on, as ``"HGETALL | EXPIRE"`` (a pipeline's commands joined by '+')."""
        return " | ".join("+".join(command_names(c)) for c in self.log[start:]) or "none"

    def __repr__(self) -> str:
        return f"<Spy {len(self.log)} round trips: {self.summary()}>"


def command_names(commands: Commands) -> list[str]:
    """The command names of one round trip, upper-case, in the order sent."""
    return [str(_text(c[0])).upper() for c in commands if c]


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, (bytes, bytearray)) else value


def names_key(commands: Commands, key: str, *, skip: tuple[str, ...] = ("WATCH", "UNWATCH")) -> bool:
    """True if a command of this round trip (other than those in ``skip``) names ``key`` among its arguments."""
    for c in commands:
        if c and str(_text(c[0])).upper() not in skip and any(_text(a) == key for a in c[1:]):
            return True
    return False


def spy(client: Any, *, before: Hook | None = None, after: Hook | None = None) -> Spy:
    """Instrument ``client`` (a redis-py ``Redis``, fakeredis included) in place; return its :class:`Spy`.

    ``before(i, commands)`` runs right before round trip ``i`` is sent, ``after(i, commands)`` right after
    its reply arrived (not after a round trip that raised, e.g. ``NOSCRIPT``). Pipelines made from the
    client (also by ``client.transaction``) are instrumented too.
    """
    s = Spy(before, after)
    send_command = client.execute_command
    make_pipeline = client.pipeline

    def execute_command(*args: Any, **options: Any) -> Any:
        return s.round_trip([args], lambda: send_command(*args, **options))

    def pipeline(transaction: bool = True, shard_hint: Any = None) -> Any:
        p = make_pipeline(transaction, shard_hint)
        immediate, run = p.immediate_execute_command, p.execute

        def immediate_execute_command(*args: Any, **options: Any) -> Any:
            return s.round_trip([args], lambda: immediate(*args, **options))

        def execute(raise_on_error: bool = True) -> Any:
            commands = [args for args, _ in p.command_stack]
            if not commands and not p.watching:
                return run(raise_on_error)
            return s.round_trip(commands, lambda: run(raise_on_error))

        p.immediate_execute_command = immediate_execute_command
        p.execute = execute
        return p

    client.execute_command = execute_command
    client.pipeline = pipeline
    return s
