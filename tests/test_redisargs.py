"""Issue 16 item 7: the Redis plumbing lives in one place. ``hcedu.patterns._redisargs`` resolves and checks
``client=``/``keyspace=`` (``resolve_keyspace``, ``client_and_keyspace``, ``check_keyspace``, ``check_client``);
``hcedu._validate.key_part`` checks a key part. No other module in ``hcedu`` writes those checks again."""

from __future__ import annotations

import ast
from pathlib import Path

import fakeredis
import pytest

from hcedu.backend import Keyspace
from hcedu.patterns._redisargs import check_client, check_keyspace, client_and_keyspace, resolve_keyspace

ROOT = Path(__file__).resolve().parents[1]
HOME = {"keyspace": "hcedu/patterns/_redisargs.py", "client": "hcedu/patterns/_redisargs.py",
        "fallback": "hcedu/patterns/_redisargs.py", "key part": "hcedu/_validate.py"}
RULE = {"keyspace": "use _redisargs.check_keyspace / resolve_keyspace",
        "client": "use _redisargs.check_client / client_and_keyspace",
        "fallback": "use _redisargs.resolve_keyspace (client, else keyspace.client, else connect())",
        "key part": "use hcedu._validate.key_part"}

#: Files allowed to inline a check, with the reason. Empty since issue 16 landed.
ALLOWLIST: dict[str, str] = {}

#: Look-alikes that are not the idiom: (path, kind) -> why.
EXEMPT = {
    ("hcedu/patterns/bloom.py", "key part"): "a Bloom item may be bytes or the empty string, which key_part refuses",
    ("hcedu/course/chapters.py", "key part"): "a chapter number ('08' or 8), not a key part",
}


def inlined(source: str) -> list[tuple[int, str]]:
    """(line, kind) of each re-written plumbing check in ``source``: ``isinstance(x, Keyspace)``,
    ``hasattr(x, "register_script")``, ``x.client if x is not None else ...`` and ``isinstance(x, (str, int))``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) == 2:
            what = node.args[1]
            if node.func.id == "isinstance" and isinstance(what, ast.Name) and what.id == "Keyspace":
                found.append((node.lineno, "keyspace"))
            elif (node.func.id == "hasattr" and isinstance(what, ast.Constant)
                  and what.value == "register_script"):
                found.append((node.lineno, "client"))
            elif (node.func.id == "isinstance" and isinstance(what, ast.Tuple)
                  and sorted(getattr(e, "id", "") for e in what.elts) == ["int", "str"]):
                found.append((node.lineno, "key part"))
        elif (isinstance(node, ast.IfExp) and isinstance(node.body, ast.Attribute) and node.body.attr == "client"
              and isinstance(node.test, ast.Compare) and isinstance(node.test.ops[0], ast.IsNot)):
            found.append((node.lineno, "fallback"))
    return sorted(found)


def _scan() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in sorted((ROOT / "hcedu").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for line, kind in inlined(path.read_text()):
            if rel != HOME[kind] and (rel, kind) not in EXEMPT:
                out.setdefault(rel, []).append(f"{rel}:{line}: {kind} check written again -- {RULE[kind]}")
    return out


def test_no_module_rewrites_the_redis_plumbing():
    found = _scan()
    new = [line for rel, lines in found.items() if rel not in ALLOWLIST for line in lines]
    assert not new, "\n".join(new)
    assert not sorted(set(ALLOWLIST) - set(found)), "delete the ALLOWLIST entries of converted files"


def test_the_scan_finds_each_idiom():
    src = ("def f(client, keyspace, key):\n"
           "    if keyspace is not None and not isinstance(keyspace, Keyspace):\n"
           "        raise TypeError('keyspace')\n"
           "    if not hasattr(client, 'register_script'):\n"
           "        raise TypeError('client')\n"
           "    client = client if client is not None else (keyspace.client if keyspace is not None else None)\n"
           "    if isinstance(key, bool) or not isinstance(key, (int, str)):\n"
           "        raise TypeError('key')\n"
           "    # isinstance(keyspace, Keyspace) in a comment does not count\n")
    assert inlined(src) == [(2, "keyspace"), (4, "client"), (6, "fallback"), (7, "key part")]


def test_the_shared_checks_name_the_argument():
    c = fakeredis.FakeRedis(decode_responses=True)
    ks = Keyspace("t-args", c)
    assert check_keyspace(None) is None and check_keyspace(ks) is ks and check_client("client", c) is c
    with pytest.raises(TypeError, match=r"keyspace must be a hcedu.backend.Keyspace \(got str\)"):
        check_keyspace("t-args")
    with pytest.raises(TypeError, match=r"clients\[2\] must be a redis-py client \(got object\)"):
        check_client("clients[2]", object())
    assert resolve_keyspace(None, ks, "d") == (c, ks)
    assert client_and_keyspace(c, None, "d")[1].client is c
    with pytest.raises(TypeError, match="client must be a redis-py client"):
        client_and_keyspace(object(), ks, "d")
