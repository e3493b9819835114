"""Go's ``panic``: the exception every hcedu.go primitive raises where Go would panic.

Invariant: the message of a ``Panic`` raised by hcedu.go is Go's own panic message, verbatim
(``"send on closed channel"``, ``"sync: negative WaitGroup counter"``), so a learner can search
for it in Go's source. Subclasses exist only so tests and notebooks can catch one kind.
"""

from __future__ import annotations


class Panic(Exception):
    """A Go runtime or library panic, carrying Go's message.

    ``str(p)`` is the message exactly as Go prints it after ``panic: ``.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message
