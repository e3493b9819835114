"""Argument plumbing shared by the chapter-09 Redis patterns (cacheguard, bloom, stock).

``client_and_keyspace(client, keyspace, default)`` checks both arguments and resolves the defaults the same
way everywhere: the client given, else the keyspace's client, else :func:`hcedu.backend.connect`; the keyspace
given, else ``Keyspace(default, client)``. ``key_part(name, value)`` checks a non-empty str/int id.
"""

from __future__ import annotations

from typing import Any

import redis

from ..backend import Keyspace, connect


def client_and_keyspace(client: redis.Redis | None, keyspace: Keyspace | None,
                        default: str) -> tuple[redis.Redis, Keyspace]:
    """Validate and resolve ``(client, keyspace)``; TypeError names the bad argument."""
    if keyspace is not None and not isinstance(keyspace, Keyspace):
        raise TypeError(f"keyspace must be a hcedu.backend.Keyspace (got {type(keyspace).__name__})")
    if client is not None and not hasattr(client, "register_script"):
        raise TypeError(f"client must be a redis-py client (got {type(client).__name__})")
    client = client if client is not None else (keyspace.client if keyspace is not None else connect())
    return client, keyspace if keyspace is not None else Keyspace(default, client)


def key_part(name: str, value: Any) -> str:
    """``value`` as a non-empty str (a str or an int, not a bool); TypeError/ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"{name} must be a str or int (got {type(value).__name__}: {value!r})")
    text = str(value)
    if not text:
        raise ValueError(f"{name} must be a non-empty string")
    return text
