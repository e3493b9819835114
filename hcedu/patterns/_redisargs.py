"""Client and keyspace plumbing shared by every Redis pattern and lab that takes ``client=`` and ``keyspace=``.

``resolve_keyspace(client, keyspace, default)`` checks the keyspace and resolves the defaults the same way
everywhere: the client given, else the keyspace's client, else :func:`hcedu.backend.connect`; the keyspace
given, else ``Keyspace(default, client)`` (which checks a client it is given). ``client_and_keyspace`` also
refuses a client without ``register_script`` up front, for the patterns that register scripts at once;
:func:`check_keyspace` and :func:`check_client` are those two checks alone, for a pattern that takes just a client
(a lock) or checks its arguments before resolving anything. The key-part check (a non-empty str/int id) is :func:`hcedu._validate.key_part`.
"""

from __future__ import annotations

from typing import Any

import redis

from ..backend import Keyspace, connect


def check_keyspace(keyspace: Keyspace | None) -> Keyspace | None:
    """``keyspace`` if it is None or a :class:`~hcedu.backend.Keyspace`; TypeError naming it otherwise."""
    if keyspace is not None and not isinstance(keyspace, Keyspace):
        raise TypeError(f"keyspace must be a hcedu.backend.Keyspace (got {type(keyspace).__name__})")
    return keyspace


def check_client(name: str, client: Any) -> Any:
    """``client`` if it is a redis-py client (it has ``register_script``); TypeError naming ``name`` otherwise."""
    if not hasattr(client, "register_script"):
        raise TypeError(f"{name} must be a redis-py client (got {type(client).__name__})")
    return client


def resolve_keyspace(client: redis.Redis | None, keyspace: Keyspace | None,
                     default: str) -> tuple[redis.Redis, Keyspace]:
    """Validate ``keyspace`` and resolve ``(client, keyspace)``; TypeError names the bad argument."""
    check_keyspace(keyspace)
    client = client if client is not None else (keyspace.client if keyspace is not None else connect())
    return client, keyspace if keyspace is not None else Keyspace(default, client)


def client_and_keyspace(client: redis.Redis | None, keyspace: Keyspace | None,
                        default: str) -> tuple[redis.Redis, Keyspace]:
    """:func:`resolve_keyspace`, refusing first a ``client`` that is not a redis-py client."""
    check_keyspace(keyspace)
    if client is not None:
        check_client("client", client)
    return resolve_keyspace(client, keyspace, default)
