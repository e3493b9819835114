"""Exercise 03 (pooled buffers): typical wrong solutions are rejected, naming the mistake. Use after put
is caught by spy buffers, deterministically (the old check needed two threads to collide in the gap),
including a read through an iterator or generator over the chunks made before the put: the spy pool has
"another request" reuse each buffer the moment it is put back."""

from __future__ import annotations

import pytest

from hcedu.course import check
from helpers import assert_accepted, assert_rejected
from learner import load, plant, solution_code

REF = solution_code("03_pool_buffers")
RENDER_BODY = """    buf = get_buffer(pool)
    try:
        buf.write(b"hello ")
        buf.write(user.encode())
        return b"".join(buf.parts).decode()   # copy out *before* the buffer goes back
    finally:
        put_buffer(pool, buf)
"""

WRONG = {
    # hole: the buffer goes back first, the result is read from it afterwards
    "read_after_put": ([(RENDER_BODY, """    buf = get_buffer(pool)
    buf.write(b"hello ")
    buf.write(user.encode())
    put_buffer(pool, buf)                  # done with it
    return b"".join(buf.parts).decode()
""")], ("after handing it back", "after put_buffer")),
    # the same bug, hidden behind an alias taken before the put
    "alias_read_after_put": ([(RENDER_BODY, """    buf = get_buffer(pool)
    buf.write(b"hello ")
    buf.write(user.encode())
    parts = buf.parts
    put_buffer(pool, buf)
    return b"".join(parts).decode()
""")], ("after handing it back",)),
    # a lazy generator over the chunks, consumed after the put: it still reads the buffer
    "lazy_generator_after_put": ([(RENDER_BODY, """    buf = get_buffer(pool)
    buf.write(b"hello ")
    buf.write(user.encode())
    pieces = (p.decode() for p in buf.parts)
    put_buffer(pool, buf)
    return "".join(pieces)
""")], ("generator over buf.parts",)),
    # the same with a plain iterator
    "iterator_after_put": ([(RENDER_BODY, """    buf = get_buffer(pool)
    buf.write(b"hello ")
    buf.write(user.encode())
    chunks = iter(buf.parts)
    put_buffer(pool, buf)
    return b"".join(chunks).decode()
""")], ("iterator or generator over buf.parts",)),
    # one module-level fallback buffer, handed to every caller while the pool is empty
    "shared_fallback": ([("""    if buf is None:
        return Buffer(4096)
""", """    if buf is None:
        return FALLBACK
"""), ("def get_buffer(pool):", "FALLBACK = Buffer(4096)\n\n\ndef get_buffer(pool):")],
                        ("returned the same Buffer",)),
    # a fallback too big to ever be pooled
    "oversized_fallback": ([("        return Buffer(4096)\n", "        return Buffer(MAX_POOLED * 2)\n")],
                           ("131072 bytes", "never pooled")),
    # ASCII only: "zoë" becomes "zo"
    "ascii_ignore": ([("    buf.write(user.encode())\n", "    buf.write(user.encode('ascii', 'ignore'))\n")],
                     ("non-ASCII",)),
    # trusting the pooled object's state: no reset
    "no_reset": ([("    buf.reset()                  # never trust a pooled object's state\n", "")],
                 ("reset",)),
    # pinning huge buffers in the pool
    "pools_oversized": ([("if buf is None or len(buf.data) > MAX_POOLED:", "if buf is None:")], ("MAX_POOLED",)),
    # off-by-one at the limit
    "off_by_one_limit": ([("len(buf.data) > MAX_POOLED", "len(buf.data) >= MAX_POOLED")], ("exactly MAX_POOLED",)),
    # Pool.get() returns None when empty and New is unset
    "returns_none_when_empty": ([("""    if buf is None:
        return Buffer(4096)
""", "")], ("make a Buffer", "None")),
    # forgetting to give the buffer back
    "never_puts_back": ([("""    finally:
        put_buffer(pool, buf)
""", """    finally:
        pass
""")], ("get and put one buffer each",)),
    # bypassing the pool: correct output, no reuse
    "fresh_buffer_each_time": ([("    buf = get_buffer(pool)\n    try:", "    buf = Buffer(4096)\n    try:")],
                               ("get and put one buffer each",)),
    # put_buffer(None) crashes instead of being ignored like Go's Put(nil)
    "put_none_crashes": ([("if buf is None or len(buf.data) > MAX_POOLED:", "if len(buf.data) > MAX_POOLED:")],
                         ("None",)),
}

# a different correct design: a context manager owns the get/put pair, and render copies the chunks first
ALTERNATIVE = plant(REF, (RENDER_BODY, """    with borrowed(pool) as buf:
        buf.write(b"hello ")
        buf.write(user.encode())
        text = b"".join(buf.parts).decode()
    return text
"""), ("def render(pool, user):", """import contextlib


@contextlib.contextmanager
def borrowed(pool):
    buf = get_buffer(pool)
    try:
        yield buf
    finally:
        put_buffer(pool, buf)


def render(pool, user):"""))


def _checker(src: str, name: str):
    ns = load(src, name)
    return lambda: check.pooled_buffers(ns["get_buffer"], ns["put_buffer"], ns["render"])


@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_solution_is_rejected(name):
    edits, mentions = WRONG[name]
    run = _checker(plant(REF, *edits), name)
    races = {"read_after_put", "alias_read_after_put", "lazy_generator_after_put", "iterator_after_put"}
    assert_rejected(run(), *mentions, runs=5 if name in races else 1, check=run)


@pytest.mark.parametrize("src", [REF, ALTERNATIVE], ids=["model", "context_manager"])
def test_correct_solutions_are_accepted(src):
    assert_accepted(_checker(src, "correct")())
